"""The training job writes the reference profile into the bundle (the tiny run of the real CLI):
its held-out split through the served model, counted in the shared buckets, covered by the
manifest like every other file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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


def test_a_changed_profile_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy, ignore=shutil.ignore_patterns("hf"))
    profile = json.loads((copy / PROFILE_FILE).read_text())
    profile["counts"]["confidence"][0] += 1
    profile["count"] += 1  # still a consistent profile, just not the one published
    (copy / PROFILE_FILE).write_text(json.dumps(profile))
    with pytest.raises(BundleError, match=f"{PROFILE_FILE}: (size|sha256)"):
        verify_bundle(copy, serving_only=True)
