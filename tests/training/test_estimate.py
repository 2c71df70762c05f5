"""Before it trains, `python -m training` measures its speed (a few seconds) and logs how long
the run will take; on a CPU, a long run says so and points at the quick profile, a time budget
and `launch`. Through the CLI on tiny data: the command is stopped once it has said it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, TINY_ARGS


def estimate_line(tmp_path: Path, *flags: str) -> tuple[str, list[str]]:
    """Runs the CLI until it logs its estimate; returns that line and the lines before it."""
    cmd = [sys.executable, "-m", "training", *TINY_ARGS, *flags,
           "--output", str(tmp_path / "models"), "--output_dir", str(tmp_path / "work")]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    before: list[str] = []
    deadline = time.monotonic() + 300
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if " estimate: " in line:
                return line.strip(), before
            before.append(line)
            assert time.monotonic() < deadline, "no estimate within 5 minutes"
        raise AssertionError("the command ended without an estimate:\n" + "".join(before[-30:]))
    finally:
        process.kill()
        process.wait(timeout=60)


def test_a_short_run_logs_its_estimate_before_training(tmp_path):
    line, before = estimate_line(tmp_path)  # TINY_ARGS: 8 steps of 8 reviews
    assert re.search(r"INFO training: estimate: ~[\d.]+ min in all on cpu: 8 steps \(64 reviews "
                     r"x 1 epochs\) at [\d.]+ reviews/s", line), line  # fmt: skip
    assert re.search(r"speed measured in \d+ s\)$", line), line
    assert "long for a CPU" not in line
    assert not any("'loss'" in b or "train_runtime" in b for b in before)  # before training


def test_a_long_run_on_a_cpu_points_at_the_quick_profile_a_budget_and_launch(tmp_path):
    line, _ = estimate_line(tmp_path, "--max_steps", "-1", "--num_train_epochs", "100000")
    assert "WARNING training: estimate: " in line
    assert re.search(r"~[\d.]+ h in all on cpu: 800,000 steps \(64 reviews x 100000 epochs\)", line)
    for pointer in ("--profile quick", "--time_budget_minutes N", "python -m training launch"):
        assert pointer in line
