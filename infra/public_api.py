"""The public HTTPS API: an API Gateway REST API proxying every path to the function.

REST rather than HTTP API because the optional API-key mode needs usage plans, which only REST
APIs have (docs/deploy.md has the whole comparison).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.page_routes import add_page_routes


class PublicApi(Construct):
    """Stage throttling, JSON access logs, optional error-level execution logs, CORS and auth.

    API Gateway writes any log through one role per account and region (the account setting,
    `AWS::ApiGateway::Account`). The stack takes that setting over only with `cloud_watch_role`;
    otherwise the region must have it already (docs/deploy.md). Every log group here is the
    stack's and goes with it on destroy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage_name: str,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        cors_origins: tuple[str, ...],
        auth_mode: str,
        log_retention: logs.RetentionDays,
        access_logs: bool,
        execution_logs: bool,
        cloud_watch_role: bool,
        api_keys: tuple[str, ...] = ("ApiKey",),
        web_acl: bool = False,
    ) -> None:
        """`api_keys` (authMode apiKey): the keys bound to the usage plan, by name, newest last;
        `web_acl`: a web ACL is associated with the stage (infra/api_edge.py)."""
        super().__init__(scope, construct_id)
        self.access_logs: logs.LogGroup | None = None
        if access_logs:
            self.access_logs = logs.LogGroup(
                self,
                "AccessLogs",
                retention=log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            )
        cors = (
            apigw.CorsOptions(
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=apigw.Cors.DEFAULT_HEADERS,
            )
            if cors_origins
            else None
        )
        method_options = apigw.MethodOptions(
            api_key_required=auth_mode == "apiKey",
            authorization_type=(
                apigw.AuthorizationType.IAM if auth_mode == "iam" else apigw.AuthorizationType.NONE
            ),
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            # CloudWatch metrics are keyed by this name: one per stack, so stacks never mix.
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Sentiment analysis API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            # The role is the whole region's setting: other APIs may log through it after we go.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if cloud_watch_role else None,
            default_cors_preflight_options=cors,
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                access_log_destination=(
                    apigw.LogGroupLogDestination(self.access_logs) if self.access_logs else None
                ),
                access_log_format=(
                    apigw.AccessLogFormat.json_with_standard_fields(
                        caller=True,
                        http_method=True,
                        ip=True,
                        protocol=True,
                        request_time=True,
                        resource_path=True,
                        response_length=True,
                        status=True,
                        user=True,
                    )
                    if self.access_logs
                    else None
                ),
                logging_level=(
                    apigw.MethodLoggingLevel.ERROR
                    if execution_logs
                    else apigw.MethodLoggingLevel.OFF
                ),
                data_trace_enabled=False,  # full request logs would copy user text into logs
                metrics_enabled=True,
            ),
        )
        # RestApi adds an `Endpoint` output of its own; the stack's ApiUrl output replaces it.
        self.api.node.try_remove_child("Endpoint")

        self.execution_logs: logs.LogGroup | None = None
        if execution_logs:
            # API Gateway creates this group itself on the first log line, with no retention, and
            # it outlives the stack; created here first, it gets both.
            self.execution_logs = logs.LogGroup(
                self,
                "ExecutionLogs",
                log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{stage_name}",
                retention=log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            )
            # The group must exist before the stage starts logging, or API Gateway makes its own.
            self.api.deployment_stage.node.add_dependency(self.execution_logs)

        integration = apigw.LambdaIntegration(handler, proxy=True)
        self.api.root.add_method("ANY", integration)
        self.api.root.add_proxy(default_integration=integration, any_method=True)
        self.page_methods = add_page_routes(self.api, integration, auth_mode)

        # Every key that may call the API; the newest (last) is the one to hand out.
        self.api_keys: list[apigw.IApiKey] = []
        if auth_mode == "apiKey":
            # No api_key_name: a new name would replace a deployed key (and its value).
            self.api_keys = [
                self.api.add_api_key(name, description=f"Sentiment API client key {name}")
                for name in api_keys
            ]
            plan = self.api.add_usage_plan(
                "UsagePlan",
                description="Every key gets the stage's rate and burst",
                throttle=apigw.ThrottleSettings(
                    rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit
                ),
                api_stages=[
                    apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)
                ],
            )
            for key in self.api_keys:
                plan.add_api_key(key)

        self._suppress(auth_mode, access_logs, execution_logs, cloud_watch_role, web_acl)

    @property
    def api_key(self) -> apigw.IApiKey | None:
        """The newest key (the one to hand out), or None outside apiKey mode."""
        return self.api_keys[-1] if self.api_keys else None

    def _suppress(
        self,
        auth_mode: str,
        access_logs: bool,
        execution_logs: bool,
        cloud_watch_role: bool,
        web_acl: bool,
    ) -> None:
        suppressions = [
            NagPackSuppression(
                id="AwsSolutions-APIG2",
                reason="The function validates every body with its pydantic schema (limits on "
                "count and length) and answers 422; a second JSON schema here would drift from it.",
            ),
        ]
        if not web_acl:
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason="webAcl=off: WAF is a per-deployment choice with a fixed monthly cost; "
                    "stage throttling (and usage plans in apiKey mode) bound abuse. Set webAcl "
                    "(managed, or an ARN) in cdk.json when the API faces untrusted traffic.",
                )
            )
        suppressions += [
            NagPackSuppression(
                id="AwsSolutions-COG4",
                reason="No Cognito user pool: callers are anonymous, API-key or IAM clients "
                "(context authMode), not end users who sign in.",
            ),
        ]
        if cloud_watch_role:
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="The account-level API Gateway logging role (apiCloudWatchRole=true) "
                    "uses AWS's AmazonAPIGatewayPushToCloudWatchLogs policy, the documented setup "
                    "for API Gateway logs.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    ],
                )
            )
        if not access_logs:
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-APIG1",
                    reason="apiAccessLogs=false, chosen for a region whose API Gateway CloudWatch "
                    "role may not be set; the function still logs every request it receives.",
                )
            )
        if not execution_logs:
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-APIG6",
                    reason="Execution logs are opt-in (apiExecutionLogs=true): the JSON access "
                    "logs and the function's request log cover each request, and execution logs "
                    "need the region-wide API Gateway CloudWatch role.",
                )
            )
        if auth_mode == "none":
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="A public endpoint by choice (authMode=none); authMode=apiKey or "
                    "authMode=iam turns authorization on.",
                )
            )
        elif auth_mode == "apiKey":
            suppressions.append(
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="authMode=apiKey: every method requires a key bound to the usage plan. "
                    "AWS does not count API keys as authorization (they identify and meter "
                    "clients); authMode=iam is the mode for callers that must be authenticated.",
                )
            )
        else:
            for method in self.api.methods:
                if method.http_method == "OPTIONS":
                    NagSuppressions.add_resource_suppressions(
                        method,
                        [
                            NagPackSuppression(
                                id="AwsSolutions-APIG4",
                                reason="CORS preflight: browsers send OPTIONS without "
                                "credentials, and API Gateway answers it with headers only, "
                                "never calling the function.",
                            )
                        ],
                    )
        NagSuppressions.add_resource_suppressions(self.api, suppressions, apply_to_children=True)
