"""Each way of reading a long review, measured on the held-out test split with the exported ONNX
model, by length bucket; and the pick serving reads with unless a request says otherwise.

Strategies (contract/encoder.py): head+tail (as trained), head, tail, and chunks (overlapping
windows over the whole text) combined by the mean of logits or by the most confident window.
Lengths are the tokenizer's count of the whole text (no truncation, special tokens excluded).

Kept cheap, because it runs inside `make run`'s time budget. A review that fits the window is
read identically by every strategy: its prediction is the served model's on the test split
(already computed for the parity gate), and a seeded sample of SHORT_TIMED of them is timed.
Reviews longer than the window run once per strategy, both chunk rules sharing one run of the
windows: all of them, or a seeded sample of --long_text_eval_samples (the counts are reported).
Each timed review runs alone, as a one-review request is served: latency is the model time per
review (windows built from token ids, ONNX run, combination; tokenizing, the same for every
strategy, excluded).

The pick: the most accurate candidate replaces the trained truncation only when it is better
with evidence (McNemar's exact one-sided test on the paired test predictions, p < PICK_ALPHA);
a difference the test split cannot tell from chance keeps the cheaper, as-trained reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from contract.encoder import TextEncoder
from contract.predictor import OnnxClassifier, combine_windows
from training.stats import discordant, mcnemar_p

log = logging.getLogger(__name__)

# (name, lowest, highest) in whole-text tokens: the buckets around BERT's 512 window.
BUCKETS = (("<=512", 0, 512), ("513-1024", 513, 1024), (">1024", 1025, None))
# Candidates as (strategy, combine); the combine rule matters only for chunks.
CANDIDATES = (
    ("head+tail", "mean"),
    ("head", "mean"),
    ("tail", "mean"),
    ("chunks", "mean"),
    ("chunks", "max"),
)
PICK_ALPHA = 0.05
# Reviews within the window timed for the latency of the short end (their accuracy is free).
SHORT_TIMED = 50


def candidate_name(strategy: str, combine: str) -> str:
    return f"chunks/{combine}" if strategy == "chunks" else strategy


def bucket_of(num_tokens: int) -> str:
    for name, low, high in BUCKETS:
        if num_tokens >= low and (high is None or num_tokens <= high):
            return name
    raise AssertionError(num_tokens)


def sample(lengths: np.ndarray, budget: int, max_long: int | None, seed: int = 0) -> np.ndarray:
    """Which test reviews run: SHORT_TIMED within the window, and the longer ones (at most
    `max_long`), each a seeded random subset in split order."""
    rng = np.random.default_rng(seed)
    short, long = np.flatnonzero(lengths <= budget), np.flatnonzero(lengths > budget)
    if len(short) > SHORT_TIMED:
        short = rng.choice(short, SHORT_TIMED, replace=False)
    if max_long is not None and len(long) > max_long:
        long = rng.choice(long, max_long, replace=False)
    return np.sort(np.concatenate([short, long]))


def planned_tokens(encoder: TextEncoder, texts: Sequence[str], max_long: int | None) -> int:
    """Model tokens `evaluate_long_text` will run on these texts, for the time budget's plan."""
    lengths = np.array(
        [len(e.ids) for e in encoder.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    )
    total, length = 0, encoder.config.max_length
    for n in lengths[sample(lengths, encoder.budget, max_long)]:
        if n <= encoder.budget:
            total += n + length - encoder.budget
        else:  # head+tail, head, tail, then every chunk window
            total += (3 + encoder.windows_needed(int(n), "chunks")) * length
    return int(total)


def _time_one(classifier: OnnxClassifier, windows: list[list[int]]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    logits = classifier.logits(windows)
    return logits, (time.perf_counter() - start) * 1e3


def evaluate_long_text(
    classifier: OnnxClassifier,
    texts: list[str],
    labels: np.ndarray,
    served_probs: np.ndarray,
    max_long: int | None = None,
) -> dict[str, Any]:
    """Accuracy and latency per review, per candidate, overall and per bucket; and the pick.
    `served_probs`: the served model's test probabilities (as trained, one window each)."""
    encoder = classifier.encoder
    contents = [e.ids for e in encoder.tokenizer.encode_batch(texts, add_special_tokens=False)]
    lengths = np.array([len(c) for c in contents])
    is_long = lengths > encoder.budget
    runs = sample(lengths, encoder.budget, max_long)
    names = [candidate_name(s, c) for s, c in CANDIDATES]
    # Within the window every strategy reads the same ids: the served predictions stand for all.
    preds = {name: served_probs.argmax(axis=1).astype(np.int64) for name in names}
    latency = {name: np.full(len(texts), np.nan) for name in names}
    windows_used = {name: np.ones(len(texts), dtype=np.int64) for name in names}
    _time_one(classifier, [encoder.read(contents[0], "head+tail").windows[0]])  # warm-up
    started = time.perf_counter()
    for i in runs:
        content = contents[i]
        if not is_long[i]:
            _, ms = _time_one(classifier, encoder.read(content, "head+tail").windows)
            for name in names:
                latency[name][i] = ms
            continue
        for strategy in ("head+tail", "head", "tail"):
            logits, ms = _time_one(classifier, encoder.read(content, strategy).windows)
            preds[strategy][i], latency[strategy][i] = int(logits[0].argmax()), ms
        windows = encoder.read(content, "chunks").windows
        logits, ms = _time_one(classifier, windows)
        for combine in ("mean", "max"):
            name = candidate_name("chunks", combine)
            preds[name][i] = int(combine_windows(logits, combine).argmax())
            latency[name][i], windows_used[name][i] = ms, len(windows)
    seconds = time.perf_counter() - started
    # Measured: every review within the window, and the long ones that ran.
    measured = ~is_long
    measured[runs[is_long[runs]]] = True
    buckets = np.array([bucket_of(int(n)) for n in lengths])
    strategies = {}
    for name in names:
        correct = preds[name] == labels
        by_bucket = {}
        for bucket, _, _ in BUCKETS:
            members = measured & (buckets == bucket)
            if members.any():
                by_bucket[bucket] = _summary(
                    correct[members], latency[name][members], windows_used[name][members]
                )
        strategies[name] = _summary(
            correct[measured], latency[name][measured], windows_used[name][measured]
        ) | {"by_bucket": by_bucket}
    trained = classifier.encoder.config.truncation
    result: dict[str, Any] = {
        "window_tokens": encoder.budget,
        "max_length": encoder.config.max_length,
        "reviews": len(texts),
        "longer_than_window": int(is_long.sum()),
        "long_measured": int(is_long[runs].sum()),
        "short_timed": int((~is_long[runs]).sum()),
        "bucket_sizes": {b: int((measured & (buckets == b)).sum()) for b, _, _ in BUCKETS},
        "latency": "model time per review, one review per run (tokenizing excluded), ms",
        "seconds": seconds,
        "strategies": strategies,
        "decision": pick({k: v[measured] for k, v in preds.items()}, labels[measured], trained),
    }
    log.info(
        "long-text strategies: %d test reviews, %d longer than the %d-token window (%d "
        "run) in %.0f s: %s; serving default %s",
        len(texts),
        result["longer_than_window"],
        encoder.budget,
        result["long_measured"],
        seconds,
        ", ".join(f"{n} {s['accuracy']:.4f}" for n, s in strategies.items()),
        result["decision"]["name"],
    )
    return result


def _summary(correct: np.ndarray, latency_ms: np.ndarray, windows: np.ndarray) -> dict[str, Any]:
    timed = latency_ms[~np.isnan(latency_ms)]  # latency: the reviews that ran
    return {
        "n": len(correct),
        "accuracy": float(correct.mean()),
        "timed": len(timed),
        "latency_ms_mean": float(timed.mean()) if len(timed) else None,
        "latency_ms_p50": float(np.median(timed)) if len(timed) else None,
        "windows_mean": float(windows.mean()),
    }


def pick(preds: dict[str, np.ndarray], labels: np.ndarray, trained: str) -> dict[str, Any]:
    """The serving default: the most accurate candidate if it beats the as-trained reading with
    evidence, else the as-trained reading. Also the chunk rule requests asking for chunks get."""
    accuracy = {name: float((p == labels).mean()) for name, p in preds.items()}
    chunk_rule = "max" if accuracy["chunks/max"] > accuracy["chunks/mean"] else "mean"
    best = max(accuracy, key=lambda name: (accuracy[name], name == trained))
    base, challenger = preds[trained] == labels, preds[best] == labels
    b, c = discordant(challenger, base)  # b: the challenger right, as trained wrong
    p_value = mcnemar_p(b, c)
    adopted = best != trained and p_value < PICK_ALPHA
    name = best if adopted else trained
    strategy = "chunks" if name.startswith("chunks") else name
    combine = name.split("/")[1] if strategy == "chunks" else chunk_rule
    reason = (
        f"{best} read {b - c} more of {len(labels)} test reviews right than {trained} "
        f"(McNemar exact one-sided p = {p_value:.3g} < {PICK_ALPHA})"
        if adopted
        else f"no candidate beat {trained} (as trained) with evidence: best {best} "
        f"{accuracy[best]:.4f} vs {accuracy[trained]:.4f}, McNemar exact one-sided p = "
        f"{p_value:.3g} >= {PICK_ALPHA}"
    )
    return {
        "name": name,
        "strategy": strategy,
        "combine": combine,
        "reason": reason,
        "mcnemar_p": p_value,
        "alpha": PICK_ALPHA,
        "chunk_rule": f"chunks combine by {chunk_rule} (accuracy mean "
        f"{accuracy['chunks/mean']:.4f}, max {accuracy['chunks/max']:.4f})",
    }


def serving_reading(result: dict[str, Any]) -> dict[str, str]:
    """The manifest's `long_text`: how serving reads a long text unless a request says."""
    return {k: result["decision"][k] for k in ("strategy", "combine", "reason")}


def long_text_section(metrics: dict[str, Any]) -> str:
    """The model card's long-text section ('' when the run has none)."""
    lt = metrics.get("long_text")
    if not lt:
        return ""
    bucket_names = [b for b, _, _ in BUCKETS]
    head = " | ".join(f"{b} ({lt['bucket_sizes'][b]}) acc / ms" for b in bucket_names)
    lines = [
        "## Long reviews (held-out test split, served ONNX model)",
        "",
        f"The model reads {lt['window_tokens']} tokens at once; {lt['longer_than_window']} of "
        f"{lt['reviews']} test reviews are longer, {lt['long_measured']} of them read by every "
        "strategy (reviews within the window read the same under all: the served predictions, "
        f"{lt['short_timed']} of them timed). Buckets (reviews measured) count the whole "
        f"review's tokens. Latency: {lt['latency']}.",
        "",
        f"| strategy | accuracy | windows (mean) | {head} |",
        "|---|---|---|" + "---|" * len(bucket_names),
    ]
    for name, s in lt["strategies"].items():
        cells = []
        for b in bucket_names:
            r = s["by_bucket"].get(b)
            ms = f"{r['latency_ms_mean']:.1f}" if r and r["latency_ms_mean"] is not None else "-"
            cells.append(f"{r['accuracy']:.4f} / {ms}" if r else "-")
        lines.append(
            f"| {name} | {s['accuracy']:.4f} | {s['windows_mean']:.2f} | "
            + " | ".join(cells)
            + " |"
        )
    d = lt["decision"]
    lines += [
        "",
        f"Serving reads with **{d['name']}** unless a request asks otherwise: "
        f"{d['reason']}. {d['chunk_rule']}.",
        "",
    ]
    return "\n".join(lines)
