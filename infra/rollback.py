"""`python -m infra.release rollback`'s work: move the `live` aliases of the API function and
the batch function back to the versions of an earlier run, with no build and no canary.

Every version is kept (retained, infra/inference_function.py) and its description names the
run it serves ("run <run-id>", infra/stack.py), so the versions themselves say where to go.
"""

from __future__ import annotations

import logging
from typing import Any

from infra.aws_clients import client as aws_client
from infra.cli import CommandError
from infra.inference_function import LIVE_ALIAS

log = logging.getLogger("release")
RUN_PREFIX = "run "  # a version's description: "run <run-id>" (infra/stack.py)


class RollbackError(CommandError):
    """A rollback that must not go ahead; the message says why and what to do."""


def _version_run(version: dict[str, Any]) -> str | None:
    description = version.get("Description") or ""
    return description[len(RUN_PREFIX) :] if description.startswith(RUN_PREFIX) else None


def _alias_and_runs(client: Any, function_name: str) -> tuple[str, dict[int, str | None]]:
    """The version `live` points at, and the run each published version serves."""
    alias = client.get_alias(FunctionName=function_name, Name=LIVE_ALIAS)
    if alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
        raise RollbackError(
            "a canary is moving the alias now: stop it with `aws deploy stop-deployment "
            "--deployment-id <id> --auto-rollback-enabled` instead"
        )
    runs: dict[int, str | None] = {}
    for page in client.get_paginator("list_versions_by_function").paginate(
        FunctionName=function_name
    ):
        runs |= {int(v["Version"]): _version_run(v) for v in page["Versions"]
                 if v["Version"] != "$LATEST"}  # fmt: skip
    if not alias["FunctionVersion"].isdigit() or int(alias["FunctionVersion"]) not in runs:
        raise RollbackError(
            f"{function_name}:{LIVE_ALIAS} points at {alias['FunctionVersion']}, "
            "not a published version"
        )
    return alias["FunctionVersion"], runs


def _choose(function_name: str, current: int, runs: dict[int, str | None], to: str | None) -> int:
    """The newest version serving `to`, or else the newest earlier one serving another run."""
    if to:
        choices = [v for v in sorted(runs, reverse=True) if runs[v] == to]
        if not choices:
            known = sorted({r for r in runs.values() if r})
            raise RollbackError(
                f"no version of {function_name} serves run {to!r}; versions serve {known}"
            )
        return choices[0]
    older = [v for v in sorted(runs, reverse=True)
             if v < current and runs[v] and runs[v] != runs[current]]  # fmt: skip
    if not older:
        raise RollbackError(
            f"no earlier version of {function_name} served another run than {runs[current]!r}"
        )
    return older[0]


def _move(client: Any, function_name: str, current: str, target: int, run_id: str) -> None:
    client.update_alias(FunctionName=function_name, Name=LIVE_ALIAS, FunctionVersion=str(target),
                        RoutingConfig={"AdditionalVersionWeights": {}})  # fmt: skip
    log.info("%s:%s moved from version %s to %s (run %s)", function_name, LIVE_ALIAS, current,
             target, run_id)  # fmt: skip


def rollback(function_name: str, *, to: str | None, batch_function_name: str | None = None,
             api_only: bool = False, client: Any = None) -> tuple[str, str]:  # fmt: skip
    """Moves the API's `live` alias, and the batch function's to the same run, back to the
    chosen earlier version; returns (API version, run id). Both targets are found before
    either alias moves, so a batch function without that run leaves both where they were."""
    client = client or aws_client("lambda")
    current, runs = _alias_and_runs(client, function_name)
    target = _choose(function_name, int(current), runs, to)
    run_id = runs[target]
    assert run_id is not None  # _choose picks versions that name a run
    batch_move: tuple[str, int] | None = None
    if batch_function_name and not api_only:
        batch_current, batch_runs = _alias_and_runs(client, batch_function_name)
        serving = [v for v in sorted(batch_runs, reverse=True) if batch_runs[v] == run_id]
        if not serving:
            raise RollbackError(
                f"nothing moved: the batch function {batch_function_name} has no version of run "
                f"{run_id} (it serves {batch_runs[int(batch_current)]!r}). Pass --api-only to "
                "move the API alone; bulk scoring then keeps that run until the next deploy"
            )
        batch_move = (batch_current, serving[0])
    _move(client, function_name, current, target, run_id)
    if batch_move is not None:
        assert batch_function_name is not None
        _move(client, batch_function_name, *batch_move, run_id)
    elif api_only:
        log.warning("--api-only: bulk scoring keeps its run until the next deploy")
    else:
        log.info("no batch function (batchScoring off): the API alone moved")
    return str(target), run_id
