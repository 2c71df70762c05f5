"""Is the served model still right? Labelled rows (a `label` column in a bulk-scoring file)
against the run's own held-out test split. Torch-free and numpy-free: the batch function counts
with it, the training job writes the reference with it.

What is counted, on both sides alike (`LabelledCounts`): a confusion matrix (true label ×
predicted label) and the top score's reliability in the training report's 15 equal-width bins
over [0, 1] (`n`, the scores' sum, how many were right), so live ECE is the number the model card
reports. The counts add up: each bulk-scoring chunk counts its rows and the summary sums them.

The verdict (`judge`) asks one question: is accuracy on these rows lower than the held-out split
predicts? Held-out accuracy depends on the label mix (a model whose positive recall is 0.82 and
negative recall 0.91 scores 86.5 % on a balanced split and 84.0 % on rows that are 80 %
positive, while it is exactly as right as before), so the rows are compared with the accuracy the
held-out split predicts **at their own label mix**: each label's recall there, weighted by the
rows' share of that label. The difference D = sum_c w_c (r_c - R_c) (w_c the rows' share of label
c, r_c its recall on the rows, R_c on the held-out split) is tested one-sided against 0 with the
normal approximation, under H0 each label's two recalls equal and estimated pooled:
Var D = sum_c w_c^2 p_c (1 - p_c) (1/n_c + 1/N_c). `below` needs p < ALPHA (0.01: one false
alarm in a hundred audits of an unchanged model, measured by simulation in
tests/contract/test_audit.py) and at least MIN_LABELLED rows (100: the normal approximation
holds there, and fewer rows could not see a drop of 10 points anyway).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALPHA = 0.01
MIN_LABELLED = 100
ECE_BINS = 15  # training/calibration.py's bins, so that live ECE reads like the model card's
LABEL = "label"  # the column (CSV) or field (JSON Lines) that carries a row's true label
# Refused labels a chunk's counts keep in full (each row's line has its own).
MAX_REFUSALS_KEPT = 20


class AuditError(ValueError):
    """Counts that cannot be added or judged (another model's labels, a malformed file)."""


# Short names the training job's data may use for a label (training/data.py reads labels with
# these rules too, so a file labelled for training is labelled for an audit).
ALIASES = {"neg": "negative", "pos": "positive"}


@lru_cache(maxsize=8)
def _lookup(labels: tuple[str, ...]) -> dict[str, int]:
    lookup = {n.lower(): i for i, n in enumerate(labels)} | {str(i): i for i in range(len(labels))}
    return lookup | {a: lookup[t] for a, t in ALIASES.items() if t in lookup}


def label_lookup(labels: Sequence[str]) -> dict[str, int]:
    """A label value's key (`label_key`) -> the label's index: the name in any case, the index
    (the index wins when a name is digits), and neg / pos for negative / positive."""
    return _lookup(tuple(labels))


def label_key(value: object) -> str:
    """A raw label value as `label_lookup` reads it: an integral number as its digits (1, 1.0),
    anything else stripped and lower-cased."""
    if isinstance(value, int | float) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def parse_label(value: object, labels: Sequence[str]) -> tuple[int | None, str | None]:
    """A row's `label` value -> (label index, None); (None, None) when the row carries no label
    (missing, null, NaN or blank); (None, the fix) for a value that names no label of the
    model. Read as the training job reads its data's labels (`label_lookup`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, float) and math.isnan(value):
        return None, None
    index = label_lookup(labels).get(label_key(value))
    return (index, None) if index is not None else (None, _refusal(value, labels))


def _refusal(value: object, labels: Sequence[str]) -> str:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    aliases = [a for a, t in ALIASES.items() if t in labels]
    return (
        f"label {shown} is not one of the model's labels ({', '.join(labels)}), their index "
        f"(0 to {len(labels) - 1})"
        + (f" or {'/'.join(aliases)}" if aliases else "")
        + "; the row was scored, its label not counted"
    )


# The bins' edges exactly as training/calibration.reliability makes them (np.linspace(0, 1, 16)),
# so a score on an edge falls in the same bin on both sides.
_EDGES = [0.0] + [i * (1.0 / ECE_BINS) for i in range(1, ECE_BINS)] + [1.0]


def ece_bin(score: float) -> int:
    """The bin of a top score: (lower, upper] of 15 equal widths, 0 joining the first, as
    training/calibration.reliability bins it (np.searchsorted(edges, score, "left") - 1)."""
    return min(max(bisect.bisect_left(_EDGES, score) - 1, 0), ECE_BINS - 1)


@dataclass
class LabelledCounts:
    """Labelled predictions of one model, counted: `confusion[true][predicted]`, and per ECE bin
    [rows, sum of top scores, rows right]; `refused` rows whose label named no label."""

    labels: list[str]
    confusion: list[list[int]]
    bins: list[list[float]]
    refused: int = 0
    refusals: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, labels: list[str]) -> LabelledCounts:
        k = len(labels)
        return cls(
            list(labels), [[0] * k for _ in range(k)], [[0, 0.0, 0] for _ in range(ECE_BINS)]
        )

    @property
    def n(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[c][c] for c in range(len(self.labels)))

    def add(self, true: int, predicted: int, score: float) -> None:
        self.confusion[true][predicted] += 1
        b = self.bins[ece_bin(score)]
        b[0] += 1
        b[1] += score
        b[2] += int(true == predicted)

    def refuse(self, row: int, error: str) -> None:
        self.refused += 1
        if len(self.refusals) < MAX_REFUSALS_KEPT:
            self.refusals.append({"row": row, "error": error})

    def merge(self, other: LabelledCounts) -> None:
        if other.labels != self.labels:
            raise AuditError(f"cannot add counts for labels {other.labels} to {self.labels}")
        for mine, theirs in zip(self.confusion, other.confusion, strict=True):
            for c, count in enumerate(theirs):
                mine[c] += count
        for mine_bin, their_bin in zip(self.bins, other.bins, strict=True):
            for i, value in enumerate(their_bin):
                mine_bin[i] += value
        self.refused += other.refused
        room = MAX_REFUSALS_KEPT - len(self.refusals)
        self.refusals += other.refusals[: max(room, 0)]

    def recall(self) -> dict[str, tuple[int, int]]:
        """label -> (rows of that true label, rows of it predicted right)."""
        return {
            name: (sum(self.confusion[c]), self.confusion[c][c])
            for c, name in enumerate(self.labels)
        }

    def ece(self) -> float | None:
        n = self.n
        if not n:
            return None
        return sum(b[0] / n * abs(b[2] / b[0] - b[1] / b[0]) for b in self.bins if b[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "confusion": self.confusion,
            "bins": [[int(b[0]), round(float(b[1]), 6), int(b[2])] for b in self.bins],
            "refused": self.refused,
            "refusals": self.refusals,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LabelledCounts:
        try:
            labels = [str(x) for x in data["labels"]]
            counts = cls(
                labels,
                [[int(c) for c in row] for row in data["confusion"]],
                [[int(b[0]), float(b[1]), int(b[2])] for b in data["bins"]],
                int(data.get("refused", 0)),
                list(data.get("refusals", [])),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise AuditError(f"labelled counts are malformed: {exc}") from exc
        k = len(labels)
        if len(counts.confusion) != k or any(len(row) != k for row in counts.confusion):
            raise AuditError(f"the confusion matrix must be {k} x {k} for labels {labels}")
        if len(counts.bins) != ECE_BINS:
            raise AuditError(f"labelled counts need {ECE_BINS} bins, got {len(counts.bins)}")
        return counts


@dataclass(frozen=True)
class Reference:
    """What the held-out split says: per label (rows, rows right), and its ECE."""

    per_label: dict[str, tuple[int, int]]
    ece: float | None
    source: str

    @property
    def n(self) -> int:
        return sum(n for n, _ in self.per_label.values())

    @property
    def accuracy(self) -> float:
        return sum(k for _, k in self.per_label.values()) / self.n

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_label": {name: list(nk) for name, nk in self.per_label.items()},
            "ece": self.ece,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        per_label = {str(k): (int(v[0]), int(v[1])) for k, v in data["per_label"].items()}
        return cls(per_label, data.get("ece"), str(data.get("source", "")))


def reference(
    labels: list[str],
    profile_extra: dict[str, Any] | None,
    manifest_metrics: dict[str, Any],
    manifest_data: dict[str, Any],
) -> Reference | None:
    """The held-out split's counts from the bundle's reference profile (`extra.labelled`, what
    the training job writes now); for a two-label bundle from before that, per-label counts
    derived from its served accuracy, its recall (of label 1) and its test split's label counts;
    None when neither is there (the audit then reports accuracy without a verdict)."""
    counted = (profile_extra or {}).get("labelled")
    try:
        counts = LabelledCounts.from_dict(counted) if counted else None
    except AuditError:  # a verified bundle holds what training wrote; fall back, never fail
        counts = None
    if counts is not None and counts.labels == list(labels) and counts.n:
        return Reference(counts.recall(), counts.ece(), "reference profile (held-out split)")
    served = (manifest_metrics.get("served") or {}).get("metrics") or {}
    sizes = ((manifest_data.get("class_counts") or {}).get("test")) or {}
    if len(labels) != 2 or "accuracy" not in served or "recall" not in served:
        return None
    try:
        n0, n1 = int(sizes["0"]), int(sizes["1"])
    except (KeyError, TypeError, ValueError):
        return None
    k1 = round(float(served["recall"]) * n1)
    k0 = round(float(served["accuracy"]) * (n0 + n1)) - k1
    if not (0 <= k0 <= n0 and 0 <= k1 <= n1):
        return None
    ece = (manifest_metrics.get("calibration") or {}).get("ece_after")
    return Reference(
        {labels[0]: (n0, k0), labels[1]: (n1, k1)},
        float(ece) if ece is not None else None,
        "manifest metrics (held-out split; per-label counts from accuracy, recall and its labels)",
    )


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def plain_p_lower(k: int, n: int, big_k: int, big_n: int) -> float | None:
    """The peer this audit is measured against, not used by it: k of n right against big_k of
    big_n on the held-out split, label mix ignored (a two-proportion z-test, one-sided p of
    'lower'); None when every row on both sides was right, or every one wrong."""
    pooled = (k + big_k) / (n + big_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / big_n))
    return _normal_cdf((k / n - big_k / big_n) / se) if se else None


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k / n."""
    if not n:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def compare(live: LabelledCounts, ref: Reference) -> dict[str, Any]:
    """The rows' accuracy against the held-out split's at the rows' label mix (module doc):
    expected, difference, its standard error, z and the one-sided p of 'lower than held-out'."""
    n = live.n
    expected = difference = variance = 0.0
    for name, (n_c, k_c) in live.recall().items():
        if not n_c:
            continue
        big_n, big_k = ref.per_label.get(name, (0, 0))
        if not big_n:
            raise AuditError(f"the held-out split has no rows labelled {name!r} to compare with")
        w = n_c / n
        expected += w * big_k / big_n
        difference += w * (k_c / n_c - big_k / big_n)
        pooled = (k_c + big_k) / (n_c + big_n)
        variance += w * w * pooled * (1 - pooled) * (1 / n_c + 1 / big_n)
    se = math.sqrt(variance)
    if se > 0:
        z = difference / se
        p = _normal_cdf(z)
    else:  # every recall is 0 or 1 on both sides
        z, p = 0.0, 1.0 if difference >= 0 else 0.0
    return {
        "expected_accuracy": round(expected, 4),
        "difference": round(difference, 4),
        "difference_95": [
            round(difference - 1.959964 * se, 4),
            round(difference + 1.959964 * se, 4),
        ],
        "z": round(z, 3),
        "p_lower": p,
    }


def judge(live: LabelledCounts, ref: Reference | None) -> dict[str, Any]:
    """The labelled rows' report: counts, accuracy (95 % interval), recall per label beside the
    held-out split's, ECE beside its, and the verdict: `below` (accuracy significantly lower
    than the held-out split predicts at this label mix), `consistent`, or `not judged` (fewer
    than MIN_LABELLED rows, or no reference), with a sentence that says why."""
    n, correct = live.n, live.correct
    out: dict[str, Any] = {
        "rows": n,
        "refused": live.refused,
        "refusals": live.refusals,
        "accuracy": round(correct / n, 4) if n else None,
        "accuracy_95": [round(x, 4) for x in wilson(correct, n)] if n else None,
        "recall": {
            name: {"rows": n_c, "recall": round(k_c / n_c, 4) if n_c else None}
            for name, (n_c, k_c) in live.recall().items()
        },
        "confusion": {"rows": "true label", "columns": "predicted", "labels": live.labels}
        | {"counts": live.confusion},
        "ece": round(e, 4) if (e := live.ece()) is not None else None,
        "alpha": ALPHA,
    }
    if ref is not None:
        out["held_out"] = {
            "rows": ref.n,
            "accuracy": round(ref.accuracy, 4),
            "recall": {name: round(k / nn, 4) for name, (nn, k) in ref.per_label.items() if nn},
            "ece": round(ref.ece, 4) if ref.ece is not None else None,
            "source": ref.source,
        }
    if not n:
        out["verdict"] = "not judged"
        out["reason"] = (
            f"no labelled rows: add a {LABEL!r} column (CSV) or field (JSON Lines) with each "
            "row's true label to measure accuracy"
            + (f" ({live.refused} labels were refused: see refusals)" if live.refused else "")
        )
        return out
    if ref is None:
        out["verdict"] = "not judged"
        out["reason"] = "the served bundle has no held-out counts to compare with"
        return out
    if n < MIN_LABELLED:
        out["verdict"] = "not judged"
        out["reason"] = f"{n} labelled rows; a verdict needs at least {MIN_LABELLED}"
        return out
    try:
        test = compare(live, ref)
    except AuditError as exc:
        out["verdict"] = "not judged"
        out["reason"] = str(exc)
        return out
    out |= test
    accuracy, expected = correct / n, test["expected_accuracy"]
    if test["p_lower"] < ALPHA:
        out["verdict"] = "below"
        out["reason"] = (
            f"accuracy {accuracy:.1%} on {n} labelled rows is below the {expected:.1%} the "
            f"held-out split predicts at their label mix (one-sided p = {test['p_lower']:.2g} "
            f"< {ALPHA}): the model is less right on this data than when it shipped"
        )
    else:
        out["verdict"] = "consistent"
        out["reason"] = (
            f"accuracy {accuracy:.1%} on {n} labelled rows, the held-out split predicts "
            f"{expected:.1%} at their label mix (one-sided p = {test['p_lower']:.2g} >= {ALPHA})"
        )
    return out
