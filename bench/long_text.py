"""Latency of one long review (~2,000 tokens) under each long-text strategy, through the
predictor the function serves with (tokenizing, windows, ONNX Runtime, combination, temperature).

    python -m bench.serving --long-text-only   # this part alone, into bench/results/serving.json

The review is real IMDB text: reviews joined until the bundle's tokenizer counts TARGET_TOKENS
(IMDB's longest run to ~3,000). One-window strategies (head+tail, head, tail) read max_length
tokens of it; chunks reads all of it in overlapping windows, so it costs about that many times
one window.
"""

from __future__ import annotations

import bisect
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.reviews import imdb_reviews
from contract.bundle import verify_bundle
from contract.encoder import STRATEGIES, TextEncoder
from contract.predictor import available_cpus

log = logging.getLogger("bench.long_text")
TARGET_TOKENS = 2000
WARMUP = 3
REPEATS = 30


def long_review(encoder: TextEncoder, target: int = TARGET_TOKENS, seed: int = 7) -> str:
    """Whole IMDB reviews joined, then cut at the word where the token count reaches `target`."""
    joined = ""
    for text, _ in imdb_reviews(200, seed=seed):
        joined = f"{joined}\n\n{text}" if joined else text
        if encoder.encode(joined).num_tokens >= target:
            break
    words = joined.split(" ")

    class Count:  # the token count of the first k words, for bisect (monotone in k)
        def __getitem__(self, k: int) -> int:
            return encoder.encode(" ".join(words[:k])).num_tokens

        def __len__(self) -> int:
            return len(words) + 1

    return " ".join(words[: bisect.bisect_left(Count(), target)])


def measure(bundle: Path, repeats: int = REPEATS) -> dict[str, Any]:
    from function.loader import Predictor

    load_before = os.getloadavg()[0]  # a busy neighbour slows every figure alike: say how busy
    manifest = verify_bundle(bundle, serving_only=True)
    predictor = Predictor(bundle, manifest, threads=available_cpus())
    text = long_review(predictor.classifier.encoder)
    out: dict[str, Any] = {}
    for strategy in STRATEGIES:
        for _ in range(min(WARMUP, repeats)):
            predictor.run([text], strategy)
        times, output = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            output = predictor.run([text], strategy)
            times.append((time.perf_counter() - start) * 1e3)
        assert output is not None
        reading = output.readings[0]
        times.sort()
        out[strategy] = {
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[max(0, int(0.95 * len(times)) - 1)], 2),
            "windows": len(reading.windows),
            "num_tokens": reading.num_tokens,
        }
        log.info("%-9s %2d window(s): p50 %.1f ms", strategy, len(reading.windows),
                 out[strategy]["p50_ms"])  # fmt: skip
    return {
        "review_tokens": predictor.classifier.encoder.encode(text).num_tokens,
        "max_length": manifest.encoder["max_length"],
        "chunk_combine": predictor.classifier.combine,
        "repeats": repeats,
        "threads": available_cpus(),
        "run_id": manifest.run_id,
        "precision": manifest.precision,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": len(os.sched_getaffinity(0)),
        "by_strategy": out,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"one {result['review_tokens']:,}-token review (max_length {result['max_length']}, "
             f"{result['precision']}, {result['threads']} threads, p50 of {result['repeats']}, "
             f"load average {result['load_average_1min']} on {result['cpus']} CPUs):"]  # fmt: skip
    for strategy, r in result["by_strategy"].items():
        lines.append(f"  {strategy:10}{r['windows']:>3} window(s) {r['p50_ms']:>9.1f} ms p50 "
                     f"{r['p95_ms']:>9.1f} ms p95")  # fmt: skip
    return "\n".join(lines)
