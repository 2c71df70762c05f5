"""The exit codes of every command in this repository, defined once: `python -m training` (and its
verify and launch verbs), the SageMaker entry point, and the infra commands (release, deploy,
outputs, empty_bucket, the CDK app). Each entry point raises named errors and maps them to these
codes in one place; `--help` prints the lines of `help_text` and README lists the same table.
Standard library only: the SageMaker entry point imports it before anything is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    QUALITY_GATE = 3
    PARITY_FAILED = 4
    INTERNAL_FAILURE = 5
    INTERRUPTED = 130  # the shell's code for Ctrl-C (128 + SIGINT)


MEANING = {
    ExitCode.OK: "done (training: published, and latest.json moved)",
    ExitCode.FAILED: "ran and failed: verify found a bad bundle, a launched job failed or was "
    "stopped, an infra command failed part-way (the message says what is left)",
    ExitCode.BAD_INPUT: "refused before doing anything; the message names the fix (flags, data, "
    "model, a missing package, a damaged run.json on --resume, storage, AWS credentials / region / bucket / permission)",
    ExitCode.QUALITY_GATE: "quality gate not met (--min_accuracy): the run is kept, latest.json "
    "unchanged",
    ExitCode.PARITY_FAILED: "parity gate failed with nothing to ship (export broken, or int8 "
    "failed under --fp32_fallback false)",
    ExitCode.INTERNAL_FAILURE: "internal failure: the bundle as written, re-loaded the way "
    "serving loads it, predicts differently from the model that passed the gates (a bug; "
    "nothing published)",
    ExitCode.INTERRUPTED: "stopped with Ctrl-C (launch --wait: the job keeps running)",
}


# Error kinds (a class or a tuple of them) -> the code they end a command with.
ErrorCodes = Mapping[type[BaseException] | tuple[type[BaseException], ...], ExitCode]


class CommandExit(Exception):
    """An error that ends a command with `code`; its message says what to do."""

    code = ExitCode.FAILED


def help_text(*codes: ExitCode) -> str:
    """'Exit codes: 0 ...; 2 ...' for a command's --help, over the codes it can end with."""
    return "Exit codes: " + "; ".join(f"{int(code)} {MEANING[code]}" for code in codes) + "."


def exit_code(
    action: Callable[[], object],
    errors: ErrorCodes,
    log: logging.Logger,
    prefix: str = "",
) -> ExitCode:
    """Runs `action`; an error listed in `errors` (first match wins, so list subclasses first)
    or a CommandExit is logged with its message, never a traceback, and becomes its code."""
    # `except` takes a flat tuple of classes: a nested one raises TypeError.
    expected: tuple[type[BaseException], ...] = (CommandExit,)
    for kinds in errors:
        expected += kinds if isinstance(kinds, tuple) else (kinds,)
    try:
        action()
    except expected as exc:
        log.error("%s%s", prefix, exc)
        for kinds, code in errors.items():
            if isinstance(exc, kinds):
                return code
        return exc.code if isinstance(exc, CommandExit) else ExitCode.FAILED
    return ExitCode.OK
