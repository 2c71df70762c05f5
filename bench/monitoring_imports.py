"""What the monitoring choices cost a cold start before the function does anything: fresh
processes that import the serving stack (the README's import floor: FastAPI, Mangum,
pydantic-settings, ONNX Runtime, tokenizers) and then one candidate: our modules (EMF fields,
the UDP span emitter, the profile buckets), Powertools for AWS Lambda's Logger + Metrics, its
Tracer (as in Lambda: LAMBDA_TASK_ROOT set, so it imports aws-xray-sdk and patches), or
aws-xray-sdk's recorder alone. `repeats` spawns each, interleaved; each child times the candidate
itself after the floor's imports (median and minimum reported): what it would add to every cold
start, measured where process-start noise does not reach. Powertools and the X-Ray SDK are installed
for this measurement only, into .cache (no dependency of the project).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / ".cache" / "bench-monitoring" / "site"
PACKAGES = ("aws-lambda-powertools==3.37.0", "aws-xray-sdk==2.15.0", "wrapt")
FLOOR = "import fastapi, mangum, onnxruntime, pydantic_settings, tokenizers"
CANDIDATES = {
    "floor": "",
    "ours (function.emf, function.tracing, contract.profile)":
        "import function.emf, function.tracing, contract.profile",
    "powertools Logger + Metrics":
        "from aws_lambda_powertools import Logger, Metrics; Logger(); Metrics(namespace='b')",
    "powertools Tracer": "from aws_lambda_powertools import Tracer; Tracer(service='b')",
    "aws-xray-sdk recorder": "from aws_xray_sdk.core import xray_recorder",
}  # fmt: skip


def install() -> None:
    if (SITE / "aws_lambda_powertools").is_dir() and (SITE / "aws_xray_sdk").is_dir():
        return
    # --no-deps: their dependencies (botocore, jmespath, typing-extensions) are in .venv already.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(SITE), *PACKAGES], check=True)  # fmt: skip


def spawn(code: str, work: Path) -> tuple[float, float]:
    """(spawn to done, the candidate's own time after the floor's imports): the second is
    timed inside the child, so the machine's noise on process start does not swamp it."""
    env = {**os.environ, "PYTHONPATH": f"{SITE}{os.pathsep}{REPO}", "LAMBDA_TASK_ROOT": str(work),
           "POWERTOOLS_SERVICE_NAME": "bench"}  # fmt: skip
    script = (f"import time, sys; {FLOOR}\nt = time.perf_counter()\n{code}\n"
              "print(time.time() - float(sys.argv[1]), time.perf_counter() - t)")  # fmt: skip
    start = time.time()
    out = subprocess.run([sys.executable, "-c", script, repr(start)], capture_output=True,
                         text=True, check=True, env=env, cwd=work)  # fmt: skip
    total, own = out.stdout.strip().splitlines()[-1].split()
    return float(total), float(own)


def measure(work: Path, repeats: int) -> dict[str, Any]:
    install()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in CANDIDATES}
    for _ in range(repeats):
        for name, code in CANDIDATES.items():
            runs[name].append(spawn(code, work))
    return {
        "process_median_s": {k: round(statistics.median(t for t, _ in v), 3)
                             for k, v in runs.items()},
        "added_median_s": {k: round(statistics.median(o for _, o in v), 3)
                           for k, v in runs.items() if k != "floor"},
        "added_min_s": {k: round(min(o for _, o in v), 3) for k, v in runs.items() if k != "floor"},
        "repeats": repeats, "python": sys.version.split()[0],
    }  # fmt: skip
