"""Empty (and delete) the artifacts bucket that `cdk destroy` keeps: every object version and
delete marker, a page of at most 1,000 at a time, as S3's ListObjectVersions and DeleteObjects
allow. Nothing else in the account is touched; it refuses the bucket of the stack cdk.json names
while that stack is deployed.

    python -m infra.empty_bucket <bucket> --yes [--delete-bucket]       # make empty-bucket
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.aws_clients import client as aws_client
from infra.cli import CommandError, CommandFailed, read_config, run_command
from infra.deploy import REPO
from infra.outputs import describe_stack, stack_outputs

# DeleteObjects takes at most this many keys a call, and ListObjectVersions returns at most
# this many (versions and delete markers together) a page.
PAGE = 1000
log = logging.getLogger("infra.empty_bucket")


class EmptyBucketError(CommandFailed):
    """The bucket was not wholly emptied; the message says what is left and why."""


def _first_page(client: Any, bucket: str) -> list[dict[str, str]]:
    """{Key, VersionId} of the first (at most 1,000) versions and delete markers in `bucket`."""
    page = client.list_object_versions(Bucket=bucket, MaxKeys=PAGE)
    found = page.get("Versions", []) + page.get("DeleteMarkers", [])
    return [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in found]


def empty_bucket(client: Any, bucket: str) -> int:
    """Deletes every version and delete marker, a page at a time; returns how many. Each round
    lists from the start again: a marker naming a version just deleted is no place to resume
    from. A version S3 refuses to delete raises EmptyBucketError, naming the first refusals."""
    deleted = 0
    while page := _first_page(client, bucket):
        answer = client.delete_objects(Bucket=bucket, Delete={"Objects": page, "Quiet": True})
        refused = answer.get("Errors", [])
        deleted += len(page) - len(refused)
        log.info("%s: %d versions deleted so far", bucket, deleted)
        if refused:
            first = "; ".join(f"{e['Key']} ({e.get('Code')}: {e.get('Message')})"
                              for e in refused[:3])  # fmt: skip
            raise EmptyBucketError(
                f"{len(refused)} versions of s3://{bucket} were not deleted, e.g. {first}: fix "
                "the permission (s3:DeleteObjectVersion) or the object lock, and run this again"
            )
    return deleted


def deployed_with(bucket: str, stack_name: str, cloudformation: Any) -> bool:
    """Whether the deployed stack `stack_name` names `bucket` as its ArtifactsBucketName."""
    description = describe_stack(stack_name, cloudformation)
    return (
        description is not None and stack_outputs(description).get("ArtifactsBucketName") == bucket
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="empty-bucket: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m infra.empty_bucket", description=__doc__)
    parser.add_argument("bucket", help="the ArtifactsBucketName of a destroyed stack")
    parser.add_argument("--yes", action="store_true", help="delete every version: no undo")
    parser.add_argument("--delete-bucket", action="store_true", help="then delete the bucket")
    parser.add_argument("--cdk-json", type=Path, default=REPO / "cdk.json",
                        help="names the stack that must not be using the bucket")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.yes:
        log.error("this deletes every version of every object in s3://%s: pass --yes", args.bucket)
        return 2

    def run() -> None:
        stack_name = read_config(args.cdk_json).stack_name
        if deployed_with(args.bucket, stack_name, aws_client("cloudformation")):
            raise CommandError(
                f"s3://{args.bucket} is the artifacts bucket of {stack_name}, which is still "
                "deployed: `make destroy` first (the bucket is kept), then empty it"
            )
        s3 = aws_client("s3")
        count = empty_bucket(s3, args.bucket)
        log.info("s3://%s is empty (%d versions and delete markers deleted)", args.bucket, count)
        if args.delete_bucket:
            s3.delete_bucket(Bucket=args.bucket)
            log.info("deleted the bucket %s", args.bucket)

    return run_command(run, log, check="the bucket name, the credentials and AWS_REGION")


if __name__ == "__main__":
    sys.exit(main())
