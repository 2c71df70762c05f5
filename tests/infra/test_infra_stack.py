"""The synthesized template: every property the issue asks for, each context switch on and off.

Variants (conftest): `default` (no context), `full` (arm64, concurrency, API keys, CORS, e-mail
alarms, a pinned run) and `iam` (IAM auth, CORS *, a topic without e-mail, a model in another
bucket under another prefix).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.test_infra_page_routes import PAGE_GETS, RESOURCES, api_methods


def _policy_statements(synth: Any, role_prefix: str) -> list[dict[str, Any]]:
    policies = [
        p for k, p in synth.of_type("AWS::IAM::Policy").items() if k.startswith(role_prefix)
    ]
    assert len(policies) == 1, f"expected one policy on {role_prefix}"
    return policies[0]["Properties"]["PolicyDocument"]["Statement"]


def _s3_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def actions(st: dict[str, Any]) -> list[str]:
        return st["Action"] if isinstance(st["Action"], list) else [st["Action"]]

    return [st for st in statements if any(a.startswith("s3:") for a in actions(st))]


# --- the artifacts bucket -----------------------------------------------------------------------


def test_bucket_is_versioned_encrypted_private_and_expires_old_versions(default: Any) -> None:
    default.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_bucket_outlives_the_stack(default: Any) -> None:
    default.template.has_resource(
        "AWS::S3::Bucket", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_bucket_policy_refuses_plain_http(default: Any) -> None:
    default.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_old_version_expiry_follows_context(full: Any) -> None:
    full.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 7}})]
                )
            }
        },
    )


# --- the function -------------------------------------------------------------------------------


def test_function_is_an_image_with_a_stable_logical_id(default: Any) -> None:
    fn = default.resources[FUNCTION_LOGICAL_ID]
    assert fn["Type"] == "AWS::Lambda::Function"
    props = fn["Properties"]
    assert props["PackageType"] == "Image"
    assert "ImageUri" in props["Code"]
    assert props["Architectures"] == ["x86_64"]
    assert props["MemorySize"] == 2048
    assert props["Timeout"] == 29
    assert "ReservedConcurrentExecutions" not in props
    env = props["Environment"]["Variables"]
    assert env["LOG_LEVEL"] == "INFO"
    assert env["CORS_ORIGINS"] == ""
    assert "MAX_TEXTS" not in env and "MAX_CHARS" not in env
    bucket_ref = {"Ref": next(iter(default.of_type("AWS::S3::Bucket")))}
    assert env["MODEL_URI"] == {"Fn::Join": ["", ["s3://", bucket_ref, "/models/latest.json"]]}


def test_function_settings_follow_context(full: Any) -> None:
    props = full.resources[FUNCTION_LOGICAL_ID]["Properties"]
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 3008
    assert props["Timeout"] == 20
    assert props["ReservedConcurrentExecutions"] == 5
    env = props["Environment"]["Variables"]
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["MAX_TEXTS"] == "16"
    assert env["MAX_CHARS"] == "5000"
    assert env["CORS_ORIGINS"] == "https://app.example.com,http://localhost:3000"
    assert env["MODEL_URI"]["Fn::Join"][1][-1] == "/models/run-20261128-abc"


def test_the_run_to_serve_comes_from_cdk_json(default: Any) -> None:
    """`modelUri` lives in cdk.json, so a plain `cdk deploy` serves what it names (a pinned run
    survives the next deploy; the CLI test pins one with the documented command)."""
    from tests.infra.conftest import cdk_json_context

    named = cdk_json_context()["modelUri"]
    env = default.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert env["MODEL_URI"]["Fn::Join"][1][-1] == f"/{named}"


def test_model_in_another_bucket(iam: Any) -> None:
    env = iam.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert env["MODEL_URI"] == "s3://shared-models-bucket/bundles/sentiment/latest.json"


def test_function_logs_have_retention(default: Any, full: Any) -> None:
    for synth, days in ((default, 30), (full, 90)):
        props = synth.resources[FUNCTION_LOGICAL_ID]["Properties"]
        group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert synth.resources[group_id]["Properties"]["RetentionInDays"] == days


def test_provisioned_concurrency_is_off_by_default(default: Any) -> None:
    default.template.resource_count_is("AWS::Lambda::Alias", 0)
    default.template.resource_count_is("AWS::Lambda::Version", 0)


def test_provisioned_concurrency_lives_on_the_live_alias_the_api_calls(full: Any) -> None:
    full.template.has_resource_properties(
        "AWS::Lambda::Alias",
        {
            "Name": "live",
            "FunctionName": {"Ref": FUNCTION_LOGICAL_ID},
            "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2},
        },
    )
    alias_id = next(iter(full.of_type("AWS::Lambda::Alias")))
    for method in full.of_type("AWS::ApiGateway::Method").values():
        integration = method["Properties"]["Integration"]
        if integration["Type"] == "AWS_PROXY":
            assert {"Ref": alias_id} in integration["Uri"]["Fn::Join"][1]


# --- the grant: the model prefix only ---------------------------------------------------------


def test_function_reads_only_the_model_prefix(default: Any) -> None:
    bucket_arn = {"Fn::GetAtt": [next(iter(default.of_type("AWS::S3::Bucket"))), "Arn"]}
    s3 = _s3_statements(_policy_statements(default, "InferenceRole"))
    assert sorted(json.dumps(st, sort_keys=True) for st in s3) == sorted(
        json.dumps(st, sort_keys=True)
        for st in [
            {
                "Sid": "ReadModelBundles",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {"Fn::Join": ["", [bucket_arn, "/models/*"]]},
            },
            {
                "Sid": "ListModelBundles",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": ["models", "models/*"]}},
            },
        ]
    )


def test_grant_follows_model_prefix_and_bucket(iam: Any) -> None:
    s3 = _s3_statements(_policy_statements(iam, "InferenceRole"))
    resources = json.dumps([st["Resource"] for st in s3])
    assert "shared-models-bucket/bundles/sentiment/*" in resources
    assert "ArtifactsBucket" not in resources
    listing = next(st for st in s3 if st["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["bundles/sentiment", "bundles/sentiment/*"]}
    }


def test_function_role_has_no_managed_policies(default: Any) -> None:
    role_id = default.resources[FUNCTION_LOGICAL_ID]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in default.resources[role_id]["Properties"]


# --- the API ------------------------------------------------------------------------------------


def test_api_is_a_regional_rest_api_proxying_everything(default: Any) -> None:
    default.template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "Name": "SentimentApi-api"},
    )
    default.template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    proxies = {
        key: props
        for key, props in api_methods(default).items()
        if props["Integration"]["Type"] == "AWS_PROXY"
    }
    # ANY on / and /{proxy+}; the page's open GETs beside them (test_infra_page_routes.py).
    assert set(proxies) == {("/", "ANY"), ("/{proxy+}", "ANY"), *PAGE_GETS}
    for props in proxies.values():
        assert {"Ref": FUNCTION_LOGICAL_ID} not in props["Integration"]["Uri"]["Fn::Join"][1]
        uri = json.dumps(props["Integration"]["Uri"])
        assert FUNCTION_LOGICAL_ID in uri


def test_stage_throttling_and_logging(default: Any, full: Any) -> None:
    # Execution logs are opt-in (they need the region's API Gateway role): OFF in both.
    for synth, stage, rate, burst in ((default, "prod", 50, 100), (full, "v1", 10, 20)):
        synth.template.has_resource_properties(
            "AWS::ApiGateway::Stage",
            {
                "StageName": stage,
                "MethodSettings": [
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": rate,
                        "ThrottlingBurstLimit": burst,
                        "LoggingLevel": "OFF",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                    }
                ],
                "AccessLogSetting": {
                    "DestinationArn": Match.any_value(),
                    "Format": Match.string_like_regexp(r'"status":"\$context.status"'),
                },
            },
        )


def test_access_logs_have_retention(default: Any) -> None:
    stage = default.one("AWS::ApiGateway::Stage")["Properties"]
    destination = json.dumps(stage["AccessLogSetting"]["DestinationArn"])
    group_ids = [k for k in default.of_type("AWS::Logs::LogGroup") if k in destination]
    assert len(group_ids) == 1
    assert default.resources[group_ids[0]]["Properties"]["RetentionInDays"] == 30


def test_no_cors_by_default(default: Any) -> None:
    assert set(api_methods(default)) == {("/", "ANY"), ("/{proxy+}", "ANY"), *PAGE_GETS}
    for method in default.of_type("AWS::ApiGateway::Method").values():
        assert method["Properties"]["HttpMethod"] != "OPTIONS"


def test_cors_preflight_from_context(full: Any, iam: Any) -> None:
    for synth, origin in ((full, "'https://app.example.com'"), (iam, "'*'")):
        options = [
            m["Properties"]
            for m in synth.of_type("AWS::ApiGateway::Method").values()
            if m["Properties"]["HttpMethod"] == "OPTIONS"
        ]
        assert len(options) == len(RESOURCES)  # one preflight per resource
        for props in options:
            assert props["AuthorizationType"] == "NONE"
            headers = props["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
            assert headers["method.response.header.Access-Control-Allow-Origin"] == origin


def test_no_auth_by_default(default: Any) -> None:
    default.template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    default.template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    for method in default.of_type("AWS::ApiGateway::Method").values():
        assert method["Properties"]["AuthorizationType"] == "NONE"
        assert method["Properties"].get("ApiKeyRequired") is not True


def test_api_key_mode(full: Any) -> None:
    full.template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    full.template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    full.template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 10, "BurstLimit": 20},
            "ApiStages": [Match.object_like({"ApiId": Match.any_value()})],
        },
    )
    # The page's GETs are open (tests/infra/test_infra_page_routes.py); everything else asks.
    for (path, verb), props in api_methods(full).items():
        if verb != "OPTIONS" and (path, verb) not in PAGE_GETS:
            assert props["ApiKeyRequired"] is True, (path, verb)


def test_iam_mode(iam: Any) -> None:
    iam.template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    iam.template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    for (path, verb), props in api_methods(iam).items():
        expected = "NONE" if verb == "OPTIONS" or (path, verb) in PAGE_GETS else "AWS_IAM"
        assert props["AuthorizationType"] == expected, (path, verb)


# --- alarms -------------------------------------------------------------------------------------


def _alarms(synth: Any) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if "MetricName" in a["Properties"]  # the low-confidence share is a math expression
        and a["Properties"].get("Namespace") != "SentimentApi/Monitoring"  # drift's own test
    }


def test_alarms_on_5xx_rate_latency_throttles_and_errors(default: Any) -> None:
    alarms = _alarms(default)
    assert set(alarms) == {"5XXError", "Latency", "Throttles", "Errors"}
    assert alarms["5XXError"]["Statistic"] == "Average"  # the rate, not a count
    assert alarms["5XXError"]["Threshold"] == 0.01
    assert alarms["5XXError"]["Namespace"] == "AWS/ApiGateway"
    assert alarms["Latency"]["ExtendedStatistic"] == "p99"
    assert alarms["Latency"]["Threshold"] == 3000
    assert alarms["Throttles"]["Namespace"] == "AWS/Lambda"
    assert alarms["Throttles"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": FUNCTION_LOGICAL_ID}}
    ]
    assert alarms["Errors"]["Threshold"] == 1
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching"
        assert "AlarmActions" not in alarm
    default.template.resource_count_is("AWS::SNS::Topic", 0)


def test_alarm_thresholds_and_email_topic_from_context(full: Any) -> None:
    alarms = _alarms(full)
    assert alarms["5XXError"]["Threshold"] == 0.025
    assert alarms["Latency"]["Threshold"] == 1500
    assert alarms["Throttles"]["Threshold"] == 3
    assert alarms["Errors"]["Threshold"] == 4
    topic_id = next(iter(full.of_type("AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]
    full.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    full.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    full.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_topic_without_email(iam: Any) -> None:
    iam.template.resource_count_is("AWS::SNS::Topic", 1)
    iam.template.resource_count_is("AWS::SNS::Subscription", 0)


# --- the training role --------------------------------------------------------------------------


def test_training_role_is_for_sagemaker_and_reads_and_writes_the_bucket(default: Any) -> None:
    bucket_id = next(iter(default.of_type("AWS::S3::Bucket")))
    default.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                        },
                    }
                ]
            }
        },
    )
    s3 = _s3_statements(_policy_statements(default, "TrainingRole"))
    assert len(s3) == 1
    actions = set(s3[0]["Action"])
    assert {"s3:GetObject*", "s3:PutObject", "s3:List*", "s3:DeleteObject*"} <= actions
    assert s3[0]["Resource"] == [
        {"Fn::GetAtt": [bucket_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
    ]


# --- outputs ------------------------------------------------------------------------------------


def test_outputs(default: Any, full: Any, iam: Any, api_logs: Any, release: Any) -> None:
    base = {
        "ApiUrl",
        "ArtifactsBucketName",
        "FunctionName",
        "ModelUri",
        "TrainingRoleArn",
        "AuthMode",
        "ApiCloudWatchRole",
        "FunctionLogGroup",
        "AccessLogGroup",
        "BatchStateMachineArn",
        "BatchFunctionName",
        "BatchLogGroup",
        "BatchExecutionLogGroup",
        "DashboardName",
        "DriftLogGroup",
    }
    assert set(default.outputs) == base
    assert set(full.outputs) == base | {"ApiKeyId", "AlarmTopicArn"}
    assert set(iam.outputs) == base | {"AlarmTopicArn"}
    assert set(api_logs.outputs) == base | {"ExecutionLogGroup"}
    assert set(release.outputs) == base | {"DeploymentApplication", "DeploymentGroupName"}
    # What the deploy guard compares with cdk.json: literal values, as deployed.
    assert default.outputs["AuthMode"]["Value"] == "none"
    assert default.outputs["ApiCloudWatchRole"]["Value"] == "true"
    assert full.outputs["AuthMode"]["Value"] == "apiKey"
    assert iam.outputs["ApiCloudWatchRole"]["Value"] == "false"
    # The log groups a runbook tails are the ones the stack writes to.
    function = default.resources[FUNCTION_LOGICAL_ID]["Properties"]
    assert default.outputs["FunctionLogGroup"]["Value"] == function["LoggingConfig"]["LogGroup"]
    stage = default.one("AWS::ApiGateway::Stage")["Properties"]
    destination = stage["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1]
    assert default.outputs["AccessLogGroup"]["Value"] == destination[-1]  # ...:log-group:<name>
    group = release.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert release.outputs["DeploymentApplication"]["Value"] == group["ApplicationName"]
    assert default.outputs["FunctionName"]["Value"] == {"Ref": FUNCTION_LOGICAL_ID}
    bucket_id = next(iter(default.of_type("AWS::S3::Bucket")))
    assert default.outputs["ArtifactsBucketName"]["Value"] == {"Ref": bucket_id}
    assert "execute-api" in json.dumps(default.outputs["ApiUrl"]["Value"])
    assert default.outputs["TrainingRoleArn"]["Value"]["Fn::GetAtt"][1] == "Arn"
    env = default.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert default.outputs["ModelUri"]["Value"] == env["MODEL_URI"]


def test_a_timeout_longer_than_the_api_waits_is_a_warning(synth: Any) -> None:
    from aws_cdk.assertions import Annotations

    slow = synth({"timeoutSeconds": 120})
    warnings = Annotations.from_stack(slow.stack).find_warning(
        "*", Match.string_like_regexp("API Gateway answers 504 after 29 s")
    )
    assert len(warnings) == 1
