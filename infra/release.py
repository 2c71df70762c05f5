"""Promote a published run, or roll back to an earlier one: the two release verbs.

    python -m infra.release promote <run-id> --bucket <artifacts bucket> [--deploy]
    python -m infra.release rollback --function-name <FunctionName output> [--to <run-id>]
    python -m infra.release shadow <run-id> --bucket <artifacts bucket> [--sample 0.1] [--deploy]
    python -m infra.release compare [<run-id>] [--json]

`promote` fetches and verifies the run exactly as the function will (every sha256), pins it in
cdk.json (`modelUri`, and `trafficShift` if the stack had none) and, with --deploy, deploys the
way `make deploy` does (infra/deploy.py: refused if a guarded setting would change): CodeDeploy
then shifts the API's `live` alias to it in a canary and rolls it back on its own if an alarm
fires; the batch function's alias moves with the stack. A deploy that fails puts cdk.json back.

`rollback` moves the `live` aliases of both functions, the API's and bulk scoring's, straight
back to their newest earlier versions that served another run (or --to's), with no canary and no
build: every version is kept (retained) and names its run. If the batch function has no version
of that run, nothing moves unless --api-only says to leave bulk scoring where it is. It pins the
run in cdk.json too, so the next deploy keeps serving it. Commit cdk.json after either.

`shadow` verifies a run and names it in cdk.json (`shadowRun`): the next deploy serves it from a
receiver function that a sample of live prediction requests is copied to, after their answers.
`compare` prints what it did (agreement, flips by length, confidence shift, time), and `promote`
refuses a candidate whose agreement is below shadowMinAgreement unless --force
(infra/shadow_report.py). Exit codes: 0 done, 2 refused (unknown or damaged run, a shadow
agreement too low, bad arguments), 1 deploy failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.bundle import BundleError, read_manifest
from contract.storage import StorageError, fetch_bundle
from infra.cli import CommandError, read_config, run_command
from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext
from infra.deploy import APPROVALS, DeployFailed, cdk_deploy, check_deployed
from infra.outputs import OUTPUTS_FILE, load_outputs
from infra.rollback import rollback
from infra.shadow_report import COMPARE_HOURS

log = logging.getLogger("release")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHIFT = "Canary10Percent5Minutes"


class ReleaseError(CommandError):
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
        manifest_run = read_manifest(bundle).run_id
    if manifest_run != run_id:
        raise ReleaseError(
            f"{uri} holds run {manifest_run!r}, not {run_id!r}: promote it by its own id"
        )
    return uri


def promote(run_id: str, *, bucket: str | None, cdk_json: Path, traffic_shift: str | None,
            deploy: bool, require_approval: str | None = None, force: bool = False) -> str:  # fmt: skip
    before = cdk_json.read_text() if cdk_json.exists() else None
    document, config = pin(cdk_json, run_id, traffic_shift)
    bucket = config.model_location.bucket or bucket
    if not bucket:
        raise ReleaseError(
            "which bucket holds the run? pass --bucket <ArtifactsBucketName> (the stack output)"
        )
    from infra.shadow_release import check_shadow

    check_shadow(config, run_id, force)
    uri = verify_run(bucket, config.model_read_prefix, run_id)
    if deploy:
        check_deployed(config, allow=())  # before cdk.json changes: a refusal leaves it alone
    if document["context"].get("shadowRun") == run_id:  # it is live now: nothing to shadow
        document["context"].pop("shadowRun")
    write_cdk_json(cdk_json, document)
    log.info("pinned %s in %s (trafficShift %s)", uri, cdk_json, config.traffic_shift)
    if not deploy:
        log.info("next: make deploy, then commit %s", cdk_json.name)
        return uri
    try:
        cdk_deploy(config.stack_name, cwd=cdk_json.parent, require_approval=require_approval,
                   outputs_file=OUTPUTS_FILE)  # fmt: skip
    except DeployFailed as exc:
        if before is not None:
            cdk_json.write_text(before)
        raise DeployFailed(
            f"{exc} (a canary CodeDeploy rolled back ends this way too); {cdk_json.name} is "
            "back as it was. See the stack's events and the alarms"
        ) from exc
    return uri


def _outputs(outputs: Path, cdk_json: Path) -> dict[str, str]:
    """The stack's outputs from `outputs`, re-created from the deployed stack when missing."""
    return load_outputs(outputs, read_config(cdk_json).stack_name)


def _rollback_targets(args: argparse.Namespace) -> tuple[str, str | None]:
    """The API function and the batch function (None: batch scoring is off) to move."""
    if args.function_name:
        if not (args.batch_function_name or args.api_only):
            raise ReleaseError(
                "with --function-name, say what bulk scoring does: --batch-function-name "
                "<BatchFunctionName output> moves it too, --api-only leaves it on its run"
            )
        return args.function_name, args.batch_function_name
    outputs = _outputs(args.outputs, args.cdk_json)
    if "FunctionName" not in outputs:
        raise ReleaseError(f"{args.outputs} names no FunctionName: pass --function-name")
    return outputs["FunctionName"], args.batch_function_name or outputs.get("BatchFunctionName")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.release", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cdk-json", type=Path, default=REPO / "cdk.json")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_FILE,
                        help="`cdk deploy --outputs-file`: where --bucket and --function-name "
                        "default from (re-created from the deployed stack when missing)")  # fmt: skip
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("promote", help="verify a published run, pin it, optionally deploy")
    up.add_argument("run_id")
    up.add_argument(
        "--bucket", help="the artifacts bucket (default: the ArtifactsBucketName output)"
    )
    up.add_argument("--traffic-shift", help=f"a CodeDeploy Lambda config name (default: {DEFAULT_SHIFT} "
                    "when the stack has none)")  # fmt: skip
    up.add_argument("--deploy", action="store_true", help="deploy (as make deploy) after pinning")
    up.add_argument("--require-approval", choices=APPROVALS,
                    help="with --deploy; default: cdk.json's requireApproval")  # fmt: skip
    up.add_argument("--force", action="store_true",
                    help="promote even when its shadow agreement is below shadowMinAgreement")  # fmt: skip
    side = verbs.add_parser("shadow", help="put a run beside the live version on a sample of "
                            "requests (cdk.json shadowRun), or --stop")  # fmt: skip
    side.add_argument("run_id", nargs="?")
    side.add_argument("--stop", action="store_true", help="take the shadow away")
    side.add_argument("--sample", type=float, help="share of prediction requests copied "
                      "(cdk.json shadowSample, default 0.1)")  # fmt: skip
    side.add_argument(
        "--bucket", help="the artifacts bucket (default: the ArtifactsBucketName output)"
    )
    side.add_argument("--deploy", action="store_true", help="deploy (as make deploy) after")
    report = verbs.add_parser("compare", help="what the shadowed run did on live traffic")
    report.add_argument("run_id", nargs="?", help="default: cdk.json's shadowRun")
    report.add_argument("--hours", type=int, default=COMPARE_HOURS,
                        help=f"how far back (default {COMPARE_HOURS})")  # fmt: skip
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    back = verbs.add_parser("rollback", help="move the live alias back to an earlier run's version")
    back.add_argument("--function-name", help="default: the FunctionName output")
    back.add_argument("--batch-function-name",
                      help="default: the BatchFunctionName output (none: batchScoring is off)")  # fmt: skip
    back.add_argument("--api-only", action="store_true",
                      help="move the API's alias only; bulk scoring keeps its run")  # fmt: skip
    back.add_argument("--to", help="the run to go back to (default: the one before the current)")
    back.add_argument("--no-pin", action="store_true", help="leave cdk.json alone")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="release: %(message)s")
    args = parse_args(argv)

    def run() -> None:
        if args.verb == "promote":
            bucket = args.bucket
            if not bucket and read_config(args.cdk_json).model_location.bucket is None:
                bucket = _outputs(args.outputs, args.cdk_json).get("ArtifactsBucketName")
            promote(args.run_id, bucket=bucket, cdk_json=args.cdk_json,
                    traffic_shift=args.traffic_shift, deploy=args.deploy,
                    require_approval=args.require_approval, force=args.force)  # fmt: skip
            return
        if args.verb in ("shadow", "compare"):
            from infra.shadow_release import compare, shadow

            if args.verb == "compare":
                compare(args.run_id, cdk_json=args.cdk_json, hours=args.hours, as_json=args.json)
                return
            if bool(args.run_id) == args.stop:
                raise ReleaseError("name the run to shadow, or --stop (not both)")
            bucket = args.bucket
            if (
                not bucket
                and not args.stop
                and read_config(args.cdk_json).model_location.bucket is None
            ):
                bucket = _outputs(args.outputs, args.cdk_json).get("ArtifactsBucketName")
            shadow(None if args.stop else args.run_id, bucket=bucket, cdk_json=args.cdk_json,
                   sample=args.sample, deploy_now=args.deploy)  # fmt: skip
            return
        name, batch = _rollback_targets(args)
        _, run_id = rollback(name, to=args.to, batch_function_name=batch, api_only=args.api_only)
        if not args.no_pin:
            document, _ = pin(args.cdk_json, run_id, None)
            write_cdk_json(args.cdk_json, document)
            log.info("pinned run %s in %s: commit it so the next deploy keeps serving it",
                     run_id, args.cdk_json)  # fmt: skip

    return run_command(run, log, check="the credentials, AWS_REGION and the function name")


if __name__ == "__main__":
    sys.exit(main())
