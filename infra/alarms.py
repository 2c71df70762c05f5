"""CloudWatch alarms on the API and the function, with an optional SNS topic to notify."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.confidence_alarm import LowConfidenceShare

PERIOD = Duration.minutes(5)  # every alarm's and the dashboard's
KEY_PENDING_DAYS = 7  # KMS accepts 7 to 30


class ServiceAlarms(Construct):
    """5xx rate and p99 latency on the API stage; throttles and errors on the function; the
    share of predictions below the confidence floor from its request log (unless the floor is 0,
    which counts none)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        function: lambda_.IFunction,
        server_error_rate_percent: float,
        p99_latency_ms: int,
        throttles: int,
        errors: int,
        log_group: logs.ILogGroup,
        confidence_floor: float,
        low_confidence_percent: float,
        notify: bool,
        email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = cloudwatch.TreatMissingData.NOT_BREACHING  # no traffic is not an outage
        self.server_error_rate = cloudwatch.Alarm(
            self,
            "ServerErrorRate",
            alarm_description=f"More than {server_error_rate_percent}% of API requests got a 5xx",
            # The average of 5XXError (0 or 1 per request) is the fraction of requests that failed.
            metric=api_metric(stage, "5XXError", "Average"),
            threshold=server_error_rate_percent / 100,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=missing,
        )
        self.latency = cloudwatch.Alarm(
            self,
            "P99Latency",
            alarm_description=f"API p99 latency above {p99_latency_ms} ms in 2 of 3 periods",
            metric=api_metric(stage, "Latency", "p99"),
            threshold=p99_latency_ms,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,  # one cold start alone should not page anyone
            treat_missing_data=missing,
        )
        self.throttles = cloudwatch.Alarm(
            self,
            "Throttles",
            alarm_description="The function refused invocations: concurrency is exhausted",
            metric=function.metric_throttles(statistic="Sum", period=PERIOD),
            threshold=throttles,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=missing,
        )
        self.errors = cloudwatch.Alarm(
            self,
            "FunctionErrors",
            alarm_description="The function failed invocations (crashes, timeouts, bad bundles)",
            metric=function.metric_errors(statistic="Sum", period=PERIOD),
            threshold=errors,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=missing,
        )
        self.alarms = [self.server_error_rate, self.latency, self.throttles, self.errors]
        # The alarm and its filters, which a canary also splits by version (CanaryDeployment).
        self.low_confidence_share: LowConfidenceShare | None = None
        if confidence_floor > 0:
            self.low_confidence_share = LowConfidenceShare(
                self,
                "LowConfidence",
                log_group=log_group,
                threshold_percent=low_confidence_percent,
                floor=confidence_floor,
                period=PERIOD,
            )
            self.alarms.append(self.low_confidence_share.alarm)

        self.topic: sns.Topic | None = None
        if notify or email:
            self.topic = self._topic(email)
            for alarm in self.alarms:
                self._send_to_topic(alarm)

    def watch(self, alarm: cloudwatch.Alarm) -> None:
        """Another alarm notified like these (the drift check's)."""
        self.alarms.append(alarm)
        if self.topic is not None:
            self._send_to_topic(alarm)

    def _send_to_topic(self, alarm: cloudwatch.Alarm) -> None:
        assert self.topic is not None
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)

    def _topic(self, email: str | None) -> sns.Topic:
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key, so the topic gets a
        # customer-managed key that lets CloudWatch use it.
        key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the sentiment API alarm topic",
            enable_key_rotation=True,
            # The default (RETAIN) would leave a key billing $1 a month after `cdk destroy`, with
            # nothing left to decrypt. The shortest window still allows undoing a mistaken destroy.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(KEY_PENDING_DAYS),
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(
            self,
            "Topic",
            display_name="Sentiment API alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic


def api_metric(stage: apigw.Stage, name: str, statistic: str) -> cloudwatch.Metric:
    """`stage.metric_*` names the stage by reference, which makes the alarm depend on the API's
    deployment; a canary's deployment group needs these alarms while the API calls the alias the
    group updates, a dependency cycle. The stage's and the API's literal names break it."""
    cfn_stage: apigw.CfnStage = stage.node.default_child
    return cloudwatch.Metric(
        namespace="AWS/ApiGateway",
        metric_name=name,
        dimensions_map={"ApiName": stage.rest_api.rest_api_name, "Stage": cfn_stage.stage_name},
        statistic=statistic,
        period=PERIOD,
    )
