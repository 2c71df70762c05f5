"""What the infra commands (deploy, release, outputs, empty_bucket) share: cdk.json read as the
app reads it, and the one error boundary that turns their errors into an exit code
(contract/exit_codes.py) and a message that says what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path

from contract.exit_codes import CommandExit, ExitCode, exit_code, help_text
from contract.s3_errors import aws_errors
from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext

EXIT_CODES = help_text(ExitCode.OK, ExitCode.FAILED, ExitCode.BAD_INPUT)
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


class CommandError(CommandExit):
    """Refused before doing anything; the message says why and what to do."""

    code = ExitCode.BAD_INPUT


class CommandFailed(CommandError):
    """Ran and failed; the message says what is left and where to look."""

    code = ExitCode.FAILED


def command_parser(
    prog: str, description: str, cdk_json_help: str | None = None
) -> argparse.ArgumentParser:
    """An infra command's parser: its --help ends with the exit codes, and --cdk-json names the
    configuration the app reads."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=EXIT_CODES)
    parser.add_argument("--cdk-json", type=Path, default=CDK_JSON, help=cdk_json_help)
    return parser


def read_config(cdk_json: Path) -> ServiceConfig:
    """cdk.json's settings, checked by the app's own rules."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
        return ServiceConfig.from_context(MappingContext(context))
    except (OSError, ValueError, KeyError) as exc:
        raise CommandError(f"cannot read {cdk_json}: {exc}; run from the repository root") from exc
    except ConfigError as exc:
        raise CommandError(f"{cdk_json} does not synthesize: {exc}") from exc


def run_command(action: Callable[[], object], log: logging.Logger, *, check: str) -> int:
    """Runs `action`; an error is logged and becomes the exit code. `check` names what to
    check when AWS refuses a call (credentials and region, at least)."""

    def refused_by_aws_is_an_error() -> None:
        try:
            action()
        except aws_errors() as exc:
            raise CommandError(f"AWS refused: {exc}; check {check}") from exc

    return exit_code(refused_by_aws_is_an_error, {}, log)
