"""The contract runs without torch: every other test in tests/contract, run in a fresh process
where importing torch, transformers or anything of training/ fails at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "transformers", "training")

RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import torch` now raises ImportError
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *{files!r}]))
"""


def test_the_contract_tests_pass_where_torch_cannot_be_imported() -> None:
    files = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "tests" / "contract").glob("test_*.py")
        if p.name != Path(__file__).name
    )
    assert "tests/contract/test_encoder.py" in files
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(blocked=BLOCKED, files=files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary  # none dodged the guard


def test_the_guard_bites() -> None:
    """The same guard makes a test that needs torch fail: the run above proves something."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['torch'] = None; import torch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "import of torch halted" in result.stderr
