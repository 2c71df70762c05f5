"""python -m training verify <bundle dir | s3://bucket/prefix[/run-id]>

Checks a bundle the way serving does before it answers: the manifest, then every file's sha256.
A runs root (one holding latest.json) resolves to the run it points at.
"""

from __future__ import annotations

import logging
import tempfile

from contract.bundle import BundleError, verify_bundle
from contract.storage import StorageError, fetch_bundle

log = logging.getLogger("training")


def verify_command(argv: list[str]) -> int:
    """0 when the bundle verifies, 1 when it does not, 2 on a bad command line."""
    if len(argv) != 1 or argv[0].startswith("-"):
        log.error("usage: python -m training verify <bundle dir | s3://bucket/prefix/run-id>")
        return 2
    with tempfile.TemporaryDirectory() as cache:
        try:
            path = fetch_bundle(argv[0], cache)
            manifest = verify_bundle(path)
        except (BundleError, StorageError) as exc:
            log.error("verify failed: %s", exc)
            return 1
    log.info(
        "bundle OK: run %s, %d files verified, labels %s",
        manifest.run_id,
        len(manifest.files),
        manifest.labels,
    )
    return 0
