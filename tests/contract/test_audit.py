"""contract/audit.py: labels read as the model names them, counts that add up, ECE as the model
card computes it, and a verdict whose false alarms and power are measured by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from contract.audit import (
    ALPHA,
    ECE_BINS,
    MIN_LABELLED,
    AuditError,
    LabelledCounts,
    Reference,
    ece_bin,
    judge,
    parse_label,
    plain_p_lower,
    reference,
)

LABELS = ["negative", "positive"]
# The make-run bundle's held-out split (20261204-115446-d82f9f): 500 reviews of each label,
# recall 0.906 (negative) and 0.824 (positive), accuracy 86.5 %.
HELD_OUT = Reference({"negative": (500, 453), "positive": (500, 412)}, 0.028, "test")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("positive", (1, None)),
        (" Negative ", (0, None)),
        ("POSITIVE", (1, None)),
        ("pos", (1, None)),  # the training job's aliases
        ("NEG", (0, None)),
        (1, (1, None)),
        (1.0, (1, None)),
        ("0", (0, None)),
        (None, (None, None)),
        ("", (None, None)),
        ("   ", (None, None)),
        (float("nan"), (None, None)),  # pandas' missing value, as JSON Lines may carry it
    ],
)
def test_a_label_is_the_models_name_or_index(value: object, expected: tuple) -> None:
    assert parse_label(value, LABELS) == expected


@pytest.mark.parametrize("value", ["good", 2, -1, "2", 0.5, ["positive"], "１", "posi"])
def test_any_other_label_is_refused_with_the_fix(value: object) -> None:
    index, error = parse_label(value, LABELS)
    assert index is None
    assert error is not None and "(negative, positive)" in error and "0 to 1" in error
    assert "or neg/pos" in error and "the row was scored" in error


def reliability_ece(probs: np.ndarray, true: np.ndarray) -> float:
    """ECE as the model card defines it (training/calibration.py, which this torch-free suite
    cannot import): 15 bins (lower, upper] over [0, 1], a score of 0 in the first."""
    confidence, right = probs.max(axis=1), probs.argmax(axis=1) == true
    ece = 0.0
    for b in range(ECE_BINS):
        lower, upper = b / ECE_BINS, (b + 1) / ECE_BINS
        members = (confidence > lower) & (confidence <= upper) | ((b == 0) & (confidence == 0))
        if members.any():
            gap = abs(right[members].mean() - confidence[members].mean())
            ece += members.sum() / len(true) * gap
    return float(ece)


def test_a_score_on_a_bin_edge_falls_where_the_model_card_puts_it() -> None:
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)  # training/calibration.reliability's edges
    scores = np.concatenate([edges, np.nextafter(edges, 2), np.nextafter(edges, -1)])
    scores = scores[(scores >= 0) & (scores <= 1)]
    theirs = np.clip(np.searchsorted(edges, scores, side="left") - 1, 0, ECE_BINS - 1)
    assert [ece_bin(float(x)) for x in scores] == theirs.tolist()


def counted(true: np.ndarray, probs: np.ndarray) -> LabelledCounts:
    counts = LabelledCounts.empty(LABELS)
    for t, row in zip(true.tolist(), probs, strict=True):
        counts.add(int(t), int(row.argmax()), float(row.max()))
    return counts


def test_ece_is_the_model_cards_and_counts_add_up() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 3000)
    p[:16] = np.linspace(0, 1, 16)  # scores on the bins' edges: (lower, upper]
    probs = np.stack([1 - p, p], axis=1)
    true = (rng.uniform(0, 1, 3000) < p).astype(int)
    whole = counted(true, probs)
    assert whole.ece() == pytest.approx(reliability_ece(probs, true), abs=1e-12)
    assert len(whole.bins) == ECE_BINS and whole.n == 3000
    parts = [counted(true[i : i + 700], probs[i : i + 700]) for i in range(0, 3000, 700)]
    merged = LabelledCounts.from_dict(parts[0].to_dict())
    for part in parts[1:]:
        merged.merge(LabelledCounts.from_dict(part.to_dict()))
    assert merged.confusion == whole.confusion
    assert merged.ece() == pytest.approx(whole.ece(), abs=1e-5)  # scores kept to 6 decimals
    with pytest.raises(AuditError, match="labels"):
        merged.merge(LabelledCounts.empty(["a", "b"]))


SHIPPED = {name: k / n for name, (n, k) in HELD_OUT.per_label.items()}


def simulate(
    recall: dict[str, float], rows: dict[str, int], runs: int, seed: int
) -> list[tuple[LabelledCounts, Reference]]:
    """`runs` audits: rows drawn with `recall` per label, each against its own held-out split
    (500 reviews of each label) drawn from the model as it shipped (SHIPPED): the reference is
    a sample too, as in a real bundle."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        counts = LabelledCounts.empty(LABELS)
        for c, name in enumerate(LABELS):
            right = int(rng.binomial(rows[name], recall[name]))
            counts.confusion[c][c] = right
            counts.confusion[c][1 - c] = rows[name] - right
        held_out = {name: (500, int(rng.binomial(500, SHIPPED[name]))) for name in LABELS}
        out.append((counts, Reference(held_out, None, "simulated")))
    return out


def naive_p(counts: LabelledCounts, ref: Reference) -> float:
    """The peer: the rows' accuracy against the held-out accuracy, label mix ignored."""
    held_right = sum(k for _, k in ref.per_label.values())
    p = plain_p_lower(counts.correct, counts.n, held_right, ref.n)
    assert p is not None
    return p


@pytest.mark.parametrize(
    "rows",
    [
        {"negative": 500, "positive": 500},
        {"negative": 200, "positive": 800},  # a positive week
        {"negative": 60, "positive": 60},
    ],
)
def test_an_unchanged_model_is_rarely_called_below(rows: dict[str, int]) -> None:
    """Rows drawn from the model as it shipped: the share of `below` verdicts stays near ALPHA
    (0.01) at every label mix, while the peer's test, which ignores the mix, cries wolf on a
    positive week (the model is weaker on positives). Measured: 0.013 / 0.009 / 0.011 for
    these mixes (the peer: 0.012 / 0.22 / 0.010)."""
    audits = simulate(SHIPPED, rows, runs=4000, seed=sum(rows.values()))
    false_alarms = [judge(*a)["verdict"] for a in audits].count("below") / len(audits)
    # Under H0 the rate is ALPHA up to the normal approximation; 4,000 runs give it a standard
    # error of 0.0016, so 0.02 is ~6 of them above 0.01, and a test that ignored the
    # reference's own noise or the label mix lands far above it (the peer: 0.22).
    assert false_alarms <= 2 * ALPHA
    if rows["positive"] == 800:
        naive = sum(naive_p(*a) < ALPHA for a in audits) / len(audits)
        assert naive > 0.1 and naive > 10 * false_alarms, (naive, false_alarms)


def test_a_drop_of_five_points_is_seen_on_a_thousand_rows() -> None:
    worse = {name: r - 0.05 for name, r in SHIPPED.items()}
    audits = simulate(worse, {"negative": 500, "positive": 500}, runs=2000, seed=5)
    power = [judge(*a)["verdict"] for a in audits].count("below") / len(audits)
    # Expected ~0.8 (the drop's z ~3.2 against 2.33 at ALPHA 0.01).
    assert power > 0.7, power


def test_the_report_names_what_it_compared_and_why_not_judged() -> None:
    ((few, _),) = simulate(SHIPPED, {"negative": 30, "positive": 30}, 1, 0)
    report = judge(few, HELD_OUT)
    assert report["verdict"] == "not judged" and f"at least {MIN_LABELLED}" in report["reason"]
    assert report["rows"] == 60 and report["held_out"]["accuracy"] == 0.865
    assert judge(LabelledCounts.empty(LABELS), HELD_OUT)["reason"].startswith("no labelled rows")
    ((bad, _),) = simulate({"negative": 0.5, "positive": 0.5}, {n: 300 for n in LABELS}, 1, 0)
    report = judge(bad, HELD_OUT)
    assert report["verdict"] == "below" and report["p_lower"] < 1e-6
    assert report["difference_95"][0] < report["difference"] < report["difference_95"][1] < 0
    assert report["expected_accuracy"] == 0.865 and report["accuracy_95"][0] < 0.5
    assert judge(bad, None)["verdict"] == "not judged"
    lopsided = Reference({"negative": (500, 453), "positive": (0, 0)}, None, "test")
    assert "no rows labelled 'positive'" in judge(bad, lopsided)["reason"]


def test_reference_from_the_profile_or_derived_from_an_older_manifest() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 400)
    profile_counts = counted((p > 0.5).astype(int), np.stack([1 - p, p], axis=1))
    ref = reference(LABELS, {"labelled": profile_counts.to_dict()}, {}, {})
    assert ref is not None and ref.per_label == profile_counts.recall()
    assert ref.n == 400 and ref.accuracy == 1.0
    assert ref.ece == pytest.approx(profile_counts.ece(), abs=1e-6)  # kept to 6 decimals
    metrics = {
        "served": {"metrics": {"accuracy": 0.865, "recall": 0.824}},
        "calibration": {"ece_after": 0.0279},
    }
    data = {"class_counts": {"test": {"0": 500, "1": 500}}}
    old = reference(LABELS, None, metrics, data)
    assert old is not None and old.per_label == HELD_OUT.per_label and old.ece == 0.0279
    assert reference(["a", "b", "c"], None, metrics, data) is None
    assert reference(LABELS, None, {"served": {"metrics": {"accuracy": 0.9}}}, data) is None
