"""latest.json carries the sha256 of the manifest it was published with; following it checks
that, locally and on S3 (a real S3 server on loopback), so a run changed after publishing is
refused with a message that says what happened and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.bundle import LATEST_POINTER, MANIFEST, MODEL_FILE, BundleError, sha256_file
from contract.storage import fetch_bundle, publish_bundle, resolve_local
from tests.contract.bundles import make_bundle

CHANGED = "changed after it was published"


def republish_in_place(run: Path) -> None:
    """What a hand-edited run looks like: a different model and a manifest rewritten to match,
    so the run verifies on its own and only the pointer can tell."""
    make_bundle(run, run.name, model_bytes=b"a different model")


def test_a_published_pointer_names_the_manifest_and_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "models"
    publish_bundle(make_bundle(tmp_path / "b", "run-1"), str(root), "run-1", update_latest=True)
    pointer = json.loads((root / LATEST_POINTER).read_text())
    assert pointer["manifest_sha256"] == sha256_file(root / "run-1" / MANIFEST)
    assert resolve_local(root) == root / "run-1"
    assert fetch_bundle(str(root), tmp_path / "cache") == root / "run-1"


def test_a_local_run_changed_after_publishing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "models"
    publish_bundle(make_bundle(tmp_path / "b", "run-1"), str(root), "run-1", update_latest=True)
    republish_in_place(root / "run-1")
    with pytest.raises(BundleError, match=CHANGED) as caught:
        fetch_bundle(str(root), tmp_path / "cache")
    assert "Re-publish it" in str(caught.value)
    with pytest.raises(BundleError, match=CHANGED):
        resolve_local(root / LATEST_POINTER)
    # The run itself, asked for by name, still verifies: the pointer is what no longer holds.
    assert fetch_bundle(str(root / "run-1"), tmp_path / "cache") == root / "run-1"


@pytest.mark.parametrize(
    ("pointer", "message"),
    [
        ({"run_id": "run-1"}, "no valid manifest_sha256"),
        ({"run_id": "run-1", "manifest_sha256": "abc"}, "no valid manifest_sha256"),
        ({"run_id": "run-2", "manifest_sha256": "0" * 64}, "has no manifest.json"),
    ],
)
def test_a_pointer_that_cannot_be_checked_is_refused(tmp_path: Path, pointer, message) -> None:
    root = tmp_path / "models"
    publish_bundle(make_bundle(tmp_path / "b", "run-1"), str(root), "run-1", update_latest=True)
    (root / LATEST_POINTER).write_text(json.dumps(pointer))
    with pytest.raises(BundleError, match=message):
        fetch_bundle(str(root), tmp_path / "cache")


def test_an_s3_run_changed_after_publishing_is_refused_before_its_model_is_fetched(
    s3, tmp_path: Path
) -> None:
    client, bucket = s3
    root = f"s3://{bucket}/models"
    publish_bundle(make_bundle(tmp_path / "b", "run-1"), root, "run-1", update_latest=True)
    cached = fetch_bundle(f"{root}/latest.json", tmp_path / "cache")
    assert (cached / MODEL_FILE).read_bytes() == b"onnx model bytes"

    changed = make_bundle(tmp_path / "changed", "run-1", model_bytes=b"a different model")
    for name in (MODEL_FILE, MANIFEST):
        client.upload_file(str(changed / name), bucket, f"models/run-1/{name}")
    # The cached copy still matches the pointer, so it is served as it was published...
    assert fetch_bundle(root, tmp_path / "cache") == cached
    # ...and a machine without it refuses the changed run.
    with pytest.raises(BundleError, match=CHANGED):
        fetch_bundle(root, tmp_path / "fresh-cache")
    assert not (tmp_path / "fresh-cache" / bucket / "models" / "run-1" / MODEL_FILE).exists()
