"""The flags of `python -m training launch`, and where the job runs: the role, the bucket, the
region, the name, resolved from the flags and the stack's outputs and checked before anything is
uploaded or created (training/launch.py does the rest)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from contract.storage import is_s3, parse_s3_uri
from training.args import ArgumentError, DataArguments, JobArguments, ModelArguments
from training.args import parse as parse_training
from training.job_image import dlc_uri, image_refusal
from training.launch_region import check_image_and_stack, stack_region

log = logging.getLogger("training.launch")

GPU_FAMILIES = {"p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g5", "g6", "g6e"}
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_INSTANCE_RE = re.compile(r"^ml\.([a-z][a-z0-9]*)\.(\d*xlarge|large|medium)$")
_IMAGE_RE = re.compile(
    r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+"
    r"(:[\w.-]{1,128}|@sha256:[0-9a-f]{64})$"
)
_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DLC_EXAMPLE = dlc_uri("<region>")


@dataclass
class LaunchArguments:
    image_uri: str = field(
        metadata={
            "help": "Training image (ECR, in the job's region) with Python >= 3.11, PyTorch >= 2.6 "
            f"with CUDA, e.g. the Hugging Face PyTorch training DLC {DLC_EXAMPLE}. "
            "docs/gpu-training.md lists the images and what they ship."
        }
    )
    stack_outputs: str | None = field(
        default=None,
        metadata={
            "help": "Outputs file of the deployed CDK stack (cdk.out/outputs.json: `make deploy` "
            "writes it, `make outputs` writes it again from the deployed stack): the job's role "
            "is its TrainingRoleArn, the bucket its ArtifactsBucketName, the region its own."
        },
    )
    stack_name: str = field(
        default="SentimentApi", metadata={"help": "Which stack of --stack_outputs to read."}
    )
    role_arn: str | None = field(
        default=None, metadata={"help": "IAM role the job runs as (wins over --stack_outputs)."}
    )
    bucket: str | None = field(
        default=None,
        metadata={
            "help": "Artifacts bucket (wins over --stack_outputs): code goes to code/<job>/, "
            "the bundle to models/ (or the training flag --output s3://...), SageMaker's own "
            "output to training-jobs/."
        },
    )
    region: str | None = field(
        default=None,
        metadata={
            "help": "AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION / your profile's, "
            "else the stack's, from --stack_outputs)."
        },
    )
    instance_type: str = field(
        default="ml.g5.xlarge",
        metadata={"help": "Instance type; one with several GPUs trains data-parallel on all."},
    )
    volume_size_gb: int = field(default=50, metadata={"help": "Instance storage (GB)."})
    max_runtime_hours: float = field(
        default=24.0, metadata={"help": "SageMaker stops the job after this long."}
    )
    job_name: str | None = field(
        default=None, metadata={"help": "Training job name (default: sentiment-<UTC time>-<hex>)."}
    )
    train_data: str | None = field(
        default=None,
        metadata={
            "help": "s3:// prefix of your CSV / JSONL / Parquet data, mounted as the 'train' "
            "channel and read as the job's --dataset (default: the embedded IMDB reviews)."
        },
    )
    wait: bool = field(
        default=False,
        metadata={
            "help": "Follow the job's status and logs until it ends; exit non-zero with its "
            "failure reason if it fails."
        },
    )
    poll_seconds: float = field(default=30.0, metadata={"help": "Status poll interval (--wait)."})


@dataclass(frozen=True)
class Target:
    """Where and as whom the job runs, resolved from the flags and the stack outputs."""

    role_arn: str
    bucket: str
    region: str
    job_name: str
    output: str  # where the job publishes the bundle

    @property
    def code_uri(self) -> str:
        return f"s3://{self.bucket}/code/{self.job_name}/sourcedir.tar.gz"


def parse(
    argv: list[str], description: str | None = None
) -> tuple[LaunchArguments, dict[str, str]]:
    """Launch flags -> LaunchArguments; every other flag -> {training flag: value as given}."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        LaunchArguments,
        prog="python -m training launch",
        description=description,
        allow_abbrev=False,  # `--output` must stay a training flag, never a prefix of ours
    )
    launch, rest = parser.parse_args_into_dataclasses(
        argv, return_remaining_strings=True, look_for_args_file=False
    )
    return launch, training_hyperparameters(rest)


def training_hyperparameters(argv: list[str]) -> dict[str, str]:
    """`--name value`, `--name=value` or a lone boolean `--name` (true) -> {name: value}."""
    argv = argv[1:] if argv[:1] == ["--"] else argv
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or token == "--":
            raise ArgumentError(
                f"unexpected argument {token!r}: training flags go to the job as --name value"
            )
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            else:
                value = "true"
        name = name.replace("-", "_")
        if name in out:
            raise ArgumentError(f"--{name} is given twice")
        out[name] = value
        i += 1
    known = {f.name for dc in (ModelArguments, DataArguments, JobArguments) for f in fields(dc)}
    unknown = sorted(set(out) - known)
    if unknown:
        raise ArgumentError(
            f"unknown flag(s) {', '.join('--' + n for n in unknown)}: neither a launch flag "
            "(python -m training launch --help) nor a training flag (python -m training --help)"
        )
    return out


def check_training_flags(hyperparameters: dict[str, str]) -> None:
    """Parses the flags exactly as the job will (types, choices, combinations)."""
    parse_training([token for k, v in hyperparameters.items() for token in (f"--{k}", v)])


def resolve_target(launch: LaunchArguments, hyperparameters: dict[str, str]) -> Target:
    import boto3

    outputs = stack_outputs(launch.stack_outputs, launch.stack_name) if launch.stack_outputs else {}
    role = launch.role_arn or outputs.get("TrainingRoleArn")
    bucket = launch.bucket or outputs.get("ArtifactsBucketName")
    if not role:
        raise ArgumentError(
            "no role for the job: pass --stack_outputs cdk.out/outputs.json (`make deploy` "
            "writes it; `make outputs` writes it again from the deployed stack) or --role_arn "
            "arn:aws:iam::<account>:role/..."
        )
    if not _ROLE_RE.match(role):
        raise ArgumentError(
            f"--role_arn {role!r} is not an IAM role ARN (arn:aws:iam::<id>:role/..)"
        )
    if not bucket:
        raise ArgumentError(
            "no artifacts bucket: pass --stack_outputs cdk.out/outputs.json or --bucket"
        )
    parse_s3_uri(f"s3://{bucket}")  # a malformed name fails here, with the rule
    output = hyperparameters.get("output", f"s3://{bucket}/models")
    if not is_s3(output):
        raise ArgumentError(
            f"--output {output!r}: the job's disk is gone when it ends; publish to s3://..."
        )
    parse_s3_uri(output)

    match = _INSTANCE_RE.match(launch.instance_type)
    if not match:
        raise ArgumentError(
            f"--instance_type {launch.instance_type!r} is not a SageMaker instance type "
            "(ml.<family>.<size>, e.g. ml.g5.xlarge)"
        )
    if match.group(1) not in GPU_FAMILIES:
        log.warning("%s has no GPU: the job will train on CPUs, slowly", launch.instance_type)
    if not _IMAGE_RE.match(launch.image_uri):
        raise ArgumentError(
            f"--image_uri {launch.image_uri!r} is not an ECR image URI with a tag; "
            f"e.g. {DLC_EXAMPLE}"
        )
    refusal = image_refusal(launch.image_uri)
    if refusal:
        raise ArgumentError(refusal)
    # AWS_REGION first, as the AWS CLI and the CDK CLI read it (docs/deploy.md exports it):
    # botocore reads only AWS_DEFAULT_REGION and the profile.
    region = (
        launch.region
        or os.environ.get("AWS_REGION")
        or boto3.session.Session().region_name
        or stack_region(outputs)
    )
    if not region:
        raise ArgumentError("no AWS region: pass --region or set AWS_REGION")
    check_image_and_stack(region, launch.image_uri, launch.stack_name, outputs)
    if launch.volume_size_gb < 1 or launch.max_runtime_hours <= 0 or launch.poll_seconds <= 0:
        raise ArgumentError(
            "--volume_size_gb, --max_runtime_hours and --poll_seconds must be positive"
        )
    if launch.train_data is not None:
        parse_s3_uri(launch.train_data)
        if "dataset" in hyperparameters:
            raise ArgumentError("--train_data is the job's --dataset: give one of them")
    name = launch.job_name or (
        datetime.now(UTC).strftime("sentiment-%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    )
    if not _JOB_NAME_RE.match(name):
        raise ArgumentError(
            f"--job_name {name!r}: 1-63 letters, digits and hyphens, starting with a letter or digit"
        )
    return Target(role_arn=role, bucket=bucket, region=region, job_name=name, output=output)


def stack_outputs(path: str, stack_name: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArgumentError(f"cannot read --stack_outputs {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get(stack_name), dict):
        stacks = sorted(data) if isinstance(data, dict) else []
        raise ArgumentError(
            f"{path} has no outputs of stack {stack_name!r} (it has {stacks}); pass --stack_name"
        )
    return data[stack_name]
