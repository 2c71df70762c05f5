"""One region for a SageMaker training job, checked before anything is created.

SageMaker pulls a training image and reads a channel only in the job's own region, the job's
logs go to CloudWatch in that region (the stack's training role may write logs only in the
stack's region), and its code and output buckets are read and written from there. A region that
differs fails here with a message naming both regions, not hours later or never.
"""

from __future__ import annotations

import re
from typing import Any

from contract.s3_errors import missing_bucket
from training.args import ArgumentError

_IMAGE_REGION_RE = re.compile(r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")
# Where a stack's outputs name their region: an ARN (arn:aws:states:eu-west-1:...) or the API's
# URL (https://<id>.execute-api.eu-west-1.amazonaws.com/prod/).
_ARN_REGION_RE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-\d):")
_URL_REGION_RE = re.compile(r"^https://[^/]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws")


def image_region(image_uri: str) -> str | None:
    match = _IMAGE_REGION_RE.match(image_uri)
    return match[1] if match else None


def stack_region(outputs: dict[str, str]) -> str | None:
    """The region of a deployed stack, read from its outputs (None when none names one)."""
    for value in outputs.values():
        match = _ARN_REGION_RE.match(str(value)) or _URL_REGION_RE.match(str(value))
        if match:
            return match[1]
    return None


def bucket_region(client: Any, bucket: str) -> str:
    """S3's GetBucketLocation: no constraint is us-east-1, and the legacy "EU" is eu-west-1."""
    from botocore.exceptions import ClientError

    try:
        constraint = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
            raise ArgumentError(f"cannot use s3://{bucket}: {missing_bucket(bucket)}") from exc
        raise
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)


def mismatch(what: str, where: str, region: str, why_and_fix: str) -> ArgumentError:
    """The one form of every refusal here: both regions, why they must agree, what to change."""
    return ArgumentError(f"{what} is in {where} but the job runs in {region}: {why_and_fix}")


def check_image_and_stack(region: str, image_uri: str, stack: str, outputs: dict[str, str]) -> None:
    """The offline half: the image's region (its URI) and the stack's (its outputs)."""
    image = image_region(image_uri)
    if image is not None and image != region:
        same_image = image_uri.replace(f".{image}.", f".{region}.", 1)
        raise mismatch("--image_uri", image, region, "SageMaker pulls training images from its "
                       f"own region; use the same image from {region} ({same_image}) or run "
                       f"the job in {image} (--region {image})")  # fmt: skip
    deployed = stack_region(outputs)
    if deployed is not None and deployed != region:
        raise mismatch(f"the stack {stack} (--stack_outputs)", deployed, region, "its training "
                       f"role writes the job's logs only in {deployed}, and its bucket is there. "
                       f"Run the job in {deployed} (--region {deployed}, or export "
                       f"AWS_REGION={deployed} as docs/deploy.md does)")  # fmt: skip


def check_buckets(region: str, buckets: dict[str, str], client: Any) -> None:
    """The online half: every bucket the job reads or writes ({bucket: the flag naming it}) is
    in the job's region."""
    for bucket, flag in buckets.items():
        where = bucket_region(client, bucket)
        if where != region:
            raise mismatch(f"s3://{bucket} ({flag})", where, region, "SageMaker reads a job's "
                           "input only from its own region, and the job's code, output and "
                           f"bundle go there too. Run the job in {where} (--region {where}) or "
                           f"use a bucket in {region}")  # fmt: skip
