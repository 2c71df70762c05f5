"""make bench-training  (python -m bench.training [--steps 24] [--max-length 256] [--skip-quick])

1. Training throughput, samples/s, side by side in one run on the same reviews, model and
   max_length: this job's batches (dynamic padding, length-grouped sampling) vs the naive recipe
   (every review padded to max_length, random batches).
2. `make run`'s quick profile end to end (train + evaluate + export), wall minutes and held-out
   accuracy of the exported int8 model.
Prints a table and writes bench/results/training.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
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


def quick_profile(work: Path) -> dict:
    """`make run`'s training command, timed as a user would time it (a fresh process)."""
    cmd = [
        sys.executable,
        "-m",
        "training",
        "--profile",
        "quick",
        "--output",
        str(work / "models"),
        "--output_dir",
        str(work / "run"),
        "--progress",
        "false",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    minutes = (time.perf_counter() - start) / 60
    from contract.storage import resolve_local

    bundle = resolve_local(work / "models")
    metrics = json.loads((bundle / "metrics.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {
        "quick_minutes": minutes,
        "quick_accuracy": metrics["onnx_int8"]["accuracy"],
        "quick_accuracy_torch": metrics["torch"]["accuracy"],
        "quick_f1": metrics["onnx_int8"]["f1"],
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--pool", type=int, default=2000, help="reviews the batches are drawn from")
    parser.add_argument("--skip-quick", action="store_true", help="only the throughput part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    naive = throughput(naive=True, steps=args.steps, max_length=args.max_length, pool=args.pool)
    ours = throughput(naive=False, steps=args.steps, max_length=args.max_length, pool=args.pool)
    result = {
        "max_length": args.max_length,
        "steps": args.steps,
        "batch_size": 16,
        "cpus": len(os.sched_getaffinity(0)),
        "naive_samples_per_second": naive["samples_per_second"],
        "ours_samples_per_second": ours["samples_per_second"],
        "throughput_ratio": ours["samples_per_second"] / naive["samples_per_second"],
        "median_tokens": ours["median_tokens"],
    }
    if not args.skip_quick:
        work = Path(tempfile.mkdtemp(prefix="bench-quick-"))
        try:
            result |= quick_profile(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("naive (pad to max_length, random batches)", f"{naive['samples_per_second']:.2f}"),
        ("ours (dynamic padding, length-grouped)", f"{ours['samples_per_second']:.2f}"),
        ("throughput ratio (ours / naive)", f"{result['throughput_ratio']:.2f}x"),
    ]
    if "quick_minutes" in result:
        rows += [
            ("quick profile: train+eval+export minutes", f"{result['quick_minutes']:.2f}"),
            ("quick profile: held-out accuracy (int8)", f"{result['quick_accuracy']:.4f}"),
        ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"training benchmark, max_length {args.max_length}, {result['cpus']} CPUs",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
