"""Synthesizes the stack in-process (aws-cdk-lib through jsii), once per context variant.

Each variant is built with cdk.json's own context (the feature flags the CLI uses) plus its
overrides, with cdk-nag attached exactly as `infra/app.py` attaches it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner on Node 20; it is about support dates, not behaviour.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
CDK_JSON = REPO / "cdk.json"

# The variants every switch is checked in. Values are strings where `-c key=value` gives strings.
DEFAULT: dict[str, Any] = {}
FULL: dict[str, Any] = {
    "architecture": "arm64",
    "memoryMb": "3008",
    "timeoutSeconds": 20,
    "reservedConcurrency": "5",
    "provisionedConcurrency": "2",
    "logLevel": "DEBUG",
    "logRetentionDays": 90,
    "maxTexts": 16,
    "maxChars": "5000",
    "modelUri": "models/run-20261128-abc",
    "corsOrigins": '["https://app.example.com","http://localhost:3000"]',
    "stageName": "v1",
    "throttleRateLimit": "10",
    "throttleBurstLimit": 20,
    "authMode": "apiKey",
    "alarmEmail": "oncall@example.com",
    "alarm5xxRatePercent": 2.5,
    "alarmP99LatencyMs": 1500,
    "alarmThrottles": 3,
    "alarmErrors": 4,
    "confidenceFloor": "0.75",
    "alarmLowConfidencePercent": 20,
    "noncurrentVersionDays": 7,
}
IAM: dict[str, Any] = {
    "authMode": "iam",
    "apiCloudWatchRole": False,  # an account whose API Gateway logging role is managed elsewhere
    "corsOrigins": "*",
    "alarmTopic": "true",
    "modelPrefix": "bundles/sentiment",
    "modelUri": "s3://shared-models-bucket/bundles/sentiment/latest.json",
}

# API Gateway logging switched the other way from the defaults: execution logs on; and a stack
# with no API Gateway logs at all that leaves the region's logging role to the account.
API_LOGS: dict[str, Any] = {"apiExecutionLogs": "true"}
NO_API_LOGS: dict[str, Any] = {"apiAccessLogs": "false", "apiCloudWatchRole": "false"}
# A production release: one pinned run, moved onto the `live` alias by a CodeDeploy canary.
RELEASE: dict[str, Any] = {
    "modelUri": "models/run-20261129-abc",
    "trafficShift": "Canary10Percent5Minutes",
}
# A release with a candidate shadowed beside it, a topic, and the drift check's knobs turned.
MONITORING: dict[str, Any] = {
    **RELEASE,
    "shadowRun": "run-20261130-new",
    "shadowSample": "0.25",
    "alarmTopic": True,
    "driftPsiThreshold": 0.3,
    "driftWindowMinutes": "30",
    "driftMinPredictions": 800,
    "tracing": "false",
}

# Every opt-in at once: a custom domain with its Route 53 record, a web ACL made here, two API
# keys (a rotation in progress), the GitHub deploy role's stack, other lifecycle days.
EDGE: dict[str, Any] = {
    "authMode": "apiKey",
    "apiKeys": '["ApiKey","ApiKey2027a"]',
    "domainName": "api.example.com",
    "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f",
    "hostedZoneId": "Z0123456789ABCDEFGHIJ",
    "webAcl": "managed",
    "webAclRateLimit": 500,
    "githubRepository": "example-org/sentiment-api",
    "jobFilesDays": 7,
    "batchOutputDays": "null",
}


def cdk_json_context() -> dict[str, Any]:
    return json.loads(CDK_JSON.read_text())["context"]


@dataclass
class Synth:
    stack: Any
    template: Any  # aws_cdk.assertions.Template

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.to_json()["Resources"]

    def of_type(self, type_name: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_name}

    def one(self, type_name: str) -> dict[str, Any]:
        found = self.of_type(type_name)
        assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
        return next(iter(found.values()))

    @property
    def outputs(self) -> dict[str, Any]:
        return self.template.to_json().get("Outputs", {})


def build_app(overrides: dict[str, Any]) -> tuple[Any, Any]:
    """A fresh App with cdk.json's context plus `overrides`, and the stack `infra.app` builds."""
    import aws_cdk as cdk

    from infra.app import build

    app = cdk.App(context={**cdk_json_context(), **overrides})
    return app, build(app)


@pytest.fixture(scope="session")
def app_builder() -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    return build_app


_CACHE: dict[str, Synth] = {}


@pytest.fixture(scope="session")
def synth() -> Callable[[dict[str, Any]], Synth]:
    """synth(context) -> Synth, built once per distinct context for the whole session."""
    from aws_cdk.assertions import Template

    def _synth(overrides: dict[str, Any]) -> Synth:
        key = json.dumps(overrides, sort_keys=True)
        if key not in _CACHE:
            _, stack = build_app(overrides)
            _CACHE[key] = Synth(stack=stack, template=Template.from_stack(stack))
        return _CACHE[key]

    return _synth


@pytest.fixture(scope="session")
def default(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(DEFAULT)


@pytest.fixture(scope="session")
def full(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(FULL)


@pytest.fixture(scope="session")
def iam(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(IAM)


@pytest.fixture(scope="session")
def api_logs(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(API_LOGS)


@pytest.fixture(scope="session")
def no_api_logs(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(NO_API_LOGS)


@pytest.fixture(scope="session")
def release(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(RELEASE)


@pytest.fixture(scope="session")
def edge(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(EDGE)


@pytest.fixture(scope="session")
def monitoring(synth: Callable[[dict[str, Any]], Synth]) -> Synth:
    return synth(MONITORING)
