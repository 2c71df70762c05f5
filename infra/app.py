"""The CDK app: `npx cdk synth` (or `make synth`) runs this through cdk.json; deploy with
`make deploy` (python -m infra.deploy), which checks the deployed stack first.

    npx cdk synth --no-notices -c modelUri=models/<run-id>
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import GUARDED, ServiceConfig
from infra.context import ConfigError, MappingContext
from infra.deploy_role import GitHubDeployRoleStack, deploy_role_stack_name
from infra.stack import SentimentStack

BOOTSTRAP_QUALIFIER = "@aws-cdk/core:bootstrapQualifier"
log = logging.getLogger("infra.app")


def build(app: cdk.App) -> SentimentStack:
    """Adds the stack (and, with githubRepository, its deploy role's stack), configured from
    the app's context, with cdk-nag checking all of it."""
    config = ServiceConfig.from_context(app.node)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    stack = SentimentStack(
        app,
        config.stack_name,
        config=config,
        description="Sentiment analysis API: model artifacts bucket, container Lambda, REST API",
        env=env,
    )
    if config.github_repository:
        GitHubDeployRoleStack(
            app,
            deploy_role_stack_name(config.stack_name),
            repository=config.github_repository,
            environment=config.github_environment,
            service_stack=config.stack_name,
            provider_arn=config.github_oidc_provider_arn,
            qualifier=app.node.try_get_context(BOOTSTRAP_QUALIFIER),
            description=f"The role GitHub Actions deploys {config.stack_name} with (OIDC)",
            env=env,
        )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def refuse_guarded_overrides(app: cdk.App, cdk_json: Path) -> None:
    """A GUARDED setting comes from cdk.json only: given with `-c` it would hold for that one
    command, and the next plain deploy would silently change it back."""
    try:
        committed = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, ValueError):
        return  # no cdk.json of ours: nothing to compare with
    given = ServiceConfig.from_context(app.node).guarded_values()
    kept = ServiceConfig.from_context(MappingContext(committed)).guarded_values()
    for key in GUARDED:
        if given[key] != kept[key]:
            raise ConfigError(
                f"context {key!r} is {given[key]!r} here but {kept[key]!r} in {cdk_json}: "
                f"{key} is read from cdk.json only, so that every deploy keeps it. Set "
                f'"{key}": ... in cdk.json\'s context (and commit it), not with -c'
            )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = cdk.App()
    try:
        # The CLI runs the app where cdk.json is.
        refuse_guarded_overrides(app, Path.cwd() / "cdk.json")
        build(app)
    except ConfigError as exc:
        log.error("%s", exc)  # the fix is in the message; a traceback would bury it
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
