"""Monitoring, wired into the stack in one call: the scheduled drift check and its alarm (notified
like the others), the shadow receiver when cdk.json names a candidate, and the dashboard."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions

from contract.audit import ALPHA
from function.batch.layout import BELOW
from infra.alarms import ServiceAlarms
from infra.canary_deployment import CanaryDeployment
from infra.config import ServiceConfig
from infra.dashboard import ServiceDashboard
from infra.drift_check import DriftCheck
from infra.inference_function import InferenceFunction
from infra.shadow_receiver import ShadowReceiver


def add_monitoring(
    stack: Stack,
    *,
    config: ServiceConfig,
    service: InferenceFunction,
    stage: apigw.Stage,
    alarms: ServiceAlarms,
    canary: CanaryDeployment | None,
    model_bucket: s3.IBucket,
    model_uri: str,
) -> None:
    drift = DriftCheck(
        stack,
        "Drift",
        model_bucket=model_bucket,
        model_prefix=config.model_read_prefix,
        environment=config.function_environment(model_uri),
        architecture=config.architecture,
        namespace=config.monitoring_namespace,
        window_minutes=config.drift_window_minutes,
        min_predictions=config.drift_min_predictions,
        threshold=config.drift_psi_threshold,
        log_retention=config.log_retention,
    )
    # Notified like the others, but not a canary's rollback alarm: drift is about the traffic.
    alarms.watch(drift.alarm)
    if config.batch_scoring:
        # A labelled bulk-scoring file that found the model less right than on its held-out
        # split; notified, never a rollback (the labels judge the model, not the deploy).
        alarms.watch(
            cloudwatch.Alarm(
                stack,
                "LabelledBelowAlarm",
                alarm_description="A labelled bulk-scoring file found the served model less "
                f"right than on its held-out split (verdict below, one-sided p < {ALPHA}): read "
                "the job's _summary.json, block labelled (docs/deploy.md, 'Labelled rows')",
                metric=cloudwatch.Metric(
                    namespace=config.monitoring_namespace,
                    metric_name=BELOW,
                    statistic="Maximum",
                    period=Duration.hours(1),
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                # Only a judged labelled file publishes it: most hours have none.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
    if config.shadow_run is not None:
        receiver = ShadowReceiver(
            stack,
            "Shadow",
            run_id=config.shadow_run,
            model_bucket=model_bucket,
            model_prefix=config.model_read_prefix,
            environment=config.function_environment(
                config.run_uri(config.shadow_run, model_bucket.bucket_name)
            ),
            architecture=config.architecture,
            memory_mb=config.memory_mb,
            log_retention=config.log_retention,
            live=service.function,
            sample=config.shadow_sample,
        )
        assert service.function.role is not None
        NagSuppressions.add_resource_suppressions(
            service.function.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The live function may invoke the shadow receiver (its ARN and its "
                    "versions, <arn>:*) and no other function.",
                    applies_to=[{"regex": "/^Resource::<Shadow[A-Za-z0-9]+\\.Arn>:\\*$/"}],
                )
            ],
            apply_to_children=True,
        )
        CfnOutput(
            stack,
            "ShadowFunctionName",
            value=receiver.function.function_name,
            description=f"Receives copies of live requests for run {config.shadow_run}",
        )
    dashboard = ServiceDashboard(
        stack,
        "Dashboard",
        stage=stage,
        function=service.function,
        alias_name=service.alias.alias_name if service.alias is not None else None,
        drift=drift,
        drift_threshold=config.drift_psi_threshold,
        alarms=[*alarms.alarms, *(canary.own_alarms if canary is not None else [])],
        # Only a canary sums the request log per version.
        serving_namespace=(
            alarms.low_confidence_share.namespace
            if canary is not None and alarms.low_confidence_share is not None
            else None
        ),
        namespace=config.monitoring_namespace,
        shadow_run=config.shadow_run,
        labelled=config.batch_scoring,
        # Dashboard names are per account, not per region: the region keeps two apart.
        dashboard_name=f"{config.stack_name}-{stack.region}",
    )
    CfnOutput(
        stack,
        "DriftLogGroup",
        value=drift.log_group.log_group_name,
        description="The drift check's log group: each window's PSI per dimension",
    )
    CfnOutput(
        stack,
        "DashboardName",
        value=dashboard.dashboard.dashboard_name,
        description="CloudWatch > Dashboards: traffic, errors, latency, confidence, drift, "
        "canary, shadow, labelled files",
    )
