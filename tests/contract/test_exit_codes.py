"""The one table of exit codes: README lists it as the code defines it, and every command's
--help ends with the codes it can return."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from contract.exit_codes import MEANING, CommandExit, ExitCode, exit_code
from tests.conftest import REPO


def test_readme_lists_every_exit_code_with_its_meaning():
    section = (REPO / "README.md").read_text().split("### Exit codes", 1)[1].split("###", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE))
    assert rows == {str(int(code)): meaning for code, meaning in MEANING.items()}
    assert set(MEANING) == set(ExitCode)


@pytest.mark.parametrize(
    ("module", "codes"),
    [
        (["training"], (0, 1, 2, 3, 4, 5)),
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


class _Refused(CommandExit):
    code = ExitCode.QUALITY_GATE


def _raising(exc: BaseException):
    def action() -> None:
        raise exc

    return action


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (KeyError("k"), ExitCode.BAD_INPUT),  # inside a tuple of kinds
        (ValueError("v"), ExitCode.BAD_INPUT),
        (LookupError("l"), ExitCode.PARITY_FAILED),  # KeyError's base, listed after it
        (_Refused("gate"), ExitCode.QUALITY_GATE),  # a CommandExit carries its own code
    ],
)
def test_exit_code_maps_listed_errors_and_logs_the_message(raised, expected, caplog):
    errors = {(KeyError, ValueError): ExitCode.BAD_INPUT, LookupError: ExitCode.PARITY_FAILED}
    log = logging.getLogger("test.exit_codes")
    assert exit_code(_raising(raised), errors, log, prefix="failed: ") == expected
    assert f"failed: {raised}" in caplog.text and "Traceback" not in caplog.text


def test_exit_code_lets_an_unlisted_error_through_and_returns_ok_on_success():
    log = logging.getLogger("test.exit_codes")
    assert exit_code(lambda: None, {KeyError: ExitCode.BAD_INPUT}, log) == ExitCode.OK
    with pytest.raises(ZeroDivisionError):
        exit_code(_raising(ZeroDivisionError()), {KeyError: ExitCode.BAD_INPUT}, log)
