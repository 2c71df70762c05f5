"""An S3 prefix as a `contract.store.Store`, and the S3 client settings every caller shares.

Files go through boto3's transfer manager (multipart, retries); boto3 honours AWS_ENDPOINT_URL,
which is how tests point it at a real S3 server on loopback. boto3 is imported only when S3 is
used: serving a local bundle never loads it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.s3_errors import error_code, explain, missing_bucket
from contract.s3_names import BUCKET_NAME_RULE, is_bucket_name
from contract.store import Progress, StorageError

log = logging.getLogger(__name__)

# The IAM actions each side needs, for the message when they are missing.
READ_PERMISSIONS = "s3:GetObject (and s3:ListBucket, without which a missing key reads as 403)"
WRITE_PERMISSIONS = "s3:PutObject, s3:DeleteObject and s3:ListBucket on the destination"


# What S3 answers for a key or a bucket that is not there (a HEAD gets a bare 404).
_NOT_FOUND = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def _aws_errors() -> tuple[type[BaseException], ...]:
    """What boto3 raises when AWS says no or cannot be reached (imported only when needed)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash; may be empty

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, self.key(name))


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith("s3://")


def parse_s3_uri(uri: str) -> S3Location:
    """`s3://bucket/some/prefix` -> S3Location; raises StorageError naming what is wrong."""
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri!r} is not an s3:// URI; write it as s3://<bucket>/<prefix>")
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not is_bucket_name(bucket):
        raise StorageError(
            f"{uri!r}: {bucket!r} is not a valid S3 bucket name ({BUCKET_NAME_RULE}); "
            "write it as s3://<bucket>/<prefix>"
        )
    prefix = prefix.strip("/")
    if "//" in prefix or any(part in (".", "..") for part in prefix.split("/") if prefix):
        raise StorageError(f"{uri!r}: the prefix has empty or relative path parts")
    return S3Location(bucket, prefix)


@dataclass(frozen=True)
class S3Timeouts:
    """How long one S3 call may wait, and how often it is tried. `read_s` bounds each wait for
    bytes (not a whole download), so a large file that keeps arriving is never cut short."""

    connect_s: float
    read_s: float
    attempts: int  # in all, the first one included


# Fetching runs in Lambda's init phase, which has 10 s in all: a stalled connection must fail
# and be reported (the app serves the reason) rather than eat that budget. In-region S3 usually
# answers in tens of milliseconds, so one retry after 2 s still rides out a slow answer. Worst
# case per call: 2 attempts x (2 s to connect + 2 s to read), plus a backoff under 0.1 s.
FETCH_TIMEOUTS = S3Timeouts(connect_s=2, read_s=2, attempts=2)
# Publishing runs on a training machine with no such limit, possibly far from the bucket and
# uploading 16 MiB parts, so it waits longer and retries more.
PUBLISH_TIMEOUTS = S3Timeouts(connect_s=10, read_s=60, attempts=6)


def s3_client(timeouts: S3Timeouts = PUBLISH_TIMEOUTS) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeouts.connect_s,
        read_timeout=timeouts.read_s,
        retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
    )
    return boto3.client("s3", config=config)


def _transfer_config(timeouts: S3Timeouts) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=16 * 1024 * 1024,
        multipart_chunksize=16 * 1024 * 1024,
        # The transfer manager retries a body that stops arriving on its own, on top of the
        # client's retries; without this a stalled download is tried 5 times.
        num_download_attempts=timeouts.attempts,
    )


class S3Store:
    """An S3 prefix, opened to read (serving, verify) or to `write` (publishing): the role sets
    the timeouts, how a key is looked up, and the permissions a refusal names."""

    def __init__(self, location: S3Location, client: Any = None, *, write: bool = False) -> None:
        timeouts = PUBLISH_TIMEOUTS if write else FETCH_TIMEOUTS
        self.location = location
        self.write = write
        self.client = client or s3_client(timeouts)
        self._transfer = _transfer_config(timeouts)
        self._written: list[str] = []  # keys put through this store, for `writing` to undo

    def where(self, name: str = "") -> str:
        return self.location.child(name).uri

    def child(self, name: str) -> S3Store:
        return S3Store(self.location.child(name), self.client, write=self.write)

    def exists(self, name: str) -> bool:
        """A writer lists the key (it is granted s3:ListBucket, and need not read; the key sorts
        first among those it prefixes); a reader asks for its head (s3:GetObject)."""
        key = self.location.key(name)
        if self.write:
            listed = self.client.list_objects_v2(Bucket=self.location.bucket, Prefix=key, MaxKeys=1)
            return any(entry["Key"] == key for entry in listed.get("Contents", []))
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
        except _aws_errors() as exc:
            if error_code(exc) in _NOT_FOUND:
                return False
            raise
        return True

    def read(self, name: str) -> bytes:
        key = self.location.key(name)
        return self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"].read()

    def download(self, name: str, dest: Path) -> None:
        """Raises FileNotFoundError when the key is not there (StorageError when its bucket
        is not)."""
        key = self.location.key(name)
        try:
            self.client.download_file(self.location.bucket, key, str(dest), Config=self._transfer)
        except _aws_errors() as exc:
            if error_code(exc) not in _NOT_FOUND:
                raise
            self._refuse_missing_bucket()
            raise FileNotFoundError(f"{self.where(name)} not found") from exc

    def _refuse_missing_bucket(self) -> None:
        """A key that is not found may be a bucket that is not there: say which, when S3 tells."""
        bucket = self.location.bucket
        try:
            self.client.head_bucket(Bucket=bucket)
        except _aws_errors() as exc:
            if error_code(exc) in _NOT_FOUND:
                raise StorageError(f"cannot read s3://{bucket}: {missing_bucket(bucket)}") from exc
            # Not allowed to ask (no s3:ListBucket): the caller's "not found" stands.

    def put(self, name: str, source: Path, progress: Progress | None = None) -> None:
        key = self.location.key(name)
        self.client.upload_file(
            str(source), self.location.bucket, key, Config=self._transfer, Callback=progress
        )
        self._written.append(key)

    def put_bytes(self, name: str, body: bytes) -> None:
        key = self.location.key(name)
        extra = {"ContentType": "application/json"} if name.endswith(".json") else {}
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=body, **extra)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.location.bucket, Key=self.location.key(name))

    @contextmanager
    def writing(self, name: str) -> Iterator[S3Store]:
        folder = self.child(name)
        try:
            yield folder
        except BaseException:
            # No manifest was written, so nothing here can be served; tidy up what did land.
            written = folder._written
            log.error(
                "upload to %s failed; removing %d partial objects", folder.where(), len(written)
            )
            for key in written:
                try:
                    self.client.delete_object(Bucket=self.location.bucket, Key=key)
                except Exception:  # the original failure matters more than the tidy-up
                    log.warning(
                        "could not remove partial object s3://%s/%s", self.location.bucket, key
                    )
            raise

    def local_copy(self, cache_dir: Path) -> tuple[Path, bool]:
        return Path(cache_dir) / self.location.bucket / self.location.prefix, True

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        # Timeouts, refused connections, denied requests: one error type the caller can report.
        try:
            yield
        except _aws_errors() as exc:
            permissions = WRITE_PERMISSIONS if self.write else READ_PERMISSIONS
            raise StorageError(
                f"{doing}: {exc}. "
                + explain(exc, permissions=permissions, bucket=self.location.bucket)
            ) from exc
