"""The reference profile's buckets and PSI (contract/profile.py): the properties the drift check
relies on, on synthetic distributions drawn with a fixed seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contract.encoder import Reading
from contract.profile import (
    CONFIDENCE,
    EPSILON,
    ONE_WINDOW,
    PROFILE_FILE,
    TOKENS,
    WINDOWS,
    Profile,
    ProfileError,
    dimensions,
    observe,
    psi,
    read_profile,
    write_profile,
)


def values(rng: np.random.Generator, n: int, short: bool = False) -> dict[str, np.ndarray]:
    """Per-prediction values like a binary model's: confident on long texts, less on short."""
    tokens = rng.integers(5, 40, n) if short else rng.lognormal(5.4, 0.6, n).astype(int)
    confidence = rng.uniform(0.5, 0.8, n) if short else rng.beta(8, 1, n) * 0.5 + 0.5
    return {"confidence": confidence, "predicted": rng.integers(0, 2, n), "tokens": tokens,
            "truncated": (tokens > 254).astype(int), "unknown": np.zeros(n),
            "windows": np.full(n, ONE_WINDOW)}  # fmt: skip


def test_edges_put_each_value_in_one_bucket() -> None:
    assert CONFIDENCE.buckets(np.array([0.5, 0.6, 0.65, 0.99, 1.0])).tolist() == [0, 1, 1, 6, 6]
    assert TOKENS.buckets(np.array([0, 15, 16, 1023, 1024, 50_000])).tolist() == [0, 0, 1, 6, 7, 7]
    assert [d.name for d in dimensions(2)] == ["confidence", "predicted", "tokens", "truncated",
                                               "unknown", "windows"]  # fmt: skip
    assert dimensions(3)[1].size == 3
    assert TOKENS.bucket_label(0) == "<16" and TOKENS.bucket_label(7) == ">=1024"


def test_window_disagreement_counts_the_windows_that_outvote_the_text() -> None:
    one = Reading(windows=[[101, 7, 102]], num_tokens=1, strategy="head+tail", truncated=False)
    three = Reading(windows=[[101, 7, 102]] * 3, num_tokens=600, strategy="chunks",
                    truncated=False)  # fmt: skip
    probs = np.array([[0.2, 0.8], [0.3, 0.7]])
    windows = [np.array([[0.0, 1.0]]), np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])]
    values = observe(probs, [one, three], None, windows)
    assert values["windows"].tolist() == [ONE_WINDOW, pytest.approx(1 / 3)]
    assert WINDOWS.buckets(values["windows"]).tolist() == [0, 3]
    with pytest.raises(ValueError, match="need their window logits"):
        observe(probs, [one, three], None)


def test_psi_is_zero_for_the_same_shares_and_symmetric() -> None:
    assert psi([10, 20, 70], [1, 2, 7]) == pytest.approx(0.0)
    assert psi([10, 20, 70], [30, 30, 40]) == pytest.approx(psi([30, 30, 40], [10, 20, 70]))
    with pytest.raises(ValueError, match="same buckets"):
        psi([1, 2], [1, 2, 3])


def test_an_empty_bucket_costs_a_bounded_amount() -> None:
    # All live predictions in a bucket the reference never saw: large, finite, as the floor says.
    value = psi([100, 0], [0, 100])
    assert value == pytest.approx(2 * (1 - EPSILON) * np.log(1 / EPSILON))
    assert np.isfinite(value)


def test_samples_of_one_distribution_stay_under_the_threshold_and_a_shift_crosses_it() -> None:
    rng = np.random.default_rng(7)
    reference = Profile.build(values(rng, 1000), ["negative", "positive"], "synthetic")
    for _ in range(5):  # windows of the minimum size the check accepts
        same = reference.drift(Profile.build(values(rng, 500), ["n", "p"], "").counts)
        assert max(v for v in same.values() if v is not None) < 0.1, same
    shifted = reference.drift(Profile.build(values(rng, 500, short=True), ["n", "p"], "").counts)
    assert shifted["tokens"] > 0.2 and shifted["confidence"] > 0.2 and shifted["truncated"] > 0.2
    assert shifted["predicted"] < 0.1  # the labels' mix did not move


def test_profile_round_trips_and_refuses_what_it_cannot_compare(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    profile = Profile.build(values(rng, 200), ["negative", "positive"], "synthetic")
    write_profile(tmp_path, profile)
    again = read_profile(tmp_path)
    assert again is not None and again.counts == profile.counts and again.count == 200
    assert read_profile(tmp_path / "nowhere") is None  # a bundle from before profiles

    data = json.loads((tmp_path / PROFILE_FILE).read_text())
    data["edges"]["tokens"] = [10, 20]  # counted with other buckets than this code's
    data["counts"]["tokens"] = [100, 50, 50]  # consistent with its own edges: readable
    other = Profile.from_dict(data)
    drift = other.drift(profile.counts)
    assert drift["tokens"] is None and drift["confidence"] == pytest.approx(0.0)

    data["counts"]["confidence"] = [1, 2]
    with pytest.raises(ProfileError, match="confidence must hold 7 counts summing to 200"):
        Profile.from_dict(data)
    (tmp_path / PROFILE_FILE).write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        read_profile(tmp_path)
