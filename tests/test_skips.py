"""tests/skips.py: a check that cannot run here is skipped loudly, and under CI=true it fails
(tests/function/test_requirements.py relies on this when a pinned wheel is missing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK = """
from tests.skips import skip_or_fail

def test_needs_a_wheel():
    skip_or_fail("a pinned wheel is not available here")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped")])
def test_a_check_that_cannot_run_fails_under_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_check.py").write_text(CHECK)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_check.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in result.stdout, result.stdout
    if ci:
        assert "CI=true: this check must run here" in result.stdout
    else:
        assert "NOT CHECKED: a pinned wheel is not available here" in result.stdout
