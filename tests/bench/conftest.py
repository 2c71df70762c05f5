"""Smoke runs of the benchmarks: each `make bench-*` target's command with `--smoke` (tiny sizes,
seconds) on the test suite's tiny bundle, so that a benchmark cannot rot between real runs. They
assert the result's shape and that both sides ran, never a figure (figures need a quiet machine;
README, "Measured")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

# A smoke run on a 2-CPU machine shared with the rest of the suite takes seconds; this bounds a
# hang, not the time.
TIMEOUT_S = 600


def run_bench(module: str, output: Path, *args: str, env: dict[str, str] | None = None
              ) -> tuple[dict[str, Any], str]:  # fmt: skip
    """`python -m bench.<module> --smoke --output <output> ARGS` as `make bench-* ARGS=...` runs
    it; returns the result file and the command's log."""
    command = [sys.executable, "-m", f"bench.{module}", "--smoke", "--output", str(output), *args]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S,
                         env={**os.environ, **(env or {})})  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    return json.loads(output.read_text()), log


def assert_provenance(result: dict[str, Any]) -> None:
    """Every result file names the machine and the commit it measured (bench/record.py)."""
    machine = result["machine"]
    assert machine["cpu"] and machine["cpus"] >= 1 and "onnxruntime" in machine
    assert set(machine["isa"]) == {"avx2", "avx512f", "avx512_vnni", "amx"}
    assert result["commit"] and result["smoke"] is True


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "result.json"
