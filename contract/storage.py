"""Where bundles live: a local directory or an S3 prefix, with the same layout in both.

    <root>/<run-id>/manifest.json, model.onnx, tokenizer.json, ...   one published run
    <root>/latest.json              {"run_id", "manifest_sha256", ...} once it passed the gate

Publishing writes every file first and `manifest.json` last, and moves `latest.json` only after
that, so a reader never sees a half-published run: a run without a manifest is refused.
Each walk here is written once over `contract.store.Store`; `LocalStore` and
`contract.s3_store.S3Store` only say how a file is read, written or removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, TypeVar

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
from contract.s3_store import (
    FETCH_TIMEOUTS,
    PUBLISH_TIMEOUTS,
    S3Location,
    S3Store,
    is_s3,
    parse_s3_uri,
    s3_client,
)
from contract.store import LocalStore, Progress, StorageError, Store

# What callers import from here; the S3 names live in contract/s3_store.py.
__all__ = [
    "FETCH_TIMEOUTS",
    "PUBLISH_TIMEOUTS",
    "StorageError",
    "check_writable",
    "fetch_bundle",
    "is_s3",
    "open_store",
    "parse_s3_uri",
    "publish_bundle",
    "resolve_local",
    "s3_client",
]

S = TypeVar("S", bound=Store)


def open_store(uri: str | Path, *, client: Any = None, write: bool = False) -> Store:
    """The folder `uri` names: an S3 prefix (an s3:// URI, checked) or a local directory,
    opened to read or to `write`."""
    if is_s3(uri):
        return S3Store(parse_s3_uri(str(uri)), client, write=write)
    return LocalStore(uri)


def _open_named(uri: str | Path, client: Any) -> tuple[Store, bool]:
    """The folder `uri` names, opened to read, and whether it named that folder's latest.json
    itself."""
    if not is_s3(uri):
        return _local_named(uri)
    loc = parse_s3_uri(str(uri))
    folder, _, last = loc.prefix.rpartition("/")
    named = last == LATEST_POINTER
    return S3Store(S3Location(loc.bucket, folder) if named else loc, client), named


def _local_named(path: str | Path) -> tuple[LocalStore, bool]:
    path = Path(path)
    named = path.name == LATEST_POINTER
    return LocalStore(path.parent if named else path), named


def _follow(store: S, named: bool) -> tuple[S, Pointer | None]:
    """The run a folder holds: itself, or, when it holds latest.json (a runs root) or that
    pointer was `named`, the run the pointer names, with the pointer to check it against."""
    if not (named or store.exists(LATEST_POINTER)):
        return store, None
    pointer = read_pointer(store.read(LATEST_POINTER), store.where(LATEST_POINTER))
    return store.child(pointer.run_id), pointer


def _check(bundle: Path, where: str, pointer: Pointer | None, serving_only: bool) -> None:
    """Raises BundleError unless `bundle` (the run at `where`, on this machine) holds the
    manifest the pointer was published with and every file that manifest lists."""
    if pointer is not None:
        pointer.check_manifest(bundle / MANIFEST, where)
    verify_bundle(bundle, serving_only=serving_only)


# ---------------------------------------------------------------- preflight


def check_writable(destination: str, client: Any = None) -> None:
    """Fails fast, before any training, when the destination cannot be written."""
    store = open_store(destination, client=client, write=True)
    probe = f".write-probe-{uuid.uuid4().hex}"
    with store.errors(f"cannot write to {store.where()}"):
        store.put_bytes(probe, b"")
        store.delete(probe)


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

    The manifest goes last and `latest.json` moves only when `update_latest` is set. A failed
    upload leaves no manifest and removes what it wrote."""
    bundle_dir = Path(bundle_dir)
    manifest = verify_bundle(bundle_dir)  # never publish something serving would refuse
    if manifest.run_id != run_id:
        raise BundleError(f"bundle run_id {manifest.run_id!r} differs from {run_id!r}")
    manifest_sha = sha256_file(bundle_dir / MANIFEST)
    root = open_store(destination, client=client, write=True)
    run = root.child(run_id)
    with root.errors(f"cannot publish to {root.where()}"):
        if run.exists(MANIFEST):
            raise StorageError(f"{run.where()} is already published; run ids are never overwritten")
        with root.writing(run_id) as folder:
            for name in [*bundle_files(bundle_dir), MANIFEST]:  # the manifest last
                folder.put(name, bundle_dir / name, progress)
        if update_latest:
            root.put_bytes(LATEST_POINTER, pointer_body(run_id, manifest_sha))
    return run.where()


# ---------------------------------------------------------------- fetch


def resolve_local(path: str | Path) -> Path:
    """A bundle dir, a runs root holding latest.json, or a latest.json file -> the bundle dir.
    Following a pointer checks that the run's manifest is the one it was published with."""
    store, named = _local_named(path)
    with store.errors(f"cannot read {path}"):
        run, pointer = _follow(store, named)
    if pointer is not None:
        pointer.check_manifest(run.root / MANIFEST, run.where())
    return run.root


def fetch_bundle(
    uri: str, cache_dir: str | Path, *, client: Any = None, serving_only: bool = False
) -> Path:
    """Returns a local, verified bundle directory for a local path or an s3:// URI (a run prefix,
    a runs root with latest.json, or the latest.json itself). S3 runs are downloaded once into
    `cache_dir`; a cached copy is re-verified, and fetched again if it fails. `serving_only`
    skips the files serving never reads (the training checkpoint)."""
    store, named = _open_named(uri, client)
    with store.errors(f"cannot read {uri}"):
        run, pointer = _follow(store, named)
        bundle, is_copy = run.local_copy(Path(cache_dir))
        try:
            _check(bundle, run.where(), pointer, serving_only)
        except BundleError:
            if not is_copy:
                raise
            _download(run, bundle, pointer, serving_only)  # not cached, or not as published
    return bundle


def _download(run: Store, target: Path, pointer: Pointer | None, serving_only: bool) -> None:
    """The run into `target`, through a staging folder beside it that replaces it only once
    everything in it verified."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
    try:
        no_manifest = f"{run.where()} has no {MANIFEST}: not a published run, or an upload that did not finish"
        _download_file(run, MANIFEST, staging, no_manifest)
        if pointer is not None:  # before the model files: a run not as published is not fetched
            pointer.check_manifest(staging / MANIFEST, run.where())
        manifest = read_manifest(staging)
        for name in manifest.served_files() if serving_only else manifest.files:
            missing = f"{name}: listed in the manifest but missing from {run.where()}"
            _download_file(run, name, staging, missing)  # only what the manifest lists
        verify_bundle(staging, serving_only=serving_only)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_file(run: Store, name: str, into: Path, missing: str) -> None:
    (into / name).parent.mkdir(parents=True, exist_ok=True)
    try:
        run.download(name, into / name)
    except FileNotFoundError:
        raise BundleError(missing) from None
