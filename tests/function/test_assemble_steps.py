"""The two steps function/Dockerfile runs apart (deps, then app) refuse to run out of order, so
a Dockerfile edit that drops or swaps one fails the build with a message, not a broken image.
Both steps together are exercised on the host by test_lambda_runtime and in the image test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "function" / "image" / "assemble.py"


def _assemble(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_app_step_needs_the_deps_step_first(tmp_path: Path) -> None:
    result = _assemble("--step", "app", "--task-root", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert "run --step deps into a new directory first" in result.stderr


def test_app_step_runs_once(tmp_path: Path) -> None:
    task_root = tmp_path / "task"
    (task_root / "contract").mkdir(parents=True)  # as a finished app step leaves it
    (task_root / "numpy").mkdir()
    result = _assemble("--step", "app", "--task-root", str(task_root))
    assert result.returncode == 1
    assert "only the deps step has filled" in result.stderr


def test_deps_step_wants_an_empty_task_root(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    result = _assemble("--step", "deps", "--task-root", str(tmp_path))
    assert result.returncode == 1
    assert "is not empty" in result.stderr


def test_a_bundle_without_the_image_python_fails_before_any_download(tmp_path: Path) -> None:
    bundle = tmp_path / "run"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    # A version no host runs, so there is no interpreter to verify the bundle with.
    result = _assemble(
        "--task-root", str(tmp_path / "task"), "--python-version", "3.99", "--bundle", str(bundle)
    )
    assert result.returncode == 1
    assert "pass --target-python" in result.stderr
    assert not (tmp_path / "task").exists()
