"""Where a bundle's files are kept, as one small interface: a `Store` is a folder of named files
(POSIX names relative to it). `LocalStore` is a directory on this machine; an S3 prefix is
`contract.s3_store.S3Store`. contract/storage.py walks either one the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, Self

Progress = Callable[[int], None]  # called with the bytes each step sent


class StorageError(Exception):
    """A location that is malformed, unreachable or not writable; the message names the fix."""


class Store(Protocol):
    def where(self, name: str = "") -> str:
        """The folder, or a file in it, as a user writes it: a path or an s3:// URI."""
        ...

    def child(self, name: str) -> Self: ...

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...

    def download(self, name: str, dest: Path) -> None:
        """Raises FileNotFoundError when `name` is not there."""
        ...

    def put(self, name: str, source: Path, progress: Progress | None = None) -> None: ...

    def put_bytes(self, name: str, body: bytes) -> None:
        """Replaces `name` whole: a reader sees the old body or the new one, never part."""
        ...

    def delete(self, name: str) -> None: ...

    def writing(self, name: str) -> AbstractContextManager[Self]:
        """The new folder `name`, written through the store this yields: it is there whole once
        the block ends, and what was written is removed when the block raises."""
        ...

    def local_copy(self, cache_dir: Path) -> tuple[Path, bool]:
        """Where the folder's files are on this machine, and whether that is a copy (under
        `cache_dir`) that may be fetched again; a local folder is its own directory."""
        ...

    def errors(self, doing: str) -> AbstractContextManager[None]:
        """Turns what the backend raises into a StorageError that starts with `doing` and
        names the fix."""
        ...


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def where(self, name: str = "") -> str:
        return str(self.root / name) if name else str(self.root)

    def child(self, name: str) -> LocalStore:
        return LocalStore(self.root / name)

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def download(self, name: str, dest: Path) -> None:
        shutil.copy2(self.root / name, dest)

    def put(self, name: str, source: Path, progress: Progress | None = None) -> None:
        (self.root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, self.root / name)
        if progress is not None:
            progress(source.stat().st_size)

    def put_bytes(self, name: str, body: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}"
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def delete(self, name: str) -> None:
        (self.root / name).unlink()

    @contextmanager
    def writing(self, name: str) -> Iterator[LocalStore]:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        staging.chmod(0o755)  # mkdtemp makes it private; a published run is readable like any dir
        try:
            yield LocalStore(staging)
            os.replace(staging, self.root / name)  # the folder appears whole or not at all
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def local_copy(self, cache_dir: Path) -> tuple[Path, bool]:
        return self.root, False

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(f"{doing}: {exc}") from exc
