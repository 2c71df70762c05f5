"""What the infra commands (deploy, release, outputs, empty_bucket) share: cdk.json read as the
app reads it, and the one error boundary that turns their errors into an exit code and a
message that says what to do, never a traceback. Exit codes: 0 done, 1 ran and failed,
2 refused before doing anything (or AWS refused the call).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext


class CommandError(Exception):
    """Refused (exit 2); the message says why and what to do."""


class CommandFailed(CommandError):
    """Ran and failed (exit 1); the message says what is left and where to look."""


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
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        action()
    except CommandFailed as exc:
        log.error("%s", exc)
        return 1
    except CommandError as exc:
        log.error("%s", exc)
        return 2
    except (BotoCoreError, ClientError) as exc:
        log.error("AWS refused: %s; check %s", exc, check)
        return 2
    return 0
