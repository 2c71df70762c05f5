"""Cold start and warm latency under the real Lambda runtime, without Docker: the task root that
function/Dockerfile builds (same script), Python 3.12, awslambdaric, the Runtime Interface
Emulator, and the bundle fetched from an s3:// MODEL_URI on a moto server on loopback.

    make bench-lambda                                  # bundle from MODEL_URI or artifacts/models
    python -m bench.lambda_runtime --bundle <run dir or runs root> [--cold-starts 5 --invokes 100]
    python -m bench.lambda_runtime --smoke --bundle <bundle> --output /tmp/l.json  # make test

Init duration is the emulator's `INIT REPORT` (import of the handler module: settings, S3 fetch
and sha256 check of the bundle, ONNX Runtime session, app); each cold start gets an empty model
cache, as a new Lambda environment has an empty /tmp. Warm durations are the `REPORT` lines of
API Gateway v2 predict invocations carrying one median-length IMDB review, beside the same
handler called in-process right after (on a busy machine, the ratio is what holds). Without a
bundle, a stand-in is trained for a few steps at the quick profile's shape (MiniLM-L6, the
profile's max_length): its weights are meaningless; its size and sequence length are what the
timings follow.

Updates the "emulator" key of bench/results/lambda.json and keeps every other key.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.lambda_emulator import (
    CACHE,
    RUNTIME_PACKAGES,
    SAM_CLI,
    Emulator,
    assemble_task_root,
    find_python,
    find_rie,
    install_runtime,
)
from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, write_result
from bench.reviews import median_review
from function.image.assemble import default_arch, tree_bytes

log = logging.getLogger("bench.lambda_runtime")
REPO = Path(__file__).resolve().parents[1]
RESULTS = BENCH_RESULTS / "lambda.json"
SMOKE = {"cold_starts": 1, "invokes": 2}
STAND_IN = CACHE / "bench-lambda" / "models"
BUCKET = "bench-lambda"
STAND_IN_ARGS = [
    "--profile",
    "quick",
    "--max_steps",
    "4",
    "--max_train_samples",
    "32",
    "--max_eval_samples",
    "16",
    "--max_test_samples",
    "32",
    "--baseline",
    "false",
    "--save_hf_checkpoint",
    "false",
    "--max_agreement_loss",
    "0.5",
    "--max_accuracy_drop",
    "0.5",
    "--progress",
    "false",
]


def bundle_or_stand_in(given: Path | None) -> Path:
    from contract.storage import resolve_local

    candidate = given or Path(os.environ.get("MODEL_URI", "artifacts/models"))
    if (resolve_local(candidate) / "manifest.json").is_file():
        return resolve_local(candidate)
    if given is not None:
        raise SystemExit(f"{given} is not a bundle dir or a runs root with latest.json")
    if not (STAND_IN / "latest.json").is_file():
        log.info("no bundle at %s: training a stand-in into %s", candidate, STAND_IN)
        command = [sys.executable, "-m", "training", *STAND_IN_ARGS, "--output", str(STAND_IN)]
        command += ["--output_dir", str(STAND_IN.parent / "work"), "--overwrite"]
        subprocess.run(command, check=True)
    return resolve_local(STAND_IN)


def predict_event(text: str) -> dict[str, Any]:
    event = json.loads((REPO / "events" / "apigw-v2-predict.json").read_text())
    return {**event, "body": json.dumps({"text": text}), "isBase64Encoded": False}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(args: argparse.Namespace, bundle: Path, work: Path) -> dict[str, Any]:
    import boto3

    from bench.loopback import CREDS, moto
    from contract.bundle import read_manifest
    from contract.storage import publish_bundle

    python, rie = find_python("3.12"), find_rie()
    task_root, runtime = args.task_root, args.runtime_dir
    if task_root is None:
        log.info("assembling the task root for %s with %s", default_arch(), python)
        task_root = assemble_task_root(work / "task", python)
    if runtime is None:
        runtime = install_runtime(work / "runtime")
    manifest = read_manifest(bundle)

    creds = {k: CREDS[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    with moto() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        client.create_bucket(Bucket=BUCKET)
        publish_bundle(
            bundle, f"s3://{BUCKET}/models", manifest.run_id, update_latest=True, client=client
        )
        event = predict_event(median_review())
        inits, loads, first, warm, roundtrip = [], [], [], [], []
        for i in range(args.cold_starts):
            env = {
                **creds,
                "MODEL_URI": f"s3://{BUCKET}/models/latest.json",
                "MODEL_CACHE_DIR": str(work / f"model-cache-{i}"),  # empty: a new environment
                "AWS_ENDPOINT_URL_S3": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "LOG_LEVEL": "INFO",  # the "model loaded" line carries the bundle's share
            }
            with Emulator(rie, python, task_root, runtime, env) as emu:
                status, payload = emu.invoke(event)
                if status != 200 or payload.get("statusCode") != 200:
                    raise RuntimeError(f"the first invoke failed: {payload}\n{emu.log()[-3000:]}")
                if emu.init_ms is None:
                    raise RuntimeError(f"no INIT REPORT line from the emulator:\n{emu.log()}")
                inits.append(emu.init_ms)
                first.append(emu.reports[-1].duration_ms)
                loads.append(model_load_ms(emu.lines))
                last = i == args.cold_starts - 1
                for _ in range(args.invokes if last else 0):
                    start = time.perf_counter()
                    status, payload = emu.invoke(event)
                    roundtrip.append((time.perf_counter() - start) * 1e3)
                    assert payload.get("statusCode") == 200, payload
                    warm.append(emu.reports[-1].duration_ms)
            log.info(
                "cold start %d: init %.0f ms, first invoke %.0f ms", i + 1, inits[-1], first[-1]
            )
        reference = in_process_warm_ms(bundle, args.invokes, work)
        load = round(os.getloadavg()[0], 2)  # over the last minute: the measurement's

    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "init_ms": round(statistics.median(inits), 1),
        "init_ms_each": [round(v, 1) for v in inits],
        # Of the init: fetch from S3, sha256 of every file, ONNX Runtime session (on a thread,
        # beside the web stack's imports).
        "model_load_ms_each": loads,
        "first_invoke_ms_each": [round(v, 1) for v in first],
        "warm_invoke_ms_p50": round(statistics.median(warm), 2),
        "warm_invoke_ms_p95": round(percentile(warm, 0.95), 2),
        "warm_invoke_ms_each": [round(v, 2) for v in warm],
        "warm_roundtrip_ms_p50": round(statistics.median(roundtrip), 2),
        "in_process_warm_ms_p50": round(statistics.median(reference), 2),
        "in_process": f"the handler called in Python {platform.python_version()}, same review, "
        "right after: the machine's speed at the time",
        "python": version,
        "arch": default_arch(),
        "task_root_mb": round(tree_bytes(task_root) / 1e6, 1),
        "bundle": {
            "run_id": manifest.run_id,
            "max_length": manifest.encoder.get("max_length"),
            "served_mb": round(sum(e["size"] for e in manifest.served_files().values()) / 1e6, 1),
            "stand_in": bundle.is_relative_to(STAND_IN),
        },
        "input": "one median-length IMDB review per API Gateway v2 /predict invocation",
        "runtime": f"aws-lambda-rie from {SAM_CLI}, {', '.join(RUNTIME_PACKAGES)}",
        # Other work on the machine inflates every figure: the load says how much there was.
        "load_avg_1m": load,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# The same handler in this process's Python and packages, on the same review, right after the
# emulator's invokes: the machine's speed at that moment, so the emulator's share can be read off
# on a busy machine too.
IN_PROCESS = """
import json, sys, time
from types import SimpleNamespace
from bench.lambda_runtime import predict_event
from bench.reviews import median_review
from function.handler import handler
event, ctx = predict_event(median_review()), SimpleNamespace(aws_request_id="ref")
times = []
for _ in range(int(sys.argv[1]) + 3):
    start = time.perf_counter()
    assert handler(event, ctx)["statusCode"] == 200
    times.append((time.perf_counter() - start) * 1e3)
print(json.dumps(times[3:]))
"""


def in_process_warm_ms(bundle: Path, invokes: int, work: Path) -> list[float]:
    env = {**os.environ, "MODEL_URI": str(bundle), "LOG_LEVEL": "WARNING"}
    env["MODEL_CACHE_DIR"] = str(work / "model-cache-ref")
    run = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, str(invokes)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def model_load_ms(lines: list[str]) -> float | None:
    """The function's own "model loaded" log line (JSON) says how long the bundle took."""
    for line in lines:
        if line.startswith("{") and '"model loaded"' in line:
            return json.loads(line).get("load_ms")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="run dir or runs root (default MODEL_URI)")
    parser.add_argument("--cold-starts", type=int, default=5, help="fresh environments")
    parser.add_argument("--invokes", type=int, default=100, help="warm invokes on the last one")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--task-root",
        type=Path,
        help="an assembled task root to reuse (function/image/assemble.py; default: assemble one)",
    )
    parser.add_argument(
        "--runtime-dir",
        type=Path,
        help="awslambdaric and boto3 installed for "
        "the image's Python, to reuse (default: install them)",
    )
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    if args.smoke:
        args.cold_starts, args.invokes = SMOKE["cold_starts"], SMOKE["invokes"]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    bundle = bundle_or_stand_in(args.bundle)
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as tmp:
        result = measure(args, bundle, Path(tmp))
    result = write_result(args.output, result | {"smoke": args.smoke}, key="emulator")
    log.info(
        "init %.0f ms (median of %d), warm invoke p50 %.1f ms, p95 %.1f ms; wrote %s",
        result["init_ms"],
        len(result["init_ms_each"]),
        result["warm_invoke_ms_p50"],
        result["warm_invoke_ms_p95"],
        args.output,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
