"""Batch scoring throughput: rows per second of one worker (the score step of
function.batch.handler, exactly as the state machine invokes it), reading from and writing to
a moto S3 server on loopback; plus the plan step's parse rate. Writes bench/results/batch.json.

    make bench-batch                         # bundle from MODEL_URI or artifacts/models
    python -m bench.batch --bundle <run dir or runs root> [--rows 2000]
    python -m bench.batch --smoke --bundle <bundle> --output /tmp/b.json   # 8 rows; make test

Without a bundle it uses bench.lambda_runtime's stand-in (trained a few steps at the quick
profile's shape: MiniLM-L6, int8, the profile's max_length, head+tail): meaningless weights, but
the size and sequence length the time follows. The rows are IMDB reviews (median ~980
characters), drawn at random from the embedded copy. The process gets the machine's CPUs
(Settings.threads): compare with Lambda's vCPUs at the function's memory (3538 MB = 2 vCPUs).
The load average is recorded: other work on the machine slows the figure down, never up.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from bench.lambda_runtime import bundle_or_stand_in
from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, write_result
from bench.reviews import imdb_reviews

log = logging.getLogger("bench.batch")
REPO = Path(__file__).resolve().parents[1]
RESULTS = BENCH_RESULTS / "batch.json"
SMOKE_ROWS = 8
BUCKET = "bench-batch"


def review_file(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "text"])
    writer.writerows([i, text] for i, (text, _) in enumerate(imdb_reviews(rows, seed=11)))
    return out.getvalue().encode()


def measure(bundle: Path, rows: int) -> dict[str, Any]:
    """Inside bench.loopback.moto(): this process points at S3 on loopback."""
    import boto3

    os.environ["MODEL_URI"] = str(bundle)
    from function.batch import handler as batch

    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    body = review_file(rows)
    client.put_object(Bucket=BUCKET, Key="batch/in/bench.csv", Body=body)

    start = time.perf_counter()
    plan = batch.handler(
        {
            "step": "plan",
            "input": {"bucket": BUCKET, "key": "batch/in/bench.csv"},
            "rows_per_chunk": rows,
        }
    )
    plan_s = time.perf_counter() - start
    items = json.loads(client.get_object(Bucket=BUCKET, Key=plan["items_key"])["Body"].read())
    start = time.perf_counter()
    predictor = batch._predictor()  # a cold worker's model load, apart from the scoring
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    for item in items:
        batch.handler({"step": "score", "chunk": item})
    score_s = time.perf_counter() - start
    summary = batch.handler({"step": "summarize", "plan": plan})
    assert summary["scored"] == rows, summary
    manifest = predictor.manifest
    return {
        "rows": rows,
        "input_bytes": len(body),
        "plan_s": round(plan_s, 3),
        "plan_rows_per_s": round(rows / plan_s),
        "model_load_s": round(load_s, 3),
        "score_s": round(score_s, 2),
        "rows_per_s": round(rows / score_s, 1),
        "threads": predictor.threads,
        "bundle": {
            "run_id": predictor.version,
            "stand_in": "bench-lambda" in str(bundle),
            "max_length": manifest.encoder_config.max_length,
            "strategy": predictor.classifier.strategy,
            "precision": predictor.precision,
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="a run dir or a runs root (latest.json)")
    parser.add_argument("--rows", type=int, default=2000, help="rows in the file: one chunk")
    parser.add_argument("--output", type=Path, default=RESULTS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    if args.smoke:
        args.rows = SMOKE_ROWS
    bundle = bundle_or_stand_in(args.bundle)
    from bench.loopback import moto

    with moto():
        result = measure(bundle, args.rows)
    result = write_result(args.output, result | {"smoke": args.smoke})
    log.info("%s", json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
