"""Promote a published run, or roll back to an earlier one: the two release verbs.

    python -m infra.release promote <run-id> --bucket <artifacts bucket> [--deploy]
    python -m infra.release rollback --function-name <FunctionName output> [--to <run-id>]

`promote` fetches and verifies the run exactly as the function will (every sha256), pins it in
cdk.json (`modelUri`, and `trafficShift` if the stack had none) and, with --deploy, runs
`npx cdk deploy`: CodeDeploy then shifts the `live` alias to it in a canary and rolls it back on
its own if an alarm fires. A deploy that fails puts cdk.json back as it was.

`rollback` moves the `live` alias straight back to the newest earlier version that served
another run (or --to's), with no canary and no build: every version is kept and names its run.
It pins that run in cdk.json too, so the next deploy keeps serving it. Commit cdk.json after
either. Exit codes: 0 done, 2 refused (unknown or damaged run, bad arguments), 1 deploy failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.bundle import BundleError
from contract.storage import StorageError, fetch_bundle
from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext
from infra.inference_function import LIVE_ALIAS

log = logging.getLogger("release")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHIFT = "Canary10Percent5Minutes"
RUN_PREFIX = "run "  # a version's description: "run <run-id>" (infra/stack.py)


class ReleaseError(Exception):
    """A release that must not go ahead; the message says why and what to do."""


def read_cdk_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"cannot read {path}: {exc}; run from the repository root") from exc


def pin(path: Path, run_id: str, traffic_shift: str | None) -> tuple[dict, ServiceConfig]:
    """cdk.json with `run_id` pinned (same bucket form as before), checked by the app's own
    rules before anything is written; returns the new document and its config."""
    document = read_cdk_json(path)
    context = document.setdefault("context", {})
    try:
        current = ServiceConfig.from_context(MappingContext(context))
    except ConfigError as exc:
        raise ReleaseError(f"{path} does not synthesize as it is: {exc}") from exc
    prefix = current.model_read_prefix
    bucket = current.model_location.bucket
    context["modelUri"] = f"s3://{bucket}/{prefix}/{run_id}" if bucket else f"{prefix}/{run_id}"
    if traffic_shift:
        context["trafficShift"] = traffic_shift
    elif current.traffic_shift == "off":
        context["trafficShift"] = DEFAULT_SHIFT
    try:
        config = ServiceConfig.from_context(MappingContext(context))
    except ConfigError as exc:
        raise ReleaseError(f"{path} would not synthesize: {exc}") from exc
    return document, config


def write_cdk_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.new")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def verify_run(bucket: str, prefix: str, run_id: str) -> str:
    """Fetches the run's served files and checks every sha256, as the function's init does;
    returns the manifest's run id. An unknown or damaged run raises ReleaseError."""
    uri = f"s3://{bucket}/{prefix}/{run_id}"
    with tempfile.TemporaryDirectory(prefix="release-") as cache:
        try:
            bundle = fetch_bundle(uri, cache, serving_only=True)
        except (BundleError, StorageError) as exc:
            raise ReleaseError(f"run {run_id} refused: {exc}") from exc
        from contract.bundle import read_manifest

        manifest_run = read_manifest(bundle).run_id
    if manifest_run != run_id:
        raise ReleaseError(
            f"{uri} holds run {manifest_run!r}, not {run_id!r}: promote it by its own id"
        )
    return uri


def promote(run_id: str, *, bucket: str | None, cdk_json: Path, traffic_shift: str | None,
            deploy: bool) -> str:  # fmt: skip
    before = cdk_json.read_text() if cdk_json.exists() else None
    document, config = pin(cdk_json, run_id, traffic_shift)
    bucket = config.model_location.bucket or bucket
    if not bucket:
        raise ReleaseError(
            "which bucket holds the run? pass --bucket <ArtifactsBucketName> (the stack output)"
        )
    uri = verify_run(bucket, config.model_read_prefix, run_id)
    write_cdk_json(cdk_json, document)
    log.info("pinned %s in %s (trafficShift %s)", uri, cdk_json, config.traffic_shift)
    if not deploy:
        log.info("next: npx cdk deploy %s, then commit %s", config.stack_name, cdk_json.name)
        return uri
    command = ["npx", "cdk", "deploy", config.stack_name, "--require-approval", "never"]
    if subprocess.run(command, cwd=cdk_json.parent, check=False).returncode != 0:
        if before is not None:
            cdk_json.write_text(before)
        raise DeployFailed(
            f"cdk deploy failed (a canary CodeDeploy rolled back ends this way too); "
            f"{cdk_json.name} is back as it was. See the stack's events and the alarms"
        )
    return uri


class DeployFailed(ReleaseError):
    """The deploy ran and failed (or CodeDeploy rolled it back)."""


def _version_run(version: dict[str, Any]) -> str | None:
    description = version.get("Description") or ""
    return description[len(RUN_PREFIX) :] if description.startswith(RUN_PREFIX) else None


def rollback(function_name: str, *, to: str | None, cdk_json: Path | None,
             client: Any = None) -> tuple[str, str]:  # fmt: skip
    """Moves `live` to the chosen earlier version; returns (version, run id)."""
    import boto3

    client = client or boto3.client("lambda")
    alias = client.get_alias(FunctionName=function_name, Name=LIVE_ALIAS)
    current = alias["FunctionVersion"]
    if alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
        raise ReleaseError(
            "a canary is moving the alias now: stop it with `aws deploy stop-deployment "
            "--deployment-id <id> --auto-rollback-enabled` instead"
        )
    versions = []
    for page in client.get_paginator("list_versions_by_function").paginate(
        FunctionName=function_name
    ):
        versions += [v for v in page["Versions"] if v["Version"] != "$LATEST"]
    runs = {v["Version"]: _version_run(v) for v in versions}
    if current not in runs:
        raise ReleaseError(
            f"{function_name}:{LIVE_ALIAS} points at {current}, not a published version"
        )
    older = sorted((int(v) for v in runs if int(v) < int(current)), reverse=True)
    if to:
        choices = [v for v in sorted(map(int, runs), reverse=True) if runs[str(v)] == to]
        if not choices:
            known = sorted({r for r in runs.values() if r})
            raise ReleaseError(
                f"no version of {function_name} serves run {to!r}; versions serve {known}"
            )
    else:
        choices = [v for v in older if runs[str(v)] and runs[str(v)] != runs[current]]
        if not choices:
            raise ReleaseError(
                f"no earlier version of {function_name} served another run than {runs[current]!r}"
            )
    target = str(choices[0])
    run_id = runs[target]
    assert run_id is not None
    client.update_alias(FunctionName=function_name, Name=LIVE_ALIAS, FunctionVersion=target,
                        RoutingConfig={"AdditionalVersionWeights": {}})  # fmt: skip
    log.info(
        "%s:%s moved from version %s to %s (run %s)",
        function_name,
        LIVE_ALIAS,
        current,
        target,
        run_id,
    )
    if cdk_json is not None:
        document, _ = pin(cdk_json, run_id, None)
        write_cdk_json(cdk_json, document)
        log.info(
            "pinned run %s in %s: commit it so the next deploy keeps serving it", run_id, cdk_json
        )
    return target, run_id


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _from_outputs(outputs: Path, key: str) -> str | None:
    try:
        stacks = json.loads(outputs.read_text())
    except (OSError, ValueError):
        return None
    return next((s[key] for s in stacks.values() if key in s), None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.release", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cdk-json", type=Path, default=REPO / "cdk.json")
    parser.add_argument("--outputs", type=Path, default=REPO / "cdk.out" / "outputs.json",
                        help="`cdk deploy --outputs-file`: where --bucket and --function-name "
                        "default from")  # fmt: skip
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("promote", help="verify a published run, pin it, optionally deploy")
    up.add_argument("run_id")
    up.add_argument(
        "--bucket", help="the artifacts bucket (default: the ArtifactsBucketName output)"
    )
    up.add_argument("--traffic-shift", help=f"a CodeDeploy Lambda config name (default: {DEFAULT_SHIFT} "
                    "when the stack has none)")  # fmt: skip
    up.add_argument("--deploy", action="store_true", help="run `npx cdk deploy` after pinning")
    back = verbs.add_parser("rollback", help="move the live alias back to an earlier run's version")
    back.add_argument("--function-name", help="default: the FunctionName output")
    back.add_argument("--to", help="the run to go back to (default: the one before the current)")
    back.add_argument("--no-pin", action="store_true", help="leave cdk.json alone")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="release: %(message)s")
    args = parse_args(argv)
    try:
        if args.verb == "promote":
            bucket = args.bucket or _from_outputs(args.outputs, "ArtifactsBucketName")
            promote(args.run_id, bucket=bucket, cdk_json=args.cdk_json,
                    traffic_shift=args.traffic_shift, deploy=args.deploy)  # fmt: skip
        else:
            name = args.function_name or _from_outputs(args.outputs, "FunctionName")
            if not name:
                raise ReleaseError("which function? pass --function-name (the FunctionName output)")
            rollback(name, to=args.to, cdk_json=None if args.no_pin else args.cdk_json)
    except DeployFailed as exc:
        log.error("%s", exc)
        return 1
    except _aws_errors() as exc:
        log.error("AWS refused: %s; check the credentials, AWS_REGION and the function name", exc)
        return 2
    except ReleaseError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
