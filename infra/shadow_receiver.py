"""The shadow receiver: the serving image with another CMD (function/shadow/handler.py), serving
the candidate run cdk.json's `shadowRun` names, beside the live version. The live function copies
a sample of its prediction requests to it after answering (an asynchronous Invoke sent by its
internal extension), and may invoke nothing else.

Asynchronous invocations are not retried and expire after a minute: a copy that fails or waits is
dropped, since a shadow measures a sample and its text must not linger in Lambda's queue.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.inference_function import (
    grant_model_read,
    image_code,
    lambda_architecture,
    suppress_model_read,
)

SHADOW_HANDLER = "function.shadow.handler.handler"


class ShadowReceiver(Construct):
    """The receiver function with its own role and logs; `live` may invoke it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        run_id: str,
        model_bucket: s3.IBucket,
        model_prefix: str,
        environment: dict[str, str],
        architecture: str,
        memory_mb: int,
        log_retention: logs.RetentionDays,
        live: lambda_.Function,
        sample: float,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Shadow receiver: its own log group, read-only on the model prefix",
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=image_code(architecture, cmd=[SHADOW_HANDLER]),
            description=f"Sentiment shadow: candidate run {run_id}"[:256],
            architecture=lambda_architecture(architecture),
            memory_size=memory_mb,  # as the live function, so the time comparison is fair
            timeout=Duration.seconds(60),
            environment=environment,
            role=role,
            log_group=self.log_group,
            retry_attempts=0,
            max_event_age=Duration.minutes(1),
        )
        self.log_group.grant_write(role)
        grant_model_read(role, model_bucket, model_prefix)
        suppress_model_read(role, model_prefix, "the shadow receiver")
        self.function.grant_invoke(live)
        live.add_environment("SHADOW_FUNCTION", self.function.function_name)
        live.add_environment("SHADOW_SAMPLE", repr(sample))
