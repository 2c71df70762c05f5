"""One region for `python -m training launch`: the job's, the image's, the buckets' (S3's
GetBucketLocation) and the deployed stack's (its outputs), checked through the CLI against the
loopback moto server before anything is uploaded or created."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from tests.conftest import run_cli
from tests.training.test_launch import HYPER, IMAGE, ROLE, keys, training_jobs
from training.job_image import dlc_uri


@pytest.fixture
def eu_bucket(s3) -> str:
    """A bucket in eu-west-1 on the same server (the `s3` fixture's is in us-east-1)."""
    name = f"eu-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return name


def outputs_file(tmp_path, bucket: str, region: str) -> str:
    """A `cdk deploy --outputs-file` JSON of a stack deployed in `region`."""
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"SentimentApi": {
        "ApiUrl": f"https://abc123.execute-api.{region}.amazonaws.com/prod/",
        "ArtifactsBucketName": bucket,
        "TrainingRoleArn": ROLE,
    }}))  # fmt: skip
    return str(path)


def assert_nothing_created(client, *buckets: str) -> None:
    for bucket in buckets:
        assert keys(client, bucket) == []
    eu = boto3.client("sagemaker", region_name="eu-west-1").list_training_jobs()
    assert "job-r" not in training_jobs() + [
        j["TrainingJobName"] for j in eu["TrainingJobSummaries"]
    ]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (lambda eu, us: ["--bucket", eu], "(the artifacts bucket) is in eu-west-1"),
        (lambda eu, us: ["--bucket", us, "--output", f"s3://{eu}/models"], "(--output) is in"),
        (lambda eu, us: ["--bucket", us, "--train_data", f"s3://{eu}/data/"], "(--train_data) is"),
    ],
)
def test_a_bucket_in_another_region_is_refused_before_anything_is_created(
    s3, eu_bucket, caplog, flags, named
):
    client, bucket = s3
    code = run_cli("launch", "--image_uri", IMAGE, "--role_arn", ROLE, "--region", "us-east-1",
                   "--job_name", "job-r", *flags(eu_bucket, bucket), *HYPER)  # fmt: skip
    assert code == 2
    assert f"s3://{eu_bucket} {named}" in caplog.text
    assert "eu-west-1 but the job runs in us-east-1" in caplog.text
    assert "--region eu-west-1" in caplog.text  # the fix, one of two
    assert_nothing_created(client, bucket, eu_bucket)


def test_a_stack_in_another_region_is_refused_before_anything_is_created(
    s3, eu_bucket, tmp_path, caplog
):
    client, bucket = s3
    code = run_cli("launch", "--image_uri", IMAGE, "--region", "us-east-1", "--job_name", "job-r",
                   "--stack_outputs", outputs_file(tmp_path, bucket, "eu-west-1"))  # fmt: skip
    assert code == 2
    assert "the stack SentimentApi (--stack_outputs) is in eu-west-1 but the job runs in " \
        "us-east-1" in caplog.text  # fmt: skip
    assert "export AWS_REGION=eu-west-1" in caplog.text
    assert_nothing_created(client, bucket, eu_bucket)


def test_an_image_from_another_region_names_both(s3, caplog):
    client, bucket = s3
    code = run_cli("launch", "--image_uri", dlc_uri("eu-west-1"), "--role_arn", ROLE,
                   "--bucket", bucket, "--region", "us-east-1", "--job_name", "job-r")  # fmt: skip
    assert code == 2
    assert "--image_uri is in eu-west-1 but the job runs in us-east-1" in caplog.text
    assert dlc_uri("us-east-1") in caplog.text  # the same image where the job runs
    assert_nothing_created(client, bucket)


def launched_in_eu(job_name: str) -> dict:
    return boto3.client("sagemaker", region_name="eu-west-1").describe_training_job(
        TrainingJobName=job_name
    )


def test_aws_region_as_deploy_md_exports_it_is_the_jobs(
    s3, eu_bucket, tmp_path, monkeypatch, caplog
):
    """`export AWS_REGION=eu-west-1` (docs/deploy.md) wins over AWS_DEFAULT_REGION (here
    us-east-1), which is all botocore itself reads."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    code = run_cli("launch", "--image_uri", dlc_uri("eu-west-1"), "--job_name", "job-eu-env",
                   "--stack_outputs", outputs_file(tmp_path, eu_bucket, "eu-west-1"))  # fmt: skip
    assert code == 0, caplog.text
    assert json.loads(launched_in_eu("job-eu-env")["HyperParameters"]["sagemaker_region"]) == (
        "eu-west-1"
    )


def test_without_a_region_the_job_runs_in_the_stacks(s3, eu_bucket, tmp_path, monkeypatch, caplog):
    """No --region, AWS_REGION or AWS_DEFAULT_REGION: the stack's outputs say where it is, and
    everything there matches, so the job is created in eu-west-1."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the region it found
    code = run_cli("launch", "--image_uri", dlc_uri("eu-west-1"), "--job_name", "job-eu",
                   "--stack_outputs", outputs_file(tmp_path, eu_bucket, "eu-west-1"))  # fmt: skip
    assert code == 0, caplog.text
    job = launched_in_eu("job-eu")
    assert json.loads(job["HyperParameters"]["sagemaker_region"]) == "eu-west-1"
    assert job["AlgorithmSpecification"]["TrainingImage"] == dlc_uri("eu-west-1")
