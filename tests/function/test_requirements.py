"""The image's requirements are complete and torch-free: function/requirements.txt installed
(--no-deps, as the Dockerfile does) into an empty directory, and the handler invoked from a fresh
interpreter that sees only that directory and the function's code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "function" / "requirements.txt"
HEAVY = ("torch", "transformers", "huggingface_hub", "boto3", "botocore")

PROBE = """
import json, sys
from types import SimpleNamespace
from function.handler import handler
event = json.load(open(sys.argv[1]))
ctx = SimpleNamespace(aws_request_id="req-isolated", function_name="f")
response = handler(event, ctx)
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
print("RESULT " + json.dumps({"status": response["statusCode"], "body": response["body"],
      "heavy": heavy, "path": sys.path}))
"""


def test_requirements_pin_no_heavy_package() -> None:
    names = {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not names & {"torch", "transformers", "huggingface-hub", "accelerate"}
    assert {"onnxruntime", "tokenizers", "fastapi", "mangum", "pydantic-settings"} <= names


def test_handler_runs_with_only_the_requirements(tiny_bundle: Path, tmp_path: Path) -> None:
    target, code = tmp_path / "deps", tmp_path / "code"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "-r",
            str(REQUIREMENTS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0 and "No matching distribution" in pip.stderr:
        skip_or_fail(f"a pinned wheel is not available here: {pip.stderr[-500:]}")
    assert pip.returncode == 0, pip.stderr
    for package in ("contract", "function"):
        shutil.copytree(
            REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    event = REPO / "events" / "apigw-v2-predict.json"
    # -S: no site-packages (this virtualenv's included); -s: no user site. Only PYTHONPATH.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{target}{os.pathsep}{code}",
        "MODEL_URI": str(tiny_bundle),
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-S", "-s", "-c", PROBE, str(event), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:] + run.stdout[-2000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert not [p for p in result["path"] if "site-packages" in p]
    assert result["heavy"] == []
    assert result["status"] == 200, result["body"]
    assert json.loads(result["body"])["predictions"]
