"""latest.json, the pointer beside the runs: which run serves, and the sha256 of the manifest it
was published with. Following a pointer checks that sha256, so a run changed after publishing
(a file replaced and its manifest rewritten to match) is refused, not served.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from contract.bundle import MANIFEST, BundleError, is_run_id, sha256_file

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def pointer_body(run_id: str, manifest_sha256: str) -> bytes:
    body = {
        "run_id": run_id,
        "manifest_sha256": manifest_sha256,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return (json.dumps(body, indent=2) + "\n").encode()


@dataclass(frozen=True)
class Pointer:
    """latest.json: the run it names, and the sha256 of that run's manifest as published."""

    run_id: str
    manifest_sha256: str
    where: str  # the pointer's own location, for messages

    def check_manifest(self, manifest: Path, run_location: str) -> None:
        """A run whose manifest is not the one published under this pointer is refused: it was
        changed (or replaced) after publishing, and what serving would load is not what passed
        the gates."""
        if not manifest.is_file():
            raise BundleError(
                f"{self.where} points at run {self.run_id!r}, but {run_location} has no "
                f"{MANIFEST}: the run was removed or never finished publishing; re-publish it "
                f"or point at another run"
            )
        actual = sha256_file(manifest)
        if actual != self.manifest_sha256:
            raise BundleError(
                f"{self.where} was written for a {MANIFEST} with sha256 "
                f"{self.manifest_sha256[:12]}…, but {run_location}/{MANIFEST} has "
                f"{actual[:12]}…: the run changed after it was published. Re-publish it (python "
                f"-m training), or serve the run itself ({run_location}) if you trust it as it is"
            )


def read_pointer(raw: bytes, where: str) -> Pointer:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            raise ValueError("no run_id")
    except ValueError as exc:
        raise BundleError(f"{where} is not a valid pointer: {exc}") from exc
    if not is_run_id(data["run_id"]):
        raise BundleError(f"{where} names an invalid run id {data['run_id']!r}")
    sha = data.get("manifest_sha256")
    if not isinstance(sha, str) or not _SHA256_RE.match(sha):
        raise BundleError(
            f"{where} has no valid manifest_sha256 (the sha256 of the run's {MANIFEST}, which "
            f"publishing writes), got {sha!r}: re-publish the run, or point at the run itself "
            "instead of at the pointer"
        )
    return Pointer(run_id=data["run_id"], manifest_sha256=sha, where=where)
