"""What a shadowed candidate is judged by, and only that: for each copied request, how many
predictions agree with what the live model answered, the flips by text length (the same token
buckets drift uses), how much surer or less sure the candidate is, and both models' time. Kept as
metrics with the candidate's run id as their dimension; never a text.

The receiver (function/shadow/handler.py) writes them into its log in embedded metric format;
`python -m infra.release compare` sums them over the shadow's window and `promote` reads the
agreement from the same sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.profile import TOKENS

CANDIDATE_DIMENSION = "candidate"
COMPARED = "shadow_compared"  # predictions compared
AGREED = "shadow_agreed"  # ... with the same label as the live answer
CONFIDENCE_SHIFT = "shadow_confidence_shift"  # sum of (candidate - live) top scores
LIVE_MS = "shadow_live_ms"  # per copied request: the live model's tokenize + inference time
CANDIDATE_MS = "shadow_candidate_ms"  # ... and the candidate's, on the same texts
SUMMED = (COMPARED, AGREED, CONFIDENCE_SHIFT, LIVE_MS, CANDIDATE_MS)


def compared_metric(bucket: int) -> str:
    return f"shadow_compared_tokens_{bucket}"


def flips_metric(bucket: int) -> str:
    return f"shadow_flips_tokens_{bucket}"


def metric_names() -> list[str]:
    """Every metric the receiver may write, for the reader that sums them."""
    per_bucket = [f(b) for b in range(TOKENS.size) for f in (compared_metric, flips_metric)]
    return [*SUMMED, *per_bucket]


@dataclass(frozen=True)
class LiveAnswer:
    """What the live model answered for a copied request (no text)."""

    run: str
    predicted: list[int]
    confidence: list[float]
    latency_ms: float


def compare(live: LiveAnswer, probs: np.ndarray, tokens: list[int],
            latency_ms: float) -> dict[str, float]:  # fmt: skip
    """The metric values of one copied request answered by the candidate with `probs`."""
    predicted = probs.argmax(axis=1)
    flipped = predicted != np.asarray(live.predicted)
    values: dict[str, float] = {
        COMPARED: float(len(predicted)),
        AGREED: float((~flipped).sum()),
        CONFIDENCE_SHIFT: float((probs.max(axis=1) - np.asarray(live.confidence)).sum()),
        LIVE_MS: live.latency_ms,
        CANDIDATE_MS: latency_ms,
    }
    for bucket, flip in zip(TOKENS.buckets(np.asarray(tokens)).tolist(), flipped, strict=True):
        values[compared_metric(bucket)] = values.get(compared_metric(bucket), 0.0) + 1
        values[flips_metric(bucket)] = values.get(flips_metric(bucket), 0.0) + float(flip)
    return values


def report(sums: Mapping[str, float], requests: int) -> dict[str, Any]:
    """A window's sums -> the comparison people read: agreement, flips by length, confidence
    shift, mean time per copied request of each model."""
    compared = sums.get(COMPARED, 0.0)
    by_length = {}
    for bucket in range(TOKENS.size):
        n = sums.get(compared_metric(bucket), 0.0)
        if n:
            flips = sums.get(flips_metric(bucket), 0.0)
            by_length[TOKENS.bucket_label(bucket)] = {"compared": int(n), "flips": int(flips),
                                                      "flip_rate": flips / n}  # fmt: skip
    return {
        "requests": requests,
        "compared": int(compared),
        "agreement": sums.get(AGREED, 0.0) / compared if compared else None,
        "flips_by_tokens": by_length,
        "confidence_shift": sums.get(CONFIDENCE_SHIFT, 0.0) / compared if compared else None,
        "live_ms_mean": sums.get(LIVE_MS, 0.0) / requests if requests else None,
        "candidate_ms_mean": sums.get(CANDIDATE_MS, 0.0) / requests if requests else None,
    }
