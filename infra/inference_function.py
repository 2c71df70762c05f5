"""The serving function: the container image built from function/Dockerfile, with its role and logs.

The image's build context is the repository root (the Dockerfile copies contract/ and function/),
so the asset is everything there except what IMAGE_CONTEXT leaves out.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "function/Dockerfile"
# Docker-style ignore rules over the repository root: only what the image copies goes into the
# asset (and its hash), so a retrain, a test or a virtualenv change never rebuilds the image.
IMAGE_CONTEXT = [
    "*",
    "!contract",
    "!function",
    "**/__pycache__",
    "**/*.pyc",
]
# The logical id that `sam local invoke <id>` and the docs use; keep it stable.
FUNCTION_LOGICAL_ID = "SentimentFunction"
LIVE_ALIAS = "live"

_ARCHITECTURES = {
    "x86_64": (lambda_.Architecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
    "arm64": (lambda_.Architecture.ARM_64, ecr_assets.Platform.LINUX_ARM64),
}


def lambda_architecture(architecture: str) -> lambda_.Architecture:
    return _ARCHITECTURES[architecture][0]


def image_code(architecture: str, cmd: list[str] | None = None) -> lambda_.DockerImageCode:
    """The serving image, built from function/Dockerfile. Every function built from it shares
    one asset (one build, one ECR image); `cmd` picks another handler in it."""
    return lambda_.DockerImageCode.from_image_asset(
        directory=str(REPO_ROOT),
        file=DOCKERFILE,
        exclude=IMAGE_CONTEXT,
        ignore_mode=IgnoreMode.DOCKER,
        platform=_ARCHITECTURES[architecture][1],
        cmd=cmd,
    )


def grant_model_read(role: iam.IRole, bucket: s3.IBucket, prefix: str) -> None:
    """GetObject under the prefix, and ListBucket only for keys under it: ListBucket turns a
    missing latest.json into a 404 (instead of a 403) that the function can explain."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadModelBundles",
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{prefix}/*")],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ListModelBundles",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        )
    )


def retained_versions(description: str | None) -> lambda_.VersionOptions:
    """Each published version is kept when the next one replaces it, so `infra.release rollback`
    has an earlier run to move the alias back to. aws-cdk-lib's VersionOptions.removal_policy
    defaults to DESTROY (the Version gets no DeletionPolicy), and CloudFormation deletes a
    resource dropped from the template, so every deploy would delete the version before it.
    Retained versions still go with the stack: deleting a function deletes all its versions."""
    return lambda_.VersionOptions(description=description, removal_policy=RemovalPolicy.RETAIN)


def suppress_model_read(role: iam.IRole, model_prefix: str, who: str) -> None:
    """cdk-nag's wildcard finding on `grant_model_read`'s <prefix>/*, with its reason."""
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=f"Runs are published as <prefix>/<run-id>/<file>; {who} reads runs under "
                "the model prefix and nothing else in the bucket.",
                applies_to=[{"regex": f"/^Resource::.*/{re.escape(model_prefix)}/\\*$/"}],
            )
        ],
        apply_to_children=True,
    )


class InferenceFunction(Construct):
    """A DockerImageFunction that may read `<model bucket>/<model prefix>/*` and nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_bucket: s3.IBucket,
        model_prefix: str,
        environment: dict[str, str],
        memory_mb: int,
        timeout_seconds: int,
        architecture: str,
        reserved_concurrency: int | None,
        provisioned_concurrency: int,
        log_retention: logs.RetentionDays,
        live_alias: bool = False,
        version_description: str | None = None,
        tracing: bool = False,
    ) -> None:
        """`environment` is `ServiceConfig.function_environment(...)`: the function's Settings.
        `live_alias` puts the API behind the `live` alias (a canary moves it), and
        `version_description` names what each published version serves (the run id)."""
        super().__init__(scope, construct_id)
        arch = _ARCHITECTURES[architecture][0]

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role instead of AWSLambdaBasicExecutionRole: that managed policy may write to
        # every log group in the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Sentiment function: its own log group, read-only on the model prefix",
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=image_code(architecture),
            description="Sentiment analysis: ONNX Runtime behind FastAPI/Mangum",
            architecture=arch,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            role=self.role,
            log_group=self.log_group,
            # Active: Lambda samples requests itself and runs the daemon the function's
            # tokenize/inference subsegments go to (function/tracing.py).
            tracing=lambda_.Tracing.ACTIVE if tracing else None,
            current_version_options=retained_versions(version_description),
        )
        cfn_function = self.function.node.default_child
        cfn_function.override_logical_id(FUNCTION_LOGICAL_ID)

        self.log_group.grant_write(self.role)
        grant_model_read(self.role, model_bucket, model_prefix)

        # What API Gateway invokes: the `live` alias when a canary moves traffic or environments
        # are kept warm (provisioned concurrency lives on an alias or version), else the function.
        self.alias: lambda_.Alias | None = None
        self.target: lambda_.IFunction = self.function
        if live_alias or provisioned_concurrency > 0:
            self.alias = lambda_.Alias(
                self,
                "LiveAlias",
                alias_name=LIVE_ALIAS,
                version=self.function.current_version,
                provisioned_concurrent_executions=provisioned_concurrency or None,
            )
            self.target = self.alias

        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Bundles are published as <prefix>/<run-id>/<file> by the training "
                    "job; the function reads any run under the model prefix (rollback is a "
                    "change of MODEL_URI) and nothing else in the bucket.",
                    applies_to=[{"regex": f"/^Resource::.*/{re.escape(model_prefix)}/\\*$/"}],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Active tracing: xray:PutTraceSegments and PutTelemetryRecords take "
                    "no resource ARN.",
                    applies_to=["Resource::*"],
                ),
            ],
            apply_to_children=True,
        )
