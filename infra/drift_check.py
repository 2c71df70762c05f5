"""The drift check: an EventBridge schedule runs a function built from the serving image (another
CMD, as the batch function is) every `window_minutes`; it compares the window's live bucket counts
with the served run's reference profile and publishes PSI per dimension (function/drift/
handler.py). An alarm fires when the largest PSI of a window is above the threshold.

Why a function and not metric math: PSI needs each bucket's share in the reference, a file in
the bundle that metric math cannot read, and a sum over ~23 buckets with logs of ratios and a
floor for empty ones; one expression per dimension could hold it with the reference shares
pasted in at synth, but then every retrain would need a deploy to refresh the numbers, and a
window under the minimum traffic could not say so.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from function.drift.metrics import DIMENSION_KEY, MAX_PSI_METRIC, PREDICTIONS_METRIC, PSI_METRIC
from infra.inference_function import (
    grant_model_read,
    image_code,
    lambda_architecture,
    suppress_model_read,
)

DRIFT_HANDLER = "function.drift.handler.handler"


class DriftCheck(Construct):
    """The scheduled check, its role (read the model prefix, read metrics, write metrics in
    `namespace` only) and the alarm on `DriftMaxPSI` above `threshold`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_bucket: s3.IBucket,
        model_prefix: str,
        environment: dict[str, str],
        architecture: str,
        namespace: str,
        window_minutes: int,
        min_predictions: int,
        threshold: float,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = namespace
        self.window = Duration.minutes(window_minutes)
        self.log_group = log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Drift check: reads the model prefix and metrics, writes its own figures",
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=image_code(architecture, cmd=[DRIFT_HANDLER]),
            description="Sentiment drift check: live window vs the served run's reference (PSI)",
            architecture=lambda_architecture(architecture),
            memory_size=1024,  # the bundle is fetched and verified; no model runs
            timeout=Duration.minutes(2),
            environment={
                **environment,
                "DRIFT_WINDOW_MINUTES": str(window_minutes),
                "DRIFT_MIN_PREDICTIONS": str(min_predictions),
            },
            role=role,
            log_group=log_group,
            retry_attempts=0,  # the next window comes soon enough
        )
        log_group.grant_write(role)
        grant_model_read(role, model_bucket, model_prefix)
        # Neither action supports resource-level permissions; PutMetricData is held to the
        # stack's namespace by its condition key.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteDriftFigures",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            )
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Runs the drift check every {window_minutes} minutes",
            schedule=events.Schedule.rate(self.window),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description=f"The live traffic's predictions drifted from the served run's "
            f"reference: the largest PSI of a {window_minutes}-minute window is above "
            f"{threshold} (docs/deploy.md, 'When the drift alarm fires')",
            metric=self.max_psi(),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            # A window under the minimum traffic, or a run without a reference, publishes none.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        suppress_model_read(role, model_prefix, "the drift check")
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="GetMetricData and PutMetricData take no resource ARN (PutMetricData "
                    "is held to the stack's namespace by a condition).",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )

    def max_psi(self) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=self.namespace, metric_name=MAX_PSI_METRIC,
                                 statistic="Maximum", period=self.window)  # fmt: skip

    def psi(self, dimension: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=self.namespace, metric_name=PSI_METRIC,
                                 dimensions_map={DIMENSION_KEY: dimension}, statistic="Maximum",
                                 period=self.window, label=dimension)  # fmt: skip

    def predictions(self) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=self.namespace, metric_name=PREDICTIONS_METRIC,
                                 statistic="Maximum", period=self.window,
                                 label="predictions in the window")  # fmt: skip
