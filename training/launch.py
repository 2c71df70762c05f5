"""python -m training launch --image_uri <image> --stack_outputs cdk.out/outputs.json [--wait] [flags]

Packages contract/ and training/ as sourcedir.tar.gz, uploads it to s3://<bucket>/code/<job>/,
and creates a SageMaker training job on a GPU instance that runs `python -m training <training
flags>` (torchrun over every GPU when the instance has several) and publishes the bundle to
s3://<bucket>/models itself. Any flag that is not a launch flag below is a training flag: it is
checked against `python -m training --help` here, then handed to the job unchanged.
Everything is checked before anything is uploaded or created.
"""

from __future__ import annotations

import json
import logging
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from contract.s3_errors import explain
from contract.storage import StorageError, check_writable, parse_s3_uri, s3_client
from training.args import ArgumentError
from training.job_image import JOB_REQUIREMENTS, REPO, job_requirements
from training.job_status import follow, sagemaker_client
from training.launch_args import (
    LaunchArguments,
    Target,
    check_training_flags,
    parse,
    resolve_target,
)
from training.launch_region import check_buckets

log = logging.getLogger(__name__)

ENTRY_POINT = "sagemaker_entry.py"
# The IAM actions launch and --wait call, as docs/gpu-training.md lists them for the person who
# launches (tests/training/test_launch_permissions.py checks them against the boto3 calls of
# launch and --wait, and runs both under IAM with exactly these).
LAUNCH_ACTIONS = (
    "s3:GetBucketLocation",  # one region: the buckets' (training/launch_region.py)
    "s3:PutObject",  # the write probe, the code upload
    "s3:DeleteObject",  # the write probe; the code again when SageMaker refuses the job
    "sagemaker:DescribeTrainingJob",  # is the job name free?
    "sagemaker:CreateTrainingJob",
    "sagemaker:AddTags",  # CreateTrainingJob with Tags needs it too
    "iam:PassRole",  # on the job's role: CreateTrainingJob hands it to SageMaker
)
FOLLOW_ACTIONS = ("sagemaker:DescribeTrainingJob", "logs:DescribeLogStreams", "logs:GetLogEvents")
# For the messages when they are missing.
LAUNCH_PERMISSIONS = ", ".join(LAUNCH_ACTIONS[:-1]) + " and iam:PassRole on the job's role"
FOLLOW_PERMISSIONS = ", ".join(FOLLOW_ACTIONS[:-1]) + " and " + FOLLOW_ACTIONS[-1]


class LaunchError(Exception):
    """SageMaker or S3 refused something; the message says what."""


# ---------------------------------------------------------------- the job


def package_source(dest: Path) -> Path:
    """sourcedir.tar.gz: contract/, training/, the entry point and the job's requirements at the
    top (training/job_image.py)."""
    try:
        body = job_requirements().encode()
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise LaunchError(f"launch runs from a checkout of the repository: {exc}") from exc
    with tarfile.open(dest, "w:gz") as tar:
        for package in ("contract", "training"):
            for path in sorted((REPO / package).rglob("*.py")):
                tar.add(path, arcname=path.relative_to(REPO).as_posix())
        tar.add(REPO / "training" / ENTRY_POINT, arcname=ENTRY_POINT)
        info = tarfile.TarInfo(JOB_REQUIREMENTS)
        info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
        with tempfile.TemporaryFile() as fh:
            fh.write(body)
            fh.seek(0)
            tar.addfile(info, fh)
    return dest


def job_definition(
    launch: LaunchArguments, target: Target, hyperparameters: dict[str, str]
) -> dict[str, Any]:
    # Script mode, as the SageMaker SDK does it: every value JSON-encoded; the image's training
    # toolkit decodes them and runs `python sagemaker_entry.py --name value ...`.
    given = {**hyperparameters, "output": target.output}
    encoded = {name: json.dumps(value) for name, value in given.items()}
    encoded |= {
        "sagemaker_program": json.dumps(ENTRY_POINT),
        "sagemaker_submit_directory": json.dumps(target.code_uri),
        "sagemaker_container_log_level": json.dumps(logging.INFO),
        "sagemaker_region": json.dumps(target.region),
    }
    definition: dict[str, Any] = {
        "TrainingJobName": target.job_name,
        "RoleArn": target.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": launch.image_uri,
            "TrainingInputMode": "File",
        },
        "HyperParameters": encoded,
        "OutputDataConfig": {"S3OutputPath": f"s3://{target.bucket}/training-jobs"},
        "ResourceConfig": {
            "InstanceType": launch.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": launch.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": int(launch.max_runtime_hours * 3600)},
        "Tags": [{"Key": "project", "Value": "sentiment-api"}],
    }
    if launch.train_data:
        definition["InputDataConfig"] = [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": launch.train_data,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ]
    return definition


def job_exists(sagemaker: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sagemaker.describe_training_job(TrainingJobName=name)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":
            return False  # "Could not find training job"
        raise LaunchError(
            f"cannot ask SageMaker about training job {name!r}: {exc}. "
            + explain(exc, permissions=LAUNCH_PERMISSIONS, what="the training image")
        ) from exc


def launch(launch_args: LaunchArguments, hyperparameters: dict[str, str]) -> Target:
    """Checks everything, uploads the code, creates the job; returns where it runs."""
    from botocore.exceptions import ClientError

    check_training_flags(hyperparameters)
    target = resolve_target(launch_args, hyperparameters)
    buckets = {target.bucket: "the artifacts bucket"}
    buckets.setdefault(parse_s3_uri(target.output).bucket, "--output")
    if launch_args.train_data:
        buckets.setdefault(parse_s3_uri(launch_args.train_data).bucket, "--train_data")
    check_buckets(target.region, buckets, s3_client())
    check_writable(f"s3://{target.bucket}/code")  # an unreachable bucket fails before the job
    sagemaker = sagemaker_client(target.region)
    if job_exists(sagemaker, target.job_name):
        raise ArgumentError(f"a training job named {target.job_name!r} exists; pick --job_name")

    code = parse_s3_uri(target.code_uri)
    s3 = s3_client()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = package_source(Path(tmp) / "sourcedir.tar.gz")
        s3.upload_file(str(tarball), code.bucket, code.prefix)
    log.info("uploaded the training code to %s", target.code_uri)
    try:
        sagemaker.create_training_job(**job_definition(launch_args, target, hyperparameters))
    except ClientError as exc:
        s3.delete_object(Bucket=code.bucket, Key=code.prefix)  # no job will read it
        raise LaunchError(f"SageMaker refused the training job: {exc}") from exc
    log.info(
        "created training job %s (%s); it publishes to %s. Console: "
        "https://%s.console.aws.amazon.com/sagemaker/home?region=%s#/jobs/%s",
        target.job_name,
        launch_args.instance_type,
        target.output,
        target.region,
        target.region,
        target.job_name,
    )
    return target


def launch_command(argv: list[str]) -> int:
    """0 when the job was created (and, with --wait, completed); 1 when it failed; 2 when
    nothing was launched, or following it stopped (the message names the fix)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    aws_errors = (BotoCoreError, ClientError, Boto3Error)
    try:
        launch_args, hyperparameters = parse(argv, description=__doc__)
        target = launch(launch_args, hyperparameters)
    except (ArgumentError, StorageError) as exc:
        log.error("%s", exc)
        return 2
    except LaunchError as exc:
        log.error("launch failed: %s", exc)
        return 2
    except aws_errors as exc:  # no credentials, no endpoint, a denied upload, ...
        log.error("launch failed: %s. %s", exc,
                  explain(exc, permissions=LAUNCH_PERMISSIONS, what="the training image"))  # fmt: skip
        return 2
    if not launch_args.wait:
        log.info(
            "follow it with: aws sagemaker describe-training-job --training-job-name %s",
            target.job_name,
        )
        return 0
    try:
        return follow(target.region, target.job_name, launch_args.poll_seconds)
    except KeyboardInterrupt:
        log.warning("stopped following; training job %s keeps running", target.job_name)
        return 130
    except aws_errors as exc:
        log.error(
            "stopped following training job %s, which keeps running: %s. %s Then follow it "
            "with: aws sagemaker describe-training-job --training-job-name %s",
            target.job_name, exc, explain(exc, permissions=FOLLOW_PERMISSIONS, what="the job"),
            target.job_name,
        )  # fmt: skip
        return 2
