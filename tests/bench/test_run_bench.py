"""make bench-run, smoke: a fresh clone of HEAD serves the tiny bundle with `make serve` (instead
of training one with `make run`) and the harness waits for /health, reads /model, stops it and
records the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contract.bundle import read_manifest
from tests.bench.conftest import assert_provenance, run_bench
from tests.conftest import free_port


def test_run_smoke_serves_from_a_fresh_clone(tiny_bundle: Path, output: Path) -> None:
    result, _ = run_bench(
        "run",
        output,
        "--bundle",
        str(tiny_bundle),
        "--port",
        str(free_port()),
        "--neighbour",
        "1",
        "--commit",
        "HEAD~0",
    )
    assert result["runs"] == 1 and result["served"] == [True], result["details"][0]["log_tail"]
    (run,) = result["details"]
    # the neighbour ran beside make serve and is gone with it
    assert result["neighbour"] == 1 and run["neighbour"]["started_minutes"] is not None
    (pid,) = run["neighbour"]["pids"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert len(result["measured_commit"]) == 40 and result["commit"].startswith(
        result["measured_commit"]
    )
    assert run["model_version"] == read_manifest(tiny_bundle).run_id
    assert run["precision"] in ("int8", "fp32") and run["calibration"]["temperature"] > 0
    assert not Path(run["clone"]).exists()  # removed: a clone with a .venv is ~2 GB
    assert_provenance(result)
