"""AWS saying no to the training CLI, against the loopback moto server with IAM enforced: a
message that names the fix and an exit code, never a botocore traceback."""

from __future__ import annotations

import boto3
import pytest

from tests.aws_auth import iam_enforced, user_with
from tests.conftest import run_cli
from tests.training.test_launch import keys, launch, training_jobs


def use_credentials(monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["aws_secret_access_key"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found


def test_launch_without_write_permission_names_it_and_creates_nothing(
    s3, s3_server, monkeypatch, caplog
):
    client, bucket = s3
    before = training_jobs()
    use_credentials(
        monkeypatch, user_with(["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"])
    )
    with iam_enforced(s3_server):
        code = launch(bucket, "--job_name", "job-denied")
    assert code == 2
    assert f"cannot write to s3://{bucket}/code" in caplog.text
    assert "grant s3:PutObject" in caplog.text
    assert "Traceback" not in caplog.text
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    assert keys(client, bucket) == [] and training_jobs() == before


def test_credentials_that_expire_while_following_stop_the_wait_not_the_job(s3, monkeypatch, caplog):
    """Hours into --wait, an SSO session runs out: the job keeps running, and the message says
    so, what to renew and how to follow it again. The server (same process) starts checking
    credentials as soon as it has created the job."""
    from moto import settings
    from moto.sagemaker import models as sm_models

    _, bucket = s3
    original_init = sm_models.FakeTrainingJob.__init__
    monkeypatch.setattr(
        settings, "INITIAL_NO_AUTH_ACTION_COUNT", settings.INITIAL_NO_AUTH_ACTION_COUNT
    )

    def created_then_credentials_expire(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.training_job_status, self.secondary_status = "InProgress", "Training"
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # "testing" is no IAM user's key

    monkeypatch.setattr(sm_models.FakeTrainingJob, "__init__", created_then_credentials_expire)
    code = launch(bucket, "--job_name", "job-expiring", "--wait", "--poll_seconds", "0.1")
    assert code == 2
    assert "stopped following training job job-expiring, which keeps running" in caplog.text
    assert "credentials" in caplog.text and "sagemaker:DescribeTrainingJob" in caplog.text
    assert "describe-training-job --training-job-name job-expiring" in caplog.text
    assert "Traceback" not in caplog.text


def test_verify_with_unknown_credentials_names_them(s3, s3_server, monkeypatch, caplog):
    _, bucket = s3
    use_credentials(
        monkeypatch, {"aws_access_key_id": "AKIAUNKNOWNKEY000000", "aws_secret_access_key": "x"}
    )
    with iam_enforced(s3_server):
        code = run_cli("verify", f"s3://{bucket}/models/run-1")
    assert code == 1
    assert f"verify failed: cannot read s3://{bucket}/models/run-1" in caplog.text
    assert "the credentials are not valid" in caplog.text
