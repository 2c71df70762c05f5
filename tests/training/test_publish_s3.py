"""Publishing to a real S3 endpoint on loopback (moto's standalone server)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from contract.bundle import BundleError, read_manifest
from contract.storage import StorageError, fetch_bundle, publish_bundle
from tests.conftest import TINY_ARGS, run_cli


def keys(client, bucket, prefix=""):
    out = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in out.get("Contents", []))


def test_cli_publishes_to_s3_and_moves_the_pointer(s3, tmp_path):
    client, bucket = s3
    code = run_cli(
        *TINY_ARGS,
        "--baseline",
        "false",
        "--save_hf_checkpoint",
        "false",
        "--run_id",
        "run-a",
        "--output",
        f"s3://{bucket}/models",
        "--output_dir",
        str(tmp_path / "w"),
    )
    assert code == 0
    listed = keys(client, bucket, "models/run-a/")
    assert {
        "models/run-a/manifest.json",
        "models/run-a/model.onnx",
        "models/run-a/tokenizer.json",
        "models/run-a/metrics.json",
    } <= set(listed)
    pointer = json.loads(client.get_object(Bucket=bucket, Key="models/latest.json")["Body"].read())
    assert pointer["run_id"] == "run-a"

    # Download through the serving path: every file's sha256 is checked against the manifest.
    local = fetch_bundle(f"s3://{bucket}/models/latest.json", tmp_path / "cache")
    manifest = read_manifest(local)
    assert sorted(f"models/run-a/{n}" for n in [*manifest.files, "manifest.json"]) == listed
    for name, entry in manifest.files.items():
        assert hashlib.sha256((local / name).read_bytes()).hexdigest() == entry["sha256"]
    assert fetch_bundle(f"s3://{bucket}/models", tmp_path / "cache2").name == "run-a"
    assert run_cli("verify", f"s3://{bucket}/models/run-a") == 0


@pytest.fixture
def published(s3, tiny_bundle, tmp_path):
    """run-a published with the pointer on it, and a second bundle run-b staged locally."""
    client, bucket = s3
    a = tmp_path / "a"
    shutil.copytree(tiny_bundle, a)
    _rename_run(a, "run-a")
    publish_bundle(a, f"s3://{bucket}/models", "run-a", update_latest=True)
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    _rename_run(b, "run-b")
    return client, bucket, b


def _rename_run(bundle, run_id):
    from contract.bundle import write_manifest

    manifest = read_manifest(bundle)
    manifest.run_id = run_id
    write_manifest(bundle, manifest)


def pointer_run(client, bucket):
    body = client.get_object(Bucket=bucket, Key="models/latest.json")["Body"].read()
    return json.loads(body)["run_id"]


def test_failure_mid_upload_leaves_no_manifest_and_the_pointer_unchanged(published):
    client, bucket, bundle_b = published
    sent = {"bytes": 0}

    def network_drops_after_1mb(n: int) -> None:
        sent["bytes"] += n
        if sent["bytes"] > 1_000_000:
            raise ConnectionError("connection reset mid-upload")

    with pytest.raises(ConnectionError):
        publish_bundle(
            bundle_b,
            f"s3://{bucket}/models",
            "run-b",
            update_latest=True,
            progress=network_drops_after_1mb,
        )
    assert sent["bytes"] > 1_000_000  # it failed part-way, not before starting
    assert "models/run-b/manifest.json" not in keys(client, bucket)
    assert keys(client, bucket, "models/run-b/") == []  # partial objects tidied up
    assert pointer_run(client, bucket) == "run-a"
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        fetch_bundle(f"s3://{bucket}/models/run-b", bundle_b.parent / "cache")


def test_failed_quality_gate_publishes_without_moving_the_pointer(published):
    client, bucket, bundle_b = published
    publish_bundle(bundle_b, f"s3://{bucket}/models", "run-b", update_latest=False)
    assert "models/run-b/manifest.json" in keys(client, bucket)
    assert pointer_run(client, bucket) == "run-a"


def test_a_published_run_is_never_overwritten(published, tiny_bundle):
    _, bucket, _ = published
    with pytest.raises(StorageError, match="already published"):
        publish_bundle(
            published[2].parent / "a", f"s3://{bucket}/models", "run-a", update_latest=True
        )


def test_tampered_object_in_s3_is_refused(published, tmp_path):
    client, bucket, _ = published
    client.put_object(Bucket=bucket, Key="models/run-a/tokenizer.json", Body=b"{}")
    with pytest.raises(BundleError, match=r"tokenizer\.json: size"):
        fetch_bundle(f"s3://{bucket}/models/run-a", tmp_path / "cache")


def test_quality_gate_through_the_cli(s3, tmp_path, caplog):
    client, bucket = s3
    code = run_cli(
        *TINY_ARGS,
        "--baseline",
        "false",
        "--save_hf_checkpoint",
        "false",
        "--min_accuracy",
        "1.0",
        "--max_test_samples",
        "200",
        "--run_id",
        "low",
        "--output",
        f"s3://{bucket}/models",
        "--output_dir",
        str(tmp_path / "w"),
    )
    assert code == 3
    assert "latest.json was not moved" in caplog.text
    assert "models/low/manifest.json" in keys(client, bucket)
    assert "models/latest.json" not in keys(client, bucket)


def test_serving_fetch_skips_the_training_checkpoint(published, tmp_path):
    _, bucket, _ = published
    local = fetch_bundle(f"s3://{bucket}/models/latest.json", tmp_path / "c", serving_only=True)
    assert (local / "model.onnx").is_file() and (local / "tokenizer.json").is_file()
    assert not (local / "hf").exists()
    assert any(n.startswith("hf/") for n in read_manifest(local).files)  # listed, not fetched
