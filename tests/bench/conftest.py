"""Smoke runs of the benchmarks: each `make bench-*` target's command with `--smoke` (tiny sizes,
seconds) on the test suite's tiny bundle, so that a benchmark cannot rot between real runs. They
assert the result's shape and that both sides ran, never a figure (figures need a quiet machine;
README, "Measured")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

# A smoke run on a 2-CPU machine shared with the rest of the suite takes seconds; this bounds a
# hang, not the time.
TIMEOUT_S = 600


def run_bench(
    module: str, output: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """`python -m bench.<module> --smoke --output <output> ARGS` as `make bench-* ARGS=...` runs
    it; returns the result file and the command's log."""
    command = [sys.executable, "-m", f"bench.{module}", "--smoke", "--output", str(output), *args]
    run = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    return json.loads(output.read_text()), log


ISA = {"avx2", "avx512f", "avx512_vnni", "amx"}
# A measured commit (a dirty tree says so), or "unknown ..." outside a checkout and in the files
# written before commits were recorded (README, "Measured").
COMMIT = re.compile(r"^([0-9a-f]{40}(-dirty)?|unknown\b.*)$")


def provenance_problems(result: dict[str, Any]) -> list[str]:
    """What a result lacks of its machine and commit (bench/record.py): the file itself when it
    names a machine, else each of its entries (a file keyed by CPU kind or part)."""
    entries = (
        [result] if "machine" in result else [v for v in result.values() if isinstance(v, dict)]
    )
    if not entries:
        return ["no machine, and no entries that could name one"]
    found = []
    for entry in entries:
        machine = entry.get("machine")
        if not isinstance(machine, dict):
            found.append(f"an entry without a machine: {sorted(entry)[:5]}")
            continue
        cpus = machine.get("cpus")
        if not (machine.get("cpu") and isinstance(cpus, int) and cpus >= 1):
            found.append(f"no cpu or cpus: {machine}")
        if "onnxruntime" not in machine:
            found.append(f"no onnxruntime version: {machine}")
        if set(machine.get("isa") or {}) != ISA:
            found.append(f"isa should name {sorted(ISA)}: {machine.get('isa')}")
        if not COMMIT.match(str(entry.get("commit", ""))):
            found.append(f"commit should be a full sha or 'unknown ...': {entry.get('commit')!r}")
    return found


def assert_provenance(result: dict[str, Any]) -> None:
    """A smoke run's result names the machine and the commit it measured, as a recorded one must."""
    assert provenance_problems(result) == []
    assert result["smoke"] is True


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "result.json"
