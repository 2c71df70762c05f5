"""CodeDeploy moves the `live` alias to each newly published version in steps (a canary, by
default 10 % of requests first) and moves it back on its own when an alarm fires meanwhile.

CloudFormation hands the alias update to CodeDeploy (the alias's UpdatePolicy), so `cdk deploy`
returns when the shift has finished, or fails and rolls the stack back when CodeDeploy did.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.confidence_alarm import LowConfidenceShare

# A 5-minute alarm may not change state inside a 5-minute canary; this one looks at the new
# version alone, every minute, so a version that fails its first requests is caught in the bake.
CANARY_PERIOD = Duration.minutes(1)


class CanaryDeployment(Construct):
    """A Lambda deployment group on `alias` with `traffic_shift` (a CodeDeployDefault.Lambda*
    name), rolled back automatically when the deployment fails, is stopped, or any of `alarms`
    goes off, or one of the new version's own: its errors, and (with `low_confidence`) its share
    of predictions below the confidence floor."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: lambda_.Alias,
        traffic_shift: str,
        alarms: Sequence[cloudwatch.IAlarm],
        low_confidence: LowConfidenceShare | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        version = alias.version
        # Invocations through the alias that ran the new version: Lambda's ExecutedVersion
        # dimension splits an alias's metrics by the version that answered.
        new_version_errors = cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions_map={
                "FunctionName": alias.lambda_.function_name,
                "Resource": f"{alias.lambda_.function_name}:{alias.alias_name}",
                "ExecutedVersion": version.version,
            },
            statistic="Sum",
            period=CANARY_PERIOD,
        )
        self.canary_errors = cloudwatch.Alarm(
            self,
            "NewVersionErrors",
            alarm_description="The version being deployed failed an invocation: roll it back",
            metric=new_version_errors,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # The alarms that judge the new version alone (the dashboard shows them with the rest).
        self.own_alarms: list[cloudwatch.IAlarm] = [self.canary_errors]
        if low_confidence is not None:
            self.own_alarms.append(
                low_confidence.new_version_alarm(
                    self, "NewVersionLowConfidence", version=version.version, period=CANARY_PERIOD
                )
            )
        self.alarms = [*alarms, *self.own_alarms]
        self.group = codedeploy.LambdaDeploymentGroup(
            self,
            "Group",
            alias=alias,
            deployment_config=getattr(
                codedeploy.LambdaDeploymentConfig, _config_constant(traffic_shift)
            ),
            alarms=self.alarms,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        NagSuppressions.add_resource_suppressions(
            self.group,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="CodeDeploy's service role uses AWS's AWSCodeDeployRoleForLambdaLimited "
                    "policy, the documented least-privilege setup for Lambda deployments (alias "
                    "updates, alarm reads, hook invocations).",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSCodeDeployRoleForLambdaLimited"
                    ],
                )
            ],
            apply_to_children=True,
        )


def _config_constant(traffic_shift: str) -> str:
    """Canary10Percent5Minutes -> CANARY_10PERCENT_5MINUTES (aws_codedeploy's constant)."""
    out = []
    for i, ch in enumerate(traffic_shift):
        if i and (ch.isupper() or (ch.isdigit() and not traffic_shift[i - 1].isdigit())):
            out.append("_")
        out.append(ch.upper())
    return "".join(out)
