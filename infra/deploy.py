"""Deploy the stack the one way the docs (and the pipeline) do: `make deploy` runs this.

    python -m infra.deploy [--check] [--allow-change authMode] [--require-approval never]
    python -m infra.deploy --deploy-role        # the GitHub deploy role's stack, once

Every setting comes from cdk.json: this command takes no -c, and the app refuses a GUARDED
setting (infra/config.py) given with -c. Before anything is built it reads the deployed stack's
outputs and refuses a deploy that would change a GUARDED setting unless --allow-change names it:
authMode (leaving apiKey deletes the key and usage plan, `none` opens a private API) and
apiCloudWatchRole (whether the stack owns the region's API Gateway logging role). Then it runs
the pinned CDK CLI: `cdk deploy <stack> --outputs-file cdk.out/outputs.json`, with this
virtualenv's Python (cdk.json runs `python -m infra.app`). --check stops after the comparison.
Exit codes: 0 deployed (or checked), 2 refused, 1 the deploy ran and failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from infra.cli import CommandError, CommandFailed, read_config, run_command
from infra.config import GUARDED, ServiceConfig
from infra.deploy_role import deploy_role_stack_name
from infra.outputs import OUTPUTS_FILE, describe_stack, stack_outputs

REPO = Path(__file__).resolve().parent.parent
APPROVALS = ("never", "any-change", "broadening")
log = logging.getLogger("infra.deploy")


class DeployError(CommandError):
    """A deploy that must not go ahead; the message says why and what to do."""


class DeployFailed(CommandFailed):
    """`cdk deploy` ran and failed (a canary that CodeDeploy rolled back ends this way too)."""


def setting_changes(config: ServiceConfig, deployed: dict[str, str]) -> dict[str, str]:
    """GUARDED key -> what the deploy would do to it, for each one it would change (or cannot
    tell: a stack deployed before these outputs existed)."""
    changes = {}
    for key, value in config.guarded_values().items():
        was = deployed.get(GUARDED[key])
        if was is None:
            changes[key] = f"the deployed stack does not record {key} (output {GUARDED[key]})"
        elif was != value:
            changes[key] = f"{key} would change from {was!r} (deployed) to {value!r} (cdk.json)"
    return changes


def check_deployed(config: ServiceConfig, allow: Iterable[str], client: Any = None) -> None:
    """Refuses (DeployError) when the deployed stack's GUARDED settings differ from cdk.json's,
    except the keys in `allow`. No deployed stack: nothing to compare, a first deploy."""
    description = describe_stack(config.stack_name, client)
    if description is None:
        log.info("%s is not deployed yet: a first deploy", config.stack_name)
        return
    changes = setting_changes(config, stack_outputs(description))
    for key in set(changes) & set(allow):
        log.warning("allowed: %s", changes.pop(key))
    if changes:
        flags = " ".join(f"--allow-change {key}" for key in changes)
        raise DeployError(
            "refused, nothing deployed: "
            + "; ".join(changes.values())
            + f". If that is what you mean, deploy again with {flags} (make deploy "
            f'DEPLOY_ARGS="{flags}"); if not, set cdk.json back to the deployed value'
        )
    log.info("%s: %s as deployed", config.stack_name, config.guarded_values())


def cdk_deploy(stack_name: str, *, cwd: Path, require_approval: str | None,
               outputs_file: Path | None) -> None:  # fmt: skip
    """Runs the pinned CDK CLI's deploy of `stack_name`; DeployFailed if it fails."""
    command = ["npx", "--no-install", "cdk", "deploy", stack_name, "--no-notices"]
    if outputs_file is not None:
        outputs_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--outputs-file", str(outputs_file)]
    if require_approval:
        command += ["--require-approval", require_approval]
    env = {
        **os.environ,
        # cdk.json runs `python -m infra.app`: this interpreter's (the venv's) python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    log.info("running %s", " ".join(command))
    if subprocess.run(command, cwd=cwd, env=env, check=False).returncode != 0:
        raise DeployFailed(f"cdk deploy {stack_name} failed; see the stack's events above")


def deploy(cdk_json: Path, *, allow: Iterable[str] = (), require_approval: str | None = None,
           check_only: bool = False, client: Any = None) -> ServiceConfig:  # fmt: skip
    """cdk.json's stack, after the GUARDED settings check; the one path every deploy takes."""
    config = read_config(cdk_json)
    check_deployed(config, allow, client)
    if not check_only:
        cdk_deploy(config.stack_name, cwd=cdk_json.parent, require_approval=require_approval,
                   outputs_file=OUTPUTS_FILE)  # fmt: skip
    return config


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cdk-json", type=Path, default=REPO / "cdk.json")
    parser.add_argument("--check", action="store_true",
                        help="compare with the deployed stack and stop; deploy nothing")  # fmt: skip
    parser.add_argument("--allow-change", action="append", default=[], choices=sorted(GUARDED),
                        metavar="SETTING", help=f"let the deploy change it: {', '.join(GUARDED)}")  # fmt: skip
    parser.add_argument("--require-approval", choices=APPROVALS,
                        help="default: cdk.json's requireApproval (a prompt needs a terminal)")  # fmt: skip
    parser.add_argument("--deploy-role", action="store_true",
                        help="deploy the GitHub deploy role's stack (githubRepository) instead")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="deploy: %(message)s")
    args = parse_args(argv)

    def run() -> None:
        if not args.deploy_role:
            deploy(args.cdk_json, allow=args.allow_change, require_approval=args.require_approval,
                   check_only=args.check)  # fmt: skip
            return
        config = read_config(args.cdk_json)
        if not config.github_repository:
            raise DeployError('set "githubRepository": "<owner>/<name>" in cdk.json first')
        cdk_deploy(deploy_role_stack_name(config.stack_name), cwd=args.cdk_json.parent,
                   require_approval=args.require_approval,
                   outputs_file=OUTPUTS_FILE.with_name("deploy-role-outputs.json"))  # fmt: skip

    return run_command(run, log, check="the credentials and AWS_REGION")


if __name__ == "__main__":
    sys.exit(main())
