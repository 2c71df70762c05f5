"""Where bundles live: a local directory or an S3 prefix, with the same layout in both.

    <root>/<run-id>/manifest.json, model.onnx, tokenizer.json, ...   one published run
    <root>/latest.json              {"run_id", "manifest_sha256", ...} once it passed the gate

Publishing writes every file first and `manifest.json` last, and moves `latest.json` only after
that, so a reader never sees a half-published run: a run without a manifest is refused.
S3 goes through boto3's transfer manager (multipart, retries); boto3 honours AWS_ENDPOINT_URL,
which is how tests point it at a real S3 server on loopback.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.bundle import (
    LATEST_POINTER,
    MANIFEST,
    BundleError,
    bundle_files,
    read_manifest,
    sha256_file,
    verify_bundle,
)
from contract.pointer import Pointer, pointer_body, read_pointer
from contract.s3_errors import explain, missing_bucket
from contract.s3_names import BUCKET_NAME_RULE, is_bucket_name

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
# The IAM actions each side needs, for the message when they are missing.
READ_PERMISSIONS = "s3:GetObject (and s3:ListBucket, without which a missing key reads as 403)"
WRITE_PERMISSIONS = "s3:PutObject, s3:DeleteObject and s3:ListBucket on the destination"


class StorageError(Exception):
    """A location that is malformed, unreachable or not writable; the message names the fix."""


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


def _transfer_config(timeouts: S3Timeouts = PUBLISH_TIMEOUTS) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=16 * 1024 * 1024,
        multipart_chunksize=16 * 1024 * 1024,
        # The transfer manager retries a body that stops arriving on its own, on top of the
        # client's retries; without this a stalled download is tried 5 times.
        num_download_attempts=timeouts.attempts,
    )


# ---------------------------------------------------------------- preflight


def check_writable(destination: str, client: Any = None) -> None:
    """Fails fast, before any training, when the destination cannot be written."""
    if is_s3(destination):
        loc = parse_s3_uri(destination)
        client = client or s3_client()
        probe = loc.key(f".write-probe-{uuid.uuid4().hex}")
        try:
            client.put_object(Bucket=loc.bucket, Key=probe, Body=b"")
            client.delete_object(Bucket=loc.bucket, Key=probe)
        except _aws_errors() as exc:
            raise StorageError(
                f"cannot write to {loc.uri}: {exc}. "
                + explain(exc, permissions=WRITE_PERMISSIONS, bucket=loc.bucket)
            ) from exc
        return
    root = Path(destination)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise StorageError(f"cannot write to {root}: {exc}") from exc


# ---------------------------------------------------------------- publish


def publish_bundle(
    bundle_dir: str | Path,
    destination: str,
    run_id: str,
    *,
    update_latest: bool,
    client: Any = None,
    progress: Progress | None = None,
) -> str:
    """Publishes a verified bundle to `<destination>/<run_id>/`; returns that location.

    The manifest goes last and `latest.json` moves only when `update_latest` is set."""
    bundle_dir = Path(bundle_dir)
    manifest = verify_bundle(bundle_dir)  # never publish something serving would refuse
    if manifest.run_id != run_id:
        raise BundleError(f"bundle run_id {manifest.run_id!r} differs from {run_id!r}")
    manifest_sha = sha256_file(bundle_dir / MANIFEST)
    if is_s3(destination):
        root = parse_s3_uri(destination)
        try:
            return _publish_s3(
                bundle_dir, root, run_id, manifest_sha, update_latest, client or s3_client(),
                progress,
            )  # fmt: skip
        except _aws_errors() as exc:
            raise StorageError(
                f"cannot publish to {root.uri}: {exc}. "
                + explain(exc, permissions=WRITE_PERMISSIONS, bucket=root.bucket)
            ) from exc
    return _publish_local(bundle_dir, Path(destination), run_id, manifest_sha, update_latest)


def _publish_local(
    bundle_dir: Path, root: Path, run_id: str, manifest_sha: str, update_latest: bool
) -> str:
    target = root / run_id
    if target.exists():
        raise StorageError(f"{target} already exists; run ids are never overwritten")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; a published run is readable like any dir
    try:
        for name in bundle_files(bundle_dir):
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundle_dir / name, staging / name)
        shutil.copy2(bundle_dir / MANIFEST, staging / MANIFEST)
        os.replace(staging, target)  # the run appears whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if update_latest:
        tmp = root / f".{LATEST_POINTER}.{uuid.uuid4().hex}"
        tmp.write_bytes(pointer_body(run_id, manifest_sha))
        os.replace(tmp, root / LATEST_POINTER)
    return str(target)


def _publish_s3(
    bundle_dir: Path,
    root: S3Location,
    run_id: str,
    manifest_sha: str,
    update_latest: bool,
    client: Any,
    progress: Progress | None,
) -> str:
    run = root.child(run_id)
    if client.list_objects_v2(Bucket=run.bucket, Prefix=run.key(MANIFEST), MaxKeys=1).get(
        "KeyCount"
    ):
        raise StorageError(f"{run.uri} is already published; run ids are never overwritten")
    config = _transfer_config()
    uploaded: list[str] = []
    try:
        for name in bundle_files(bundle_dir):
            key = run.key(name)
            client.upload_file(
                str(bundle_dir / name), run.bucket, key, Config=config, Callback=progress
            )
            uploaded.append(key)
        client.upload_file(
            str(bundle_dir / MANIFEST),
            run.bucket,
            run.key(MANIFEST),
            Config=config,
            Callback=progress,
        )
    except BaseException:
        # No manifest was written, so nothing here can be served; tidy up what did land.
        log.error("upload to %s failed; removing %d partial objects", run.uri, len(uploaded))
        for key in uploaded:
            try:
                client.delete_object(Bucket=run.bucket, Key=key)
            except Exception:  # the original failure matters more than the tidy-up
                log.warning("could not remove partial object s3://%s/%s", run.bucket, key)
        raise
    if update_latest:
        client.put_object(
            Bucket=root.bucket,
            Key=root.key(LATEST_POINTER),
            Body=pointer_body(run_id, manifest_sha),
            ContentType="application/json",
        )
    return run.uri


# ---------------------------------------------------------------- fetch


def resolve_local(path: str | Path) -> Path:
    """A bundle dir, a runs root holding latest.json, or a latest.json file -> the bundle dir.
    Following a pointer checks that the run's manifest is the one it was published with."""
    path = Path(path)
    if path.is_file() and path.name == LATEST_POINTER:
        pointer = read_pointer(path.read_bytes(), str(path))
        run = path.parent / pointer.run_id
        pointer.check_manifest(run / MANIFEST, str(run))
        return run
    if path.is_dir() and not (path / MANIFEST).exists() and (path / LATEST_POINTER).is_file():
        return resolve_local(path / LATEST_POINTER)
    return path


def fetch_bundle(
    uri: str, cache_dir: str | Path, *, client: Any = None, serving_only: bool = False
) -> Path:
    """Returns a local, verified bundle directory for a local path or an s3:// URI (a run prefix,
    a runs root with latest.json, or the latest.json itself). S3 runs are downloaded once into
    `cache_dir`; a cached copy is re-verified, and fetched again if it fails. `serving_only`
    skips the files serving never reads (the training checkpoint)."""
    if not is_s3(uri):
        local = resolve_local(uri)
        verify_bundle(local, serving_only=serving_only)
        return local
    loc = parse_s3_uri(uri)
    try:
        return _fetch_s3(loc, Path(cache_dir), client or s3_client(FETCH_TIMEOUTS), serving_only)
    except _aws_errors() as exc:
        # Timeouts, refused connections, denied reads: one error type the caller can report.
        raise StorageError(
            f"cannot read {uri}: {exc}. "
            + explain(exc, permissions=READ_PERMISSIONS, bucket=loc.bucket)
        ) from exc


def _fetch_s3(loc: S3Location, cache_dir: Path, client: Any, serving_only: bool) -> Path:
    pointer: Pointer | None = None
    if loc.prefix.endswith(LATEST_POINTER) or _exists(client, loc.bucket, loc.key(LATEST_POINTER)):
        pointer_key = loc.prefix if loc.prefix.endswith(LATEST_POINTER) else loc.key(LATEST_POINTER)
        raw = client.get_object(Bucket=loc.bucket, Key=pointer_key)["Body"].read()
        pointer = read_pointer(raw, f"s3://{loc.bucket}/{pointer_key}")
        parent = pointer_key.rpartition("/")[0]
        loc = S3Location(loc.bucket, f"{parent}/{pointer.run_id}".strip("/"))
    target = cache_dir / loc.bucket / loc.prefix
    try:
        verify_bundle(target, serving_only=serving_only)
        if pointer is not None:
            pointer.check_manifest(target / MANIFEST, loc.uri)
        return target
    except BundleError:
        pass  # not cached, or not as published: fetch it again
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=_mkdir(target.parent)))
    try:
        manifest_key = loc.key(MANIFEST)
        if not _exists(client, loc.bucket, manifest_key):
            _refuse_missing_bucket(client, loc.bucket)
            raise BundleError(
                f"{loc.uri} has no {MANIFEST}: not a published run, or an upload that did not finish"
            )
        client.download_file(
            loc.bucket,
            manifest_key,
            str(staging / MANIFEST),
            Config=_transfer_config(FETCH_TIMEOUTS),
        )
        if pointer is not None:  # before the model files: a run not as published is not fetched
            pointer.check_manifest(staging / MANIFEST, loc.uri)
        manifest = read_manifest(staging)
        wanted = manifest.served_files() if serving_only else manifest.files
        for name in wanted:  # only what the manifest lists
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            client.download_file(
                loc.bucket,
                loc.key(name),
                str(staging / name),
                Config=_transfer_config(FETCH_TIMEOUTS),
            )
        verify_bundle(staging, serving_only=serving_only)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _exists(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise StorageError(
            f"cannot read s3://{bucket}/{key}: {exc}. "
            + explain(exc, permissions=READ_PERMISSIONS, bucket=bucket)
        ) from exc


def _refuse_missing_bucket(client: Any, bucket: str) -> None:
    """A key that is not found may be a bucket that is not there: say which, when S3 tells."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(f"cannot read s3://{bucket}: {missing_bucket(bucket)}") from exc
        # Not allowed to ask (no s3:ListBucket): the caller's "no manifest" stands.
