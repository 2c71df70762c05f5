"""`python -m training launch` against a real AWS API endpoint on loopback (moto's server):
S3 for the code, SageMaker for the job, CloudWatch Logs for its output."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import fields

import boto3
import pytest

from tests.conftest import REPO, run_cli
from training.args import DataArguments, JobArguments, ModelArguments
from training.job_image import JOB_REQUIREMENTS, dlc_uri
from training.job_status import LOG_GROUP
from training.launch_args import LaunchArguments

ROLE = "arn:aws:iam::123456789012:role/SentimentApi-TrainingRole"
IMAGE = dlc_uri("us-east-1")
# The image docs/gpu-training.md named before: transformers 5 turns its torch off.
OLD_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:"
    "2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04"
)
HYPER = ["--max_steps", "100", "--learning_rate", "1e-4", "--truncation", "head", "--baseline"]


def launch(bucket: str, *extra: str) -> int:
    return run_cli("launch", "--image_uri", IMAGE, "--role_arn", ROLE, "--bucket", bucket, *extra)


def training_jobs() -> list[str]:
    client = boto3.client("sagemaker")
    return [j["TrainingJobName"] for j in client.list_training_jobs()["TrainingJobSummaries"]]


def keys(client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_launch_uploads_the_code_and_creates_the_job(s3, tmp_path, caplog):
    client, bucket = s3
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(
        json.dumps({"SentimentApi": {"TrainingRoleArn": ROLE, "ArtifactsBucketName": bucket}})
    )
    code = run_cli(
        "launch", "--image_uri", IMAGE, "--stack_outputs", str(outputs),
        "--job_name", "job-a", *HYPER, "--wait", "--poll_seconds", "0.1",
    )  # fmt: skip
    assert code == 0, caplog.text
    assert "training job job-a completed" in caplog.text  # moto completes jobs at once

    assert keys(client, bucket) == ["code/job-a/sourcedir.tar.gz"]
    body = client.get_object(Bucket=bucket, Key="code/job-a/sourcedir.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile(JOB_REQUIREMENTS).read().decode().split()
        tar.extractall(tmp_path / "code", filter="data")
    assert {"sagemaker_entry.py", JOB_REQUIREMENTS, "training/cli.py", "training/launch.py",
            "contract/bundle.py", "contract/storage.py"} <= names  # fmt: skip
    # The toolkit would pip install a requirements.txt itself, free to replace the image's torch.
    assert "requirements.txt" not in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert any(r.startswith("transformers>=5") for r in requirements)
    # torch only as a floor, which the image's CUDA build meets (never a pin pip would install)
    assert [r for r in requirements if r.startswith("torch")] == ["torch>=2.6"]

    job = boto3.client("sagemaker").describe_training_job(TrainingJobName="job-a")
    assert job["RoleArn"] == ROLE
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
    }
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 24 * 3600}
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/training-jobs"
    hyper = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hyper == {
        "max_steps": "100",
        "learning_rate": "1e-4",  # unchanged, not re-printed as 0.0001
        "truncation": "head",
        "baseline": "true",
        "output": f"s3://{bucket}/models",
        "sagemaker_program": "sagemaker_entry.py",
        "sagemaker_submit_directory": f"s3://{bucket}/code/job-a/sourcedir.tar.gz",
        "sagemaker_container_log_level": 20,
        "sagemaker_region": "us-east-1",
    }

    # What the image's toolkit runs: the entry point in the unpacked tarball, with flags. Here
    # the "image" is this environment, which has every requirement: pip, kept off any index,
    # finds them all installed and leaves this torch alone.
    unpacked = tmp_path / "code"
    env = {**os.environ, "SM_NUM_GPUS": "1", "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "sagemaker_entry.py", "--help"],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    torch = importlib.metadata.version("torch")
    assert f"installing {JOB_REQUIREMENTS} with the image's torch {torch} kept" in done.stderr
    assert "Requirement already satisfied: torch>=2.6" in done.stdout
    assert importlib.metadata.version("torch") == torch
    assert "--max_train_samples" in done.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import training.cli, contract.storage; print(training.cli.__file__)"],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert where.stdout.strip() == str(unpacked / "training" / "cli.py")  # not this checkout


def test_a_failed_job_ends_with_its_reason_and_a_non_zero_exit(s3, monkeypatch, caplog):
    """moto creates every training job as Completed. Here the server (same process) creates it
    InProgress, as SageMaker does; while `--wait` polls over HTTP, the job writes a log line
    through the CloudWatch Logs API and the server marks it Failed with a reason."""
    from moto.sagemaker import models as sm_models

    _, bucket = s3
    original_init = sm_models.FakeTrainingJob.__init__

    def in_progress(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.training_job_status, self.secondary_status = "InProgress", "Training"

    monkeypatch.setattr(sm_models.FakeTrainingJob, "__init__", in_progress)
    reason = "AlgorithmError: ExecuteUserScriptError: exit code 4 (parity gate)"

    def the_job_fails() -> None:
        job = None
        for _ in range(600):
            job = next(
                (
                    backend.training_jobs["job-f"]
                    for _, _, backend in sm_models.sagemaker_backends.iter_backends()
                    if "job-f" in backend.training_jobs
                ),
                None,
            )
            if job is not None:
                break
            time.sleep(0.05)
        assert job is not None
        time.sleep(0.3)  # let --wait see it in progress first
        logs = boto3.client("logs")
        stream = "job-f/algo-1-1700000000"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "ParityError: boom"}],
        )
        job.training_job_status, job.secondary_status = "Failed", "Failed"
        job.failure_reason = reason

    failer = threading.Thread(target=the_job_fails, daemon=True)
    failer.start()
    code = launch(bucket, "--job_name", "job-f", "--wait", "--poll_seconds", "0.1")
    failer.join(timeout=30)
    assert code == 1
    assert "training job job-f: InProgress (Training)" in caplog.text
    assert "[algo-1-1700000000] ParityError: boom" in caplog.text
    assert f"training job job-f failed: {reason}" in caplog.text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--role_arn", ""], "no role for the job"),
        (["--role_arn", "my-role"], "is not an IAM role ARN"),
        (["--instance_type", "g5.xlarge"], "is not a SageMaker instance type"),
        (["--instance_type", "ml.g5"], "is not a SageMaker instance type"),
        (["--max_step", "5"], "unknown flag(s) --max_step"),
        (["--learning_rate", "0"], "--learning_rate and --per_device_train_batch_size"),
        (["--output", "/tmp/models"], "publish to s3://"),
        (["--image_uri", "pytorch:latest"], "is not an ECR image URI"),
        (["--image_uri", OLD_IMAGE], "ships torch 2.5 and Python 3.11; the job needs torch>=2.6"),
        (["--region", "eu-west-1"], "SageMaker pulls training images from its own region"),
        (["config.json"], "unexpected argument 'config.json'"),
    ],
)
def test_bad_input_fails_before_anything_is_created(s3, caplog, flags, message):
    client, bucket = s3
    before = training_jobs()
    args = {"--image_uri": IMAGE, "--role_arn": ROLE, "--bucket": bucket}
    rest = []
    for i in range(0, len(flags), 2):
        if flags[i] in args:
            args[flags[i]] = flags[i + 1]
        else:
            rest.extend(flags[i : i + 2])
    assert run_cli("launch", *[t for kv in args.items() for t in kv], *rest) == 2
    assert message in caplog.text
    assert keys(client, bucket) == []
    assert training_jobs() == before


def test_an_unreachable_bucket_fails_before_anything_is_created(s3, caplog):
    before = training_jobs()
    assert launch("no-such-bucket-here", "--job_name", "job-u") == 2
    assert "cannot use s3://no-such-bucket-here: the bucket no-such-bucket-here does not exist" in (
        caplog.text
    )
    assert training_jobs() == before


def test_launch_and_training_flags_never_share_a_name():
    training = {f.name for dc in (ModelArguments, DataArguments, JobArguments) for f in fields(dc)}
    assert not training & {f.name for f in fields(LaunchArguments)}


def test_launch_help_documents_its_flags():
    out = subprocess.run(
        [sys.executable, "-m", "training", "launch", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0
    for flag in ("--image_uri", "--stack_outputs", "--role_arn", "--instance_type", "--wait"):
        assert flag in out.stdout
