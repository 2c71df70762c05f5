"""make bench-training  (python -m bench.training [--steps 24] [--max-length 512 256] [--skip-quick])
python -m bench.training --smoke --quick-from <runs root> --output /tmp/t.json   # seconds; make test

1. Training throughput, samples/s, side by side in one run on the same reviews, model and
   max_length: this job's batches (dynamic padding, length-grouped sampling) vs the naive recipe
   (every review padded to max_length, random batches).
2. `make run`'s quick profile end to end (train + evaluate + export), wall minutes and held-out
   accuracy of the exported int8 model.
Prints a table and writes bench/results/training.json. `--quick-from` reads an existing run
instead of training the quick profile (the smoke run reads the test suite's tiny run).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.record import RESULTS, add_smoke_flag, check_output, write_result

REPO = Path(__file__).resolve().parents[1]
# --smoke: two optimizer steps on 64 reviews at 32 tokens, per side.
SMOKE = {"steps": 2, "max_length": [32], "pool": 64}
log = logging.getLogger("bench.training")


def throughput(*, naive: bool, steps: int, max_length: int, pool: int, seed: int = 0) -> dict:
    """Samples/s of `steps` optimizer steps, batch 16, on a pool of embedded IMDB reviews."""
    from contract.encoder import EncoderConfig, TextEncoder
    from training.args import DataArguments, JobArguments
    from training.data import load_splits
    from training.finetune import (
        build_trainer,
        encode_dataset,
        load_model,
        resolve_model,
        training_arguments,
    )

    data = DataArguments(
        max_train_samples=pool,
        max_eval_samples=2,
        max_test_samples=2,
        max_length=max_length,
        truncation="head",
    )
    splits = load_splits(data, seed)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(resolve_model("embedded")) / "tokenizer.json"))
    encoder = TextEncoder(tokenizer, EncoderConfig(max_length=max_length, truncation="head"))
    train = encode_dataset(encoder, splits.train["text"].tolist(), splits.train["label"].tolist())
    job = JobArguments(
        max_steps=steps, group_by_length=not naive, progress=False, logging_steps=10_000, seed=seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        args = training_arguments(job, tmp, evaluate=False, save=False)
        model = load_model("embedded", ["negative", "positive"])
        trainer = build_trainer(
            model, args, encoder, train, None, pad_to=max_length if naive else None
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    samples = steps * job.per_device_train_batch_size
    lengths = sorted(train["length"])
    return {
        "samples_per_second": samples / seconds,
        "seconds": seconds,
        "samples": samples,
        "median_tokens": lengths[len(lengths) // 2],
    }


def quick_profile(models: Path, work: Path) -> dict:
    """`make run`'s training command, timed as a user would time it (a fresh process). It
    publishes to `models` like `make run`, so `make bench-serving` then serves this model."""
    cmd = [sys.executable, "-m", "training", "--profile", "quick", "--output", str(models),
           "--output_dir", str(work), "--overwrite", "--progress", "false"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return quick_summary(models, minutes=(time.perf_counter() - start) / 60)


def quick_summary(models: Path, minutes: float | None) -> dict:
    """What the quick profile's run recorded (the served model, the plan, the baseline)."""
    from contract.storage import resolve_local

    bundle = resolve_local(models)
    metrics = json.loads((bundle / "metrics.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    served = metrics["served"]["metrics"]
    return {
        "quick_minutes": minutes,
        "quick_precision": metrics["served"]["precision"],
        "quick_accuracy": served["accuracy"],
        "quick_accuracy_torch": metrics["torch"]["accuracy"],
        "quick_f1": served["f1"],
        "quick_time_budget": metrics.get("time_budget"),
        "quick_baseline_tfidf_accuracy": metrics.get("baseline_tfidf", {}).get("accuracy"),
        "quick_knobs": {
            k: manifest["training_args"].get(k)
            for k in (
                "learning_rate",
                "num_train_epochs",
                "warmup_ratio",
                "per_device_train_batch_size",
            )
        }
        | {k: manifest["data"]["sizes"].get(k) for k in ("train", "test")}
        | manifest["encoder"],
    }


def main(argv: list[str] | None = None) -> int:
    from training.args import DataArguments

    recipe_length = DataArguments().max_length
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument(
        "--max-length", type=int, nargs="+", default=[recipe_length, 256],
        help="one comparison per length; throughput_ratio is the first (the recipe's)",
    )  # fmt: skip
    parser.add_argument("--pool", type=int, default=2000, help="reviews the batches are drawn from")
    parser.add_argument("--skip-quick", action="store_true", help="only the throughput part")
    parser.add_argument("--quick-from", type=Path,
                        help="a runs root to read the quick-profile figures from, untrained")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS / "training.json")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    if args.smoke:
        args.steps, args.max_length, args.pool = SMOKE["steps"], SMOKE["max_length"], SMOKE["pool"]
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    by_length = {}
    rows = []
    # One untimed run first: the first training in a process pays one-time costs (allocator,
    # kernels, page cache) that would otherwise land on whichever side runs first.
    if not args.smoke:
        throughput(naive=True, steps=2, max_length=args.max_length[0], pool=args.pool)
    for length in args.max_length:
        naive = throughput(naive=True, steps=args.steps, max_length=length, pool=args.pool)
        ours = throughput(naive=False, steps=args.steps, max_length=length, pool=args.pool)
        ratio = ours["samples_per_second"] / naive["samples_per_second"]
        by_length[str(length)] = {
            "naive_samples_per_second": naive["samples_per_second"],
            "ours_samples_per_second": ours["samples_per_second"],
            "throughput_ratio": ratio,
            "median_tokens": ours["median_tokens"],
        }
        rows += [
            (
                f"max_length {length}: naive (pad to max_length, random)",
                naive["samples_per_second"],
            ),
            (f"max_length {length}: ours (dynamic padding, grouped)", ours["samples_per_second"]),
            (f"max_length {length}: ratio ours / naive", ratio),
        ]
    first = by_length[str(args.max_length[0])]
    result = {
        "max_length": args.max_length[0],
        "steps": args.steps,
        "batch_size": 16,
        "cpus": len(os.sched_getaffinity(0)),
        **first,
        "by_max_length": by_length,
    }
    if args.quick_from:
        result |= quick_summary(args.quick_from, minutes=None)
    elif not args.skip_quick:
        result |= quick_profile(REPO / "artifacts" / "models", REPO / "runs" / "bench-quick")
    result["smoke"] = args.smoke
    if result.get("quick_minutes") is not None:
        rows.append(("quick profile: train+eval+export minutes", result["quick_minutes"]))
    if "quick_accuracy" in result:
        name = f"quick profile: held-out accuracy ({result['quick_precision']})"
        rows.append((name, result["quick_accuracy"]))
    width = max(len(r[0]) for r in rows)
    lines = [
        f"training benchmark (samples/s, batch 16, {args.steps} steps), {result['cpus']} CPUs",
        *(f"  {name:<{width}}  {value:8.3f}" for name, value in rows),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
