"""The deployed stack's outputs, read from CloudFormation and written as `cdk deploy
--outputs-file` writes them, so cdk.out/outputs.json comes back after `make clean` or on another
machine (`make outputs`), and the tools that read it re-create it when it is missing.

    python -m infra.outputs [--file cdk.out/outputs.json]      # the stack named in cdk.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.aws_clients import client as aws_client
from infra.cli import CommandError, read_config, run_command

REPO = Path(__file__).resolve().parent.parent
OUTPUTS_FILE = REPO / "cdk.out" / "outputs.json"
# Statuses in which the stack, for a deploy, is not there: never created, gone, or a failed
# first create that `cdk deploy` deletes and creates again.
NOT_DEPLOYED = {"DELETE_COMPLETE", "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"}
log = logging.getLogger("infra.outputs")


class OutputsError(CommandError):
    """No outputs to be had; the message says why and what to run."""


def describe_stack(stack_name: str, client: Any = None) -> dict[str, Any] | None:
    """CloudFormation's description of the deployed stack, or None when none is deployed."""
    from botocore.exceptions import ClientError

    client = client or aws_client("cloudformation")
    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] in NOT_DEPLOYED:
        return None
    return stacks[0]


def stack_outputs(description: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def write_outputs(path: Path, stack_name: str, outputs: dict[str, str]) -> None:
    """The same shape as `cdk deploy --outputs-file`: {stack: {output: value}}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.new")
    tmp.write_text(json.dumps({stack_name: outputs}, indent=2) + "\n")
    tmp.replace(path)


def fetch_outputs(path: Path, stack_name: str, client: Any = None) -> dict[str, str]:
    """Reads the deployed stack's outputs and writes them to `path`."""
    description = describe_stack(stack_name, client)
    if description is None:
        raise OutputsError(
            f"stack {stack_name} is not deployed in this account and region (AWS_REGION): "
            "deploy it first (make deploy), or set AWS_REGION to the stack's region"
        )
    outputs = stack_outputs(description)
    write_outputs(path, stack_name, outputs)
    log.info("wrote %s from the deployed stack %s", path, stack_name)
    return outputs


def load_outputs(path: Path, stack_name: str, client: Any = None) -> dict[str, str]:
    """`path`'s outputs of `stack_name`; re-created from the deployed stack when missing."""
    try:
        stacks = json.loads(path.read_text())
    except (OSError, ValueError):
        stacks = {}
    if isinstance(stacks, dict) and isinstance(stacks.get(stack_name), dict):
        return stacks[stack_name]
    log.info("%s has no outputs of %s: reading them from the deployed stack", path, stack_name)
    return fetch_outputs(path, stack_name, client)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="outputs: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m infra.outputs", description=__doc__)
    parser.add_argument("--file", type=Path, default=OUTPUTS_FILE)
    parser.add_argument("--cdk-json", type=Path, default=REPO / "cdk.json")
    args = parser.parse_args(argv)
    return run_command(
        lambda: fetch_outputs(args.file, read_config(args.cdk_json).stack_name),
        log,
        check="the credentials and AWS_REGION",
    )


if __name__ == "__main__":
    sys.exit(main())
