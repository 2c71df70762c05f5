"""python -m training verify <bundle dir | s3://bucket/prefix[/run-id]>

Checks a bundle the way serving does before it answers: the manifest, then every file's sha256.
A runs root (one holding latest.json) resolves to the run it points at.
"""

from __future__ import annotations

import logging
import tempfile

from contract.bundle import BundleError, verify_bundle
from contract.exit_codes import ErrorCodes, ExitCode, exit_code, help_text
from contract.storage import StorageError, fetch_bundle

log = logging.getLogger("training")
USAGE = "usage: python -m training verify <bundle dir | s3://bucket/prefix/run-id>"


def verify_command(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        codes = help_text(ExitCode.OK, ExitCode.FAILED, ExitCode.BAD_INPUT)
        log.error("%s\n%s", USAGE, codes)
        return ExitCode.BAD_INPUT
    errors: ErrorCodes = {(BundleError, StorageError): ExitCode.FAILED}
    return exit_code(lambda: verify(argv[0]), errors, log, prefix="verify failed: ")


def verify(location: str) -> None:
    with tempfile.TemporaryDirectory() as cache:
        manifest = verify_bundle(fetch_bundle(location, cache))
    log.info(
        "bundle OK: run %s, %d files verified, labels %s",
        manifest.run_id,
        len(manifest.files),
        manifest.labels,
    )
