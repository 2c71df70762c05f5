"""The CDK app: `npx cdk synth` (or `make synth`) runs this through cdk.json.

npx cdk synth --no-notices -c modelUri=models/<run-id>
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ServiceConfig
from infra.stack import SentimentStack


def build(app: cdk.App) -> SentimentStack:
    """Adds the stack, configured from the app's context, with cdk-nag checking all of it."""
    config = ServiceConfig.from_context(app.node)
    stack = SentimentStack(
        app,
        config.stack_name,
        config=config,
        description="Sentiment analysis API: model artifacts bucket, container Lambda, REST API",
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
