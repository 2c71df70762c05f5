"""Writing a benchmark's result file: every file in bench/results/ carries the machine and the
commit it measured (bench/machine.py), and a smoke run (tiny sizes, `--smoke`, what `make test`
runs so that no benchmark rots between real runs) never writes there: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.machine import provenance

if TYPE_CHECKING:
    from contract.bundle import Manifest

RESULTS = Path(__file__).resolve().parent / "results"


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: checks that the benchmark still runs end to end (make test); "
        f"its figures mean nothing, so --output must name a file outside {RESULTS}",
    )


def check_output(parser: argparse.ArgumentParser, output: Path, smoke: bool) -> None:
    """Refuses (exit 2) a smoke run that would write into bench/results/."""
    if smoke and output.resolve().is_relative_to(RESULTS):
        parser.error(f"--smoke writes nothing to {RESULTS}: pass --output <a temporary file>")


def user_bundle(
    parser: argparse.ArgumentParser,
    uri: str,
    flag: str = "--model_uri",
    hint: str = "pass a bundle directory or a runs root",
) -> tuple[Path, Manifest]:
    """The local bundle a user's path (`flag`'s value: a run dir or a runs root) names, and its
    manifest; a path that is none exits 2 naming the flag, what was wrong and `hint`, never with
    a traceback."""
    from contract.bundle import BundleError, read_manifest
    from contract.storage import StorageError, resolve_local

    try:
        bundle = resolve_local(Path(uri))
        return bundle, read_manifest(bundle)
    except (BundleError, StorageError, OSError) as exc:
        parser.error(f"{flag} {uri}: {exc} ({hint})")


def write_result(path: Path, result: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """Writes `result` with the machine and commit to `path` (atomically); under `key`, only that
    entry of the file is replaced and every other entry is kept (several benches share a file)."""
    result = {**result, **provenance()}
    if key is not None:
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[key] = result
    else:
        data = result
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return result
