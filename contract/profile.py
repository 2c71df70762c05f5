"""What the served model's predictions look like, as histograms over fixed buckets: the reference
profile a bundle carries (its held-out split through the served model) and the live windows the
function emits are counted with the same edges, defined here once, so they compare bucket for
bucket. Aggregates only: a histogram holds counts, never a text.

Dimensions (per prediction): `confidence` (top calibrated score), `predicted` (the label index),
`tokens` (the whole text's tokens), `truncated` (some tokens never read), `unknown` (the share
of the ids the model read that are the tokenizer's unknown token) and `windows` (for a text read
in several windows, the share of its windows whose own label differs from the text's; a text
read in one window has a bucket of its own).

Drift is the population stability index per dimension, PSI = sum_i (a_i - e_i) ln(a_i / e_i)
over bucket shares a (live) and e (reference). Why PSI: it needs only bucket counts, which is
all CloudWatch keeps; it is symmetric (the Jeffreys divergence of the binned distributions) and
adds up over buckets, so one number per dimension says how far and the buckets say where; it
measures the size of a shift, where a chi-square or KS p-value measures only its significance,
which any trivial shift reaches at high traffic. The customary reading: < 0.1 stable, 0.1-0.25 a
moderate shift, > 0.25 a large one. An empty bucket's share is floored at EPSILON (ln 0 is
undefined): one empty bucket adds at most |a - EPSILON| * ln(a / EPSILON), bounded, instead of
infinity. Sampling noise alone gives PSI of about (buckets - 1) * (1/n_live + 1/n_reference),
~0.02 for 8 buckets at 500 live and 1,000 reference predictions: why the drift check wants 500
predictions in a window (DRIFT_MIN_PREDICTIONS_DEFAULT, function/setting_bounds.py) before its
PSI means anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contract.encoder import Reading

PROFILE_FILE = "reference_profile.json"
PROFILE_VERSION = 1
EPSILON = 1e-4


class ProfileError(ValueError):
    """A profile file that cannot be read, or that counts with other buckets than this code."""


@dataclass(frozen=True)
class Dimension:
    """One monitored quantity and its bucket edges: bucket i holds edges[i-1] <= v < edges[i]
    (the first from -inf, the last to +inf)."""

    name: str
    edges: tuple[float, ...]
    description: str

    @property
    def size(self) -> int:
        return len(self.edges) + 1

    def buckets(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.edges), values, side="right")

    def histogram(self, values: np.ndarray) -> list[int]:
        return np.bincount(self.buckets(values), minlength=self.size).astype(int).tolist()

    def bucket_label(self, i: int) -> str:
        low = "" if i == 0 else f"{self.edges[i - 1]:g}"
        high = "" if i == self.size - 1 else f"{self.edges[i]:g}"
        return f"<{high}" if not low else (f">={low}" if not high else f"[{low}, {high})")


# The fixed edges. Confidence starts at 0.6: below it a binary model is nearly guessing.
CONFIDENCE = Dimension("confidence", (0.6, 0.7, 0.8, 0.9, 0.95, 0.99), "top calibrated score")
TOKENS = Dimension("tokens", (16, 32, 64, 128, 256, 512, 1024), "tokens of the whole text")
TRUNCATED = Dimension("truncated", (0.5,), "0 read whole, 1 some tokens never read")
UNKNOWN = Dimension("unknown", (1e-9, 0.01, 0.05), "share of read ids that are [UNK]")
# One window reads -1 (bucket 0); several: 0 (bucket 1, all agree) up to 1.
WINDOWS = Dimension("windows", (-0.5, 1e-9, 0.25, 0.5), "share of windows that disagree")
ONE_WINDOW = -1.0


def dimensions(num_labels: int) -> tuple[Dimension, ...]:
    """Every monitored dimension for a model with `num_labels` labels (one bucket per label)."""
    predicted = Dimension(
        "predicted", tuple(i + 0.5 for i in range(num_labels - 1)), "predicted label index"
    )
    return (CONFIDENCE, predicted, TOKENS, TRUNCATED, UNKNOWN, WINDOWS)


# The live counts' CloudWatch dimension: the run that answered (the request log's own field).
RUN_DIMENSION = "model_version"


def metric_name(dimension: str, bucket: int) -> str:
    """The CloudWatch metric counting one bucket (emitter and drift check share it)."""
    return f"{dimension}_{bucket}"


def unknown_id(tokenizer: Any) -> int | None:
    """The id of the tokenizer's unknown token (None when its model has none, e.g. byte BPE)."""
    token = getattr(tokenizer.model, "unk_token", None)
    return tokenizer.token_to_id(token) if token else None


def observe(
    probs: np.ndarray,
    readings: Sequence[Reading],
    unk: int | None,
    window_logits: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per prediction, the value of every dimension: what both sides histogram.
    `window_logits` (each text's [windows, labels]) is needed only for texts read in several
    windows."""
    unknown = [
        sum(w.count(unk) for w in r.windows) / max(1, sum(len(w) for w in r.windows))
        if unk is not None
        else 0.0
        for r in readings
    ]
    predicted = probs.argmax(axis=1)
    disagree = []
    for i, reading in enumerate(readings):
        if len(reading.windows) == 1:
            disagree.append(ONE_WINDOW)
            continue
        if window_logits is None:
            raise ValueError("texts read in several windows need their window logits")
        disagree.append(float((window_logits[i].argmax(axis=1) != predicted[i]).mean()))
    return {
        "confidence": probs.max(axis=1),
        "predicted": predicted,
        "tokens": np.array([r.num_tokens for r in readings]),
        "truncated": np.array([int(r.truncated) for r in readings]),
        "unknown": np.array(unknown),
        "windows": np.array(disagree),
    }


def histograms(values: dict[str, np.ndarray], num_labels: int) -> dict[str, list[int]]:
    return {d.name: d.histogram(values[d.name]) for d in dimensions(num_labels)}


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """The population stability index between two histograms over the same buckets."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi needs two non-empty histograms over the same buckets")
    e = np.maximum(e / e.sum(), epsilon)
    a = np.maximum(a / a.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class Profile:
    """Histograms of every dimension over `count` predictions, with the edges they used."""

    counts: dict[str, list[int]]
    edges: dict[str, list[float]]
    count: int
    labels: list[str]
    source: str = ""
    format_version: int = PROFILE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, values: dict[str, np.ndarray], labels: list[str], source: str) -> Profile:
        dims = dimensions(len(labels))
        return cls(counts=histograms(values, len(labels)),
                   edges={d.name: list(d.edges) for d in dims},
                   count=len(values["confidence"]), labels=list(labels), source=source)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": self.format_version, "count": self.count, "labels": self.labels,
                "source": self.source, "edges": self.edges, "counts": self.counts,
                **({"extra": self.extra} if self.extra else {})}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        if not isinstance(data, dict) or data.get("format_version") != PROFILE_VERSION:
            raise ProfileError(
                f"{PROFILE_FILE}: expected an object with format_version {PROFILE_VERSION}"
            )
        try:
            profile = cls(counts={k: [int(c) for c in v] for k, v in data["counts"].items()},
                          edges={k: [float(x) for x in v] for k, v in data["edges"].items()},
                          count=int(data["count"]), labels=[str(x) for x in data["labels"]],
                          source=str(data.get("source", "")), extra=data.get("extra") or {})  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"{PROFILE_FILE} is malformed: {exc}") from exc
        for name, counts in profile.counts.items():
            size = len(profile.edges.get(name, [])) + 1  # its own edges: drift() compares them
            if len(counts) != size or sum(counts) != profile.count:
                raise ProfileError(
                    f"{PROFILE_FILE}: {name} must hold {size} counts summing to "
                    f"{profile.count}, got {counts}"
                )
        return profile

    def drift(self, live: Mapping[str, Sequence[float]]) -> dict[str, float | None]:
        """PSI per dimension of a live window's counts against this reference. None for a
        dimension whose edges differ from this code's (a profile from other bucket
        definitions), or with no live or reference predictions."""
        out: dict[str, float | None] = {}
        for dim in dimensions(len(self.labels)):
            edges = self.edges.get(dim.name, [])
            same_edges = len(edges) == len(dim.edges) and np.allclose(edges, dim.edges)
            counts = live.get(dim.name)
            if not same_edges or counts is None or sum(counts) <= 0 or self.count <= 0:
                out[dim.name] = None
                continue
            out[dim.name] = psi(self.counts[dim.name], counts)
        return out


def write_profile(bundle_dir: str | Path, profile: Profile) -> Path:
    path = Path(bundle_dir) / PROFILE_FILE
    path.write_text(json.dumps(profile.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def read_profile(bundle_dir: str | Path) -> Profile | None:
    """The bundle's reference profile, or None for a bundle written before profiles existed."""
    path = Path(bundle_dir) / PROFILE_FILE
    if not path.is_file():
        return None
    try:
        return Profile.from_dict(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{path} is not valid JSON: {exc}") from exc


def largest(scores: dict[str, float | None]) -> tuple[str, float] | None:
    """The dimension that moved most, or None when no dimension has a figure."""
    known = [(k, v) for k, v in scores.items() if v is not None and math.isfinite(v)]
    return max(known, key=lambda kv: kv[1]) if known else None
