"""Every way S3 says no, against a real S3 server on loopback (moto's, with IAM checked where a
test needs it): a StorageError whose message names the fix, never a botocore traceback."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from contract.s3_errors import kind
from contract.storage import StorageError, check_writable, fetch_bundle, publish_bundle
from tests.aws_auth import iam_enforced, user_with
from tests.contract.bundles import make_bundle

CREDENTIALS = "AWS refused or found no credentials: set AWS_PROFILE"


def keys(client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_publishing_to_a_missing_bucket_names_the_bucket(s3, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", "run-1")
    with pytest.raises(StorageError) as caught:
        publish_bundle(bundle, "s3://no-such-bucket-here/models", "run-1", update_latest=True)
    message = str(caught.value)
    assert message.startswith("cannot publish to s3://no-such-bucket-here/models: ")
    assert "the bucket no-such-bucket-here does not exist" in message
    assert "ArtifactsBucketName" in message


def test_publishing_without_write_permission_names_the_permission(
    s3, s3_server: str, tmp_path: Path
) -> None:
    client, bucket = s3
    bundle = make_bundle(tmp_path / "b", "run-1")
    reader = boto3.client("s3", **user_with(["s3:GetObject", "s3:ListBucket"]))
    with iam_enforced(s3_server), pytest.raises(StorageError) as caught:
        publish_bundle(bundle, f"s3://{bucket}/models", "run-1", update_latest=True, client=reader)
    assert "AccessDenied" in str(caught.value)
    assert "these credentials are not allowed to: grant s3:PutObject" in str(caught.value)
    assert keys(client, bucket) == []  # nothing half-published, no pointer


def test_fetching_with_unknown_credentials_names_the_credentials(
    s3, s3_server: str, tmp_path: Path
) -> None:
    _, bucket = s3
    publish_bundle(
        make_bundle(tmp_path / "b", "run-1"), f"s3://{bucket}/models", "run-1", update_latest=True
    )
    stranger = boto3.client(
        "s3", aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="x"
    )
    with iam_enforced(s3_server), pytest.raises(StorageError) as caught:
        fetch_bundle(f"s3://{bucket}/models/run-1", tmp_path / "cache", client=stranger)
    message = str(caught.value)
    # S3 answers a HEAD with a bare 403, a GET with the reason; either way the fix is named.
    assert "credentials are not valid" in message or CREDENTIALS in message
    assert "aws sts get-caller-identity" in message


def test_fetching_from_a_missing_bucket_says_so(s3, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="the bucket no-such-bucket-here does not exist"):
        fetch_bundle("s3://no-such-bucket-here/models/run-1", tmp_path / "cache")


def test_no_credentials_at_all_names_where_to_put_them(
    s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bucket = s3
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches credentials it found before
    with pytest.raises(StorageError, match=CREDENTIALS) as caught:
        check_writable(f"s3://{bucket}/models")
    assert str(caught.value).startswith(f"cannot write to s3://{bucket}/models: ")
    with pytest.raises(StorageError, match=CREDENTIALS):
        fetch_bundle(f"s3://{bucket}/models/run-1", tmp_path / "cache")


def test_an_unreachable_endpoint_names_the_network(tmp_path: Path, monkeypatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    for name, value in {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StorageError, match="AWS cannot be reached from this machine") as caught:
        fetch_bundle("s3://some-bucket/models/run-1", tmp_path / "cache")
    assert kind(caught.value.__cause__) == "network"
