"""The shadow verbs of the release CLI (`python -m infra.release shadow | compare`) and the check
`promote` runs before it pins a run: infra/shadow_report.py reads what the shadow did.

`shadow <run-id>` verifies the run as promote does (every sha256) and names it in cdk.json
(`shadowRun`, and `shadowSample` with --sample); the next deploy puts a receiver function serving
it beside the live version, and the live function copies that share of its prediction requests
to it after answering them. `shadow --stop` takes it away. Commit cdk.json after either.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from infra.cli import CommandError
from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext
from infra.deploy import deploy
from infra.release import ReleaseError, read_cdk_json, verify_run, write_cdk_json
from infra.shadow_report import describe, read_comparison, verdict

log = logging.getLogger("release")


def check_shadow(config: ServiceConfig, run_id: str, force: bool) -> None:
    """Refuses a candidate whose shadow agreement is below shadowMinAgreement (infra/
    shadow_report.py), unless `force`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        judged = verdict(config, read_comparison(config, run_id))
    except (BotoCoreError, ClientError) as exc:
        if not force:
            raise ReleaseError(f"cannot read run {run_id}'s shadow comparison from CloudWatch: "
                               f"{exc}; --force promotes without it") from exc  # fmt: skip
        log.warning("shadow comparison unreadable (%s); promoting anyway (--force)", exc)
        return
    if judged.allowed:
        log.info("%s", judged.message)
    elif force:
        log.warning("%s; promoting anyway (--force)", judged.message)
    else:
        raise ReleaseError(judged.message)


def shadow(run_id: str | None, *, bucket: str | None, cdk_json: Path, sample: float | None,
           deploy_now: bool) -> None:  # fmt: skip
    """Puts `run_id` beside the live version (verified like promote's run), or with None takes
    the shadow away; writes cdk.json and, with `deploy_now`, deploys it as `make deploy` does
    (cdk.json back as it was when that fails)."""
    before = cdk_json.read_text() if cdk_json.exists() else None
    document = read_cdk_json(cdk_json)
    context = document.setdefault("context", {})
    if run_id is None:
        context.pop("shadowRun", None)
    else:
        context["shadowRun"] = run_id
        if sample is not None:
            context["shadowSample"] = sample
    try:
        config = ServiceConfig.from_context(MappingContext(context))
    except ConfigError as exc:
        raise ReleaseError(f"{cdk_json} would not synthesize: {exc}") from exc
    if run_id is not None:
        if config.pinned_run == run_id:
            raise ReleaseError(f"run {run_id} is the one modelUri serves: shadow another run")
        where = config.model_location.bucket or bucket
        if not where:
            raise ReleaseError("which bucket holds the run? pass --bucket <ArtifactsBucketName>")
        verify_run(where, config.model_read_prefix, run_id)
        log.info("shadowing run %s on %.0f%% of prediction requests", run_id,
                 config.shadow_sample * 100)  # fmt: skip
    write_cdk_json(cdk_json, document)
    if not deploy_now:
        log.info("next: make deploy, then commit %s", cdk_json.name)
        return
    try:
        deploy(cdk_json)
    except CommandError:  # refused by the deploy guard, or failed
        if before is not None:
            cdk_json.write_text(before)
        raise


def compare(run_id: str | None, *, cdk_json: Path, hours: int, as_json: bool) -> None:
    document = read_cdk_json(cdk_json)
    try:
        config = ServiceConfig.from_context(MappingContext(document.get("context", {})))
    except ConfigError as exc:
        raise ReleaseError(f"{cdk_json} does not synthesize as it is: {exc}") from exc
    run_id = run_id or config.shadow_run
    if not run_id:
        raise ReleaseError("which candidate? pass its run id (cdk.json shadows none)")
    comparison = read_comparison(config, run_id, hours)
    if as_json:
        sys.stdout.write(json.dumps(comparison, indent=2) + "\n")
        return
    for line in [*describe(comparison), verdict(config, comparison).message]:
        log.info("%s", line)
