"""The one table of exit codes: README lists it as the code defines it, and every command's
--help ends with the codes it can return."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from contract.exit_codes import MEANING, ExitCode
from tests.conftest import REPO


def test_readme_lists_every_exit_code_with_its_meaning():
    section = (REPO / "README.md").read_text().split("### Exit codes", 1)[1].split("###", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE))
    assert rows == {str(int(code)): meaning for code, meaning in MEANING.items()}
    assert set(MEANING) == set(ExitCode)


@pytest.mark.parametrize(
    ("module", "codes"),
    [
        (["training", "launch"], (0, 1, 2, 130)),
        (["infra.release"], (0, 1, 2)),
        (["infra.deploy"], (0, 1, 2)),
        (["infra.outputs"], (0, 1, 2)),
        (["infra.empty_bucket"], (0, 1, 2)),
    ],
)
def test_help_lists_the_exit_codes(module, codes):
    shown = subprocess.run(
        [sys.executable, "-m", *module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())  # argparse wraps the epilog
    assert "Exit codes:" in text
    for code in codes:
        assert f"{code} {' '.join(MEANING[ExitCode(code)].split()[:3])}" in text
