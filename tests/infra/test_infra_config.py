"""Context validation: every bad value stops synth with a message that names the key and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest

from infra.config import ServiceConfig
from infra.context import ConfigError, MappingContext


def config(**context: Any) -> ServiceConfig:
    return ServiceConfig.from_context(MappingContext(context))


def test_defaults_are_valid() -> None:
    cfg = config()
    assert cfg.architecture == "x86_64"
    assert cfg.model_location.bucket is None
    assert cfg.model_location.key == "models/latest.json"
    assert cfg.reserved_concurrency is None
    assert cfg.provisioned_concurrency == 0
    assert cfg.auth_mode == "none"


def test_strings_from_the_command_line_are_typed() -> None:
    cfg = config(
        memoryMb="4096",
        throttleRateLimit="12.5",
        alarmTopic="true",
        reservedConcurrency="null",
        corsOrigins="https://a.example.com, https://b.example.com",
    )
    assert cfg.memory_mb == 4096
    assert cfg.throttle_rate_limit == 12.5
    assert cfg.alarm_topic is True
    assert cfg.reserved_concurrency is None
    assert cfg.cors_origins == ("https://a.example.com", "https://b.example.com")


def test_log_level_is_case_insensitive_like_the_function() -> None:
    assert config(logLevel="warning").log_level == "WARNING"


def test_api_gateway_logging_defaults_work_in_a_region_without_a_logging_role() -> None:
    cfg = config()
    assert cfg.api_access_logs is True
    assert cfg.api_execution_logs is False
    # Access logs need the region's logging role: the default deploy brings it (and says so).
    assert cfg.api_cloudwatch_role is True
    assert config(apiCloudWatchRole="false").api_cloudwatch_role is False


def test_json_lists_and_typed_values_from_cdk_json() -> None:
    cfg = config(corsOrigins=["*"], memoryMb=1024, alarmTopic=False)
    assert cfg.cors_origins == ("*",)
    assert cfg.memory_mb == 1024
    assert cfg.alarm_topic is False


def test_full_s3_uri_in_another_bucket() -> None:
    cfg = config(modelUri="s3://other-bucket/models/run-1/")
    assert cfg.model_location.bucket == "other-bucket"
    assert cfg.model_location.key == "models/run-1"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"modelUri": "s3:/bucket/models/x"}, "'modelUri'.*no empty, relative"),
        ({"modelUri": "https://example.com/models/x"}, "'modelUri'.*not https://"),
        ({"modelUri": "s3://Bad_Bucket/models/x"}, "'modelUri'.*valid bucket name"),
        ({"modelUri": "models/../secrets"}, "'modelUri'.*relative"),
        ({"modelUri": "s3://bucket"}, "'modelUri'.*no empty"),
        ({"modelUri": "data/latest.json"}, "'modelUri'.*under modelPrefix 'models'"),
        ({"modelPrefix": "/"}, "'modelPrefix'"),
        ({"architecture": "x86"}, "'architecture' is 'x86': expected one of x86_64, arm64"),
        ({"architecture": "aarch64"}, "one of x86_64, arm64"),
        ({"reservedConcurrency": "-1"}, "'reservedConcurrency' is -1: expected 0 or more"),
        ({"provisionedConcurrency": -2}, "'provisionedConcurrency' is -2: expected 0 \\(off\\)"),
        (
            {"reservedConcurrency": 2, "provisionedConcurrency": 3},
            "at most reservedConcurrency \\(2\\); raise reservedConcurrency",
        ),
        ({"memoryMb": 64}, "'memoryMb' is 64: expected .* 128 to 10240"),
        ({"memoryMb": "lots"}, "'memoryMb' is 'lots': expected a whole number"),
        ({"memoryMb": 1.5}, "'memoryMb' is 1.5: expected a whole number"),
        ({"timeoutSeconds": 0}, "'timeoutSeconds'"),
        ({"logLevel": "verbose"}, "'logLevel'.*one of DEBUG, INFO, WARNING, ERROR"),
        ({"logRetentionDays": 10}, "'logRetentionDays' is 10: expected one of 1, 3, 5"),
        ({"corsOrigins": "https://app.example.com/"}, "'corsOrigins'.*no path or trailing"),
        ({"corsOrigins": "app.example.com"}, "'corsOrigins'"),
        ({"stageName": "prod-1"}, "'stageName'"),
        ({"throttleRateLimit": 0}, "'throttleRateLimit'"),
        ({"throttleBurstLimit": "-5"}, "'throttleBurstLimit'"),
        ({"authMode": "cognito"}, "'authMode' is 'cognito': expected one of none, apiKey, iam"),
        ({"alarmTopic": "maybe"}, "'alarmTopic' is 'maybe': expected true or false"),
        ({"alarmEmail": "not-an-address"}, "'alarmEmail'"),
        ({"alarm5xxRatePercent": 0}, "'alarm5xxRatePercent'"),
        ({"alarmErrors": 0}, "'alarmErrors'"),
        ({"maxTexts": 0}, "'maxTexts' is 0: expected a whole number from 1 to 10000"),
        (
            {"maxTexts": "20000"},
            "'maxTexts' is 20000: expected .* to 10000 \\(the function's limit",
        ),
        ({"maxChars": 0}, "'maxChars' is 0: expected a whole number, 1 or more"),
        ({"logLevel": "TRACE"}, "'logLevel' is 'TRACE': expected one of DEBUG, .*, CRITICAL"),
        ({"apiExecutionLogs": "sometimes"}, "'apiExecutionLogs' is 'sometimes': expected true"),
        ({"stackName": "1stack"}, "'stackName'"),
        ({"memorymb": 4096}, "'memorymb' is not a setting; did you mean 'memoryMb'"),
        ({"architechture": "arm64"}, "did you mean 'architecture'"),
    ],
)
def test_invalid_context_names_the_fix(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**context)


def test_cdk_keys_and_unrelated_keys_are_not_typos() -> None:
    others = {
        "@aws-cdk/core:checkSecretUsage": True,
        "aws:cdk:enable-path-metadata": True,
        "acknowledged-issue-numbers": [1234],
    }
    assert config(**others) == ServiceConfig()  # accepted, and they change nothing
    with pytest.raises(ConfigError, match="did you mean 'memoryMb'"):
        config(**others, memorymb=4096)  # the typo check is still on beside them


@pytest.mark.parametrize("f", fields(ServiceConfig), ids=lambda f: f.metadata["key"])
def test_every_setting_refuses_a_value_of_the_wrong_type_naming_its_key(f: Any) -> None:
    key = f.metadata["key"]
    if f.type == "str" or f.type == "str | None":
        wrong: Any = ["a", "list"]
    elif f.type == "tuple[str, ...]":
        wrong = {"not": "a list"}
    else:  # bool, int, float, optional or not
        wrong = "twelve"
    with pytest.raises(ConfigError, match=f"context '{key}' is .*: expected "):
        config(**{key: wrong})


@pytest.mark.parametrize(
    ("field_name", "value", "message"),
    [
        ("memory_mb", "4096", "'memoryMb' is '4096': expected a whole number of MB"),
        ("cors_origins", ("https://ok.example.com", "ftp://x"), "'corsOrigins' is 'ftp://x'"),
        ("log_retention_days", 10, "'logRetentionDays' is 10: expected one of 1, 3"),
    ],
)
def test_values_given_in_code_meet_the_same_rules(
    field_name: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ServiceConfig(**{field_name: value})


@pytest.mark.parametrize("bucket", ["a..b", "Upper", "ab", "-dash", "x" * 64])
def test_bucket_names_follow_the_one_rule_training_and_serving_use(bucket: str) -> None:
    from contract.storage import StorageError, parse_s3_uri

    with pytest.raises(ConfigError, match=r"'modelUri'.*valid bucket name"):
        config(modelUri=f"s3://{bucket}/models/run-1")
    with pytest.raises(StorageError, match="not a valid S3 bucket name"):
        parse_s3_uri(f"s3://{bucket}/models/run-1")
    assert config(modelUri="s3://my.bucket-1/models/run-1").model_location.bucket == "my.bucket-1"


def test_invalid_context_fails_the_real_app(app_builder: Callable[..., Any]) -> None:
    """The same error comes out of `infra.app.build`, i.e. out of `cdk synth`."""
    with pytest.raises(ConfigError, match="'architecture' is 'sparc'"):
        app_builder({"architecture": "sparc"})
