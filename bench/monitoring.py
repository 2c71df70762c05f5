"""Monitoring proven end to end on loopback: drift on stable and shifted traffic, a shadowed
identical and degraded candidate, and what the new metrics cost the function.

    make bench-monitoring                        # the make-run bundle (MODEL_URI, artifacts/models)
    python -m bench.monitoring --bundle <run dir or runs root> [--requests 600]
    python -m bench.monitoring --smoke --bundle <bundle> --output <file>   # what make test runs

Every part is the shipped code at a real boundary: the live function is the Lambda handler in a
fresh process whose JSON log lines (stdout, as in Lambda) carry the embedded metrics, turned into
PutMetricData on moto's CloudWatch the way CloudWatch reads them (bench/cloudwatch_emf.py); the
drift check and the shadow receivers run under the Lambda Runtime Interface Emulator with their
image CMDs; the live function copies requests to a receiver with boto3's Lambda Invoke; `python -m
infra.release compare` and `promote` read the comparison from CloudWatch and the runs from S3.

Traffic: stable = IMDB reviews (the training domain), shifted = Rotten Tomatoes snippets (another
domain, ~110 characters). Bundles: the given one (+ a reference profile if it has none), an
identical copy under another run id, and a degraded copy (classifier bias shifted toward the
label the model predicts least). Writes bench/results/monitoring.json (machine, commit, load) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import monitoring_parts as parts
from bench.machine import commit, machine_facts
from bench.reviews import reviews_csv
from bench.run import loadavg

log = logging.getLogger("bench.monitoring")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "monitoring.json"
FULL = {"requests": 600, "reference": 1000, "cold_starts": 5, "warm": 40, "batch": 1}
# Smoke: every side runs on a handful of requests (batches of 8 texts), no figure is meant.
SMOKE = {"requests": 16, "reference": 120, "cold_starts": 1, "warm": 10, "batch": 8}


def traffic(n: int, batch: int, reference: int, seed: int) -> dict[str, Any]:
    """Requests of `batch` texts: n stable (IMDB), n shifted (Rotten Tomatoes); and `reference`
    other IMDB reviews for a bundle that carries no reference profile."""
    import csv
    import random

    by_source: dict[str, list[str]] = {"imdb": [], "rotten_tomatoes": []}
    with reviews_csv().open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_source[row["source"]].append(row["text"])
    rng = random.Random(seed)
    imdb = rng.sample(by_source["imdb"], n * batch + reference)
    short = rng.sample(by_source["rotten_tomatoes"], n * batch)

    def chunks(texts: list[str]) -> list[list[str]]:
        return [texts[i : i + batch] for i in range(0, len(texts), batch)]

    return {
        "reference": imdb[n * batch :],
        "stable": chunks(imdb[: n * batch]),
        "shifted": chunks(short),
    }


def summarize(result: dict[str, Any], threshold: float, min_agreement: float) -> dict[str, Any]:
    drift = result["drift"]
    stable, shifted = drift["stable"].get("largest"), drift["shifted"].get("largest")
    shadow = result["shadow"]
    return {
        "stable_below_threshold": bool(stable) and stable["psi"] < threshold,
        "shifted_above_threshold": bool(shifted) and shifted["psi"] > threshold,
        "identical_agrees_99": (shadow["identical"]["report"]["agreement"] or 0) >= 0.99,
        "degraded_below_min_agreement": (shadow["degraded"]["report"]["agreement"] or 1)
        < min_agreement,
        "promote_refuses_degraded": shadow["degraded"]["promote_exit"] == 2,
        "promote_accepts_identical": shadow["identical"]["promote_exit"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="run dir or runs root (default MODEL_URI)")
    parser.add_argument("--smoke", action="store_true", help="a few requests: every side runs")
    parser.add_argument("--requests", type=int, help="requests per traffic (default 600)")
    parser.add_argument(
        "--degrade",
        type=float,
        default=2.0,
        help="added to the degraded copy's bias of the label the model predicts least",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    sizes = dict(SMOKE if args.smoke else FULL)
    if args.requests:
        sizes["requests"] = args.requests
    bundle = parts.resolve_bundle(args.bundle)
    load_before = loadavg()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        texts = traffic(sizes["requests"], sizes["batch"], sizes["reference"], seed=24)
        result = parts.run_all(bundle, Path(tmp), texts, sizes, args.degrade, smoke=args.smoke)
    from infra.config import ServiceConfig

    defaults = ServiceConfig()
    result["expectations"] = summarize(
        result, defaults.drift_psi_threshold, defaults.shadow_min_agreement
    )
    result["thresholds"] = {
        "drift_psi": defaults.drift_psi_threshold,
        "shadow_min_agreement": defaults.shadow_min_agreement,
    }
    result["mode"] = "smoke" if args.smoke else "full"
    result["sizes"] = sizes
    result["machine"] = machine_facts()
    result["commit"] = commit()
    result["load_avg"] = {"before": load_before, "after": loadavg()}
    result["seconds"] = round(time.time() - started, 1)
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    costs = result["cost"]
    log.info(
        "drift: stable %s, shifted %s",
        result["drift"]["stable"].get("largest"),
        result["drift"]["shifted"].get("largest"),
    )
    log.info(
        "shadow agreement: identical %s, degraded %s; promote exit %s / %s",
        result["shadow"]["identical"]["report"]["agreement"],
        result["shadow"]["degraded"]["report"]["agreement"],
        result["shadow"]["identical"]["promote_exit"],
        result["shadow"]["degraded"]["promote_exit"],
    )
    log.info(
        "metrics on/off: cold start x%.3f, warm p50 x%.3f; shadow on/off warm p50 x%.3f",
        costs["cold_start_ratio"],
        costs["warm_p50_ratio"],
        result["shadow"]["live_p50_ratio"],
    )
    log.info(
        "expectations %s; wrote %s (load %s)",
        result["expectations"],
        args.output,
        statistics.mean(result["load_avg"]["after"]),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
