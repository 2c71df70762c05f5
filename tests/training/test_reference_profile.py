"""The training job writes the reference profile into the bundle (the tiny run of the real CLI):
its held-out split through the served model, counted in the shared buckets, covered by the
manifest like every other file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contract.audit import LabelledCounts, reference
from contract.bundle import BundleError, read_manifest, verify_bundle
from contract.profile import PROFILE_FILE, dimensions, read_profile


def test_the_bundle_carries_a_profile_of_its_test_split(tiny_bundle: Path) -> None:
    manifest = read_manifest(tiny_bundle)
    assert PROFILE_FILE in manifest.served_files()  # fetched and verified with the model
    profile = read_profile(tiny_bundle)
    assert profile is not None
    assert profile.count == manifest.data["sizes"]["test"] == 48
    assert profile.labels == manifest.labels
    assert set(profile.counts) == {d.name for d in dimensions(2)}
    assert all(sum(c) == profile.count for c in profile.counts.values())
    assert "served model" in profile.source and manifest.long_text["strategy"] in profile.source


def test_the_profile_counts_the_test_split_labelled(tiny_bundle: Path) -> None:
    """What a labelled bulk-scoring file is judged against (contract/audit.py): the test split's
    confusion matrix and reliability counts, as served, agreeing with the manifest's metrics."""
    manifest = read_manifest(tiny_bundle)
    profile = read_profile(tiny_bundle)
    assert profile is not None
    counts = LabelledCounts.from_dict(profile.extra["labelled"])
    assert counts.labels == manifest.labels and counts.n == 48
    per_label = manifest.data["class_counts"]["test"]
    assert [sum(row) for row in counts.confusion] == [per_label["0"], per_label["1"]]
    # The reading served is the trained one here, so these are the served metrics' predictions.
    assert manifest.long_text["strategy"] == manifest.encoder["truncation"]
    assert counts.correct / counts.n == pytest.approx(
        manifest.metrics["served"]["metrics"]["accuracy"]
    )
    # Its ECE is the model card's (same bins, same calibrated scores), up to the 6 decimals kept.
    assert counts.ece() == pytest.approx(manifest.metrics["calibration"]["ece_after"], abs=1e-5)
    ref = reference(manifest.labels, profile.extra, manifest.metrics, manifest.data)
    assert ref is not None and ref.source.startswith("reference profile")


def test_a_changed_profile_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy, ignore=shutil.ignore_patterns("hf"))
    profile = json.loads((copy / PROFILE_FILE).read_text())
    profile["counts"]["confidence"][0] += 1
    profile["count"] += 1  # still a consistent profile, just not the one published
    (copy / PROFILE_FILE).write_text(json.dumps(profile))
    with pytest.raises(BundleError, match=f"{PROFILE_FILE}: (size|sha256)"):
        verify_bundle(copy, serving_only=True)
