"""`cdk destroy` leaves nothing that bills. Only the artifacts bucket (the trained models) is kept
by design, and, unless `apiCloudWatchRole` is false, the region's API Gateway logging role and
its account setting, which other APIs may log through (docs/deploy.md, "Tear down").

Published Lambda versions carry `Retain` too, so that a deploy does not delete the version a
rollback goes back to; they still go on destroy, with their function: CloudFormation deletes the
function (no policy keeps it), and Lambda's DeleteFunction without a qualifier deletes every
version and alias of it (the Lambda API reference, DeleteFunction). A retained version is
therefore allowed here only when its function is in the same template and not retained.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

# What a destroy keeps on purpose: the models; with apiCloudWatchRole, the region's logging role
# and its account setting (other APIs may log through them; neither bills).
KEPT = {"AWS::S3::Bucket"}
KEPT_WITH_ACCOUNT_ROLE = KEPT | {"AWS::IAM::Role", "AWS::ApiGateway::Account"}
KEEPING = ("Retain", "RetainExceptOnCreate", "Snapshot")
VARIANTS = ["default", "full", "iam", "api_logs", "no_api_logs", "release"]


def _kept(synth: Any) -> dict[str, str]:
    return {
        logical_id: resource["Type"]
        for logical_id, resource in synth.resources.items()
        if resource.get("DeletionPolicy") in KEEPING
        or resource.get("UpdateReplacePolicy") in KEEPING
    }


def _goes_with_its_function(resources: dict[str, Any], version_id: str) -> bool:
    function = resources[version_id]["Properties"]["FunctionName"]
    if set(function) != {"Ref"} or function["Ref"] not in resources:
        return False  # a function outside the stack would keep the version
    owner = resources[function["Ref"]]
    return owner["Type"] == "AWS::Lambda::Function" and owner.get("DeletionPolicy") in (
        None,
        "Delete",
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_only_the_bucket_outlives_the_stack(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Any = request.getfixturevalue(variant)
    allowed = KEPT if variant in ("iam", "no_api_logs") else KEPT_WITH_ACCOUNT_ROLE
    kept = _kept(synth)
    versions = {k for k, kind in kept.items() if kind == "AWS::Lambda::Version"}
    resources = synth.resources
    for version_id in versions:
        assert _goes_with_its_function(resources, version_id), version_id
    assert {kind for k, kind in kept.items() if k not in versions} <= allowed, kept
    assert "AWS::S3::Bucket" in kept.values()


def test_the_rule_catches_a_version_of_a_function_kept_or_outside_the_stack(release: Any) -> None:
    """The exception for versions is no blanket pass: one whose function survives is caught."""
    resources = release.resources  # a fresh copy of the template each time
    version_id = next(iter(release.of_type("AWS::Lambda::Version")))
    assert _goes_with_its_function(resources, version_id)
    function_id = resources[version_id]["Properties"]["FunctionName"]["Ref"]
    resources[function_id]["DeletionPolicy"] = "Retain"
    assert not _goes_with_its_function(resources, version_id)
    outside = release.resources
    outside[version_id]["Properties"]["FunctionName"] = "some-other-function"
    assert not _goes_with_its_function(outside, version_id)


@pytest.mark.parametrize("variant", ["full", "iam"])
def test_alarm_topic_key_is_scheduled_for_deletion(variant: str, request: pytest.FixtureRequest):
    synth: Any = request.getfixturevalue(variant)
    synth.template.resource_count_is("AWS::KMS::Key", 1)
    synth.template.has_resource(
        "AWS::KMS::Key",
        {
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": Match.object_like({"PendingWindowInDays": 7}),
        },
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_log_group_expires_and_goes_with_the_stack(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Any = request.getfixturevalue(variant)
    groups = synth.of_type("AWS::Logs::LogGroup")
    assert groups
    for logical_id, group in groups.items():
        assert group.get("DeletionPolicy") == "Delete", logical_id
        assert group["Properties"].get("RetentionInDays"), logical_id


@pytest.mark.parametrize("variant", ["iam", "no_api_logs"])
def test_the_region_logging_role_can_be_left_to_the_account(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Any = request.getfixturevalue(variant)
    synth.template.resource_count_is("AWS::ApiGateway::Account", 0)
    for role in synth.of_type("AWS::IAM::Role").values():
        assert "apigateway" not in str(role["Properties"]["AssumeRolePolicyDocument"])


@pytest.mark.parametrize("variant", ["default", "full", "api_logs"])
def test_the_default_deploy_brings_the_region_logging_role_and_keeps_it(
    variant: str, request: pytest.FixtureRequest
) -> None:
    # Without it, access logs fail the first deploy in a region that never had API Gateway logs.
    synth: Any = request.getfixturevalue(variant)
    synth.template.resource_count_is("AWS::ApiGateway::Account", 1)
    synth.template.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain"})
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp(".*region's API Gateway CloudWatch logging role.*")
    )
    assert len(warnings) == 1, "synth must say that it sets the region's logging role"


def test_execution_logs_go_to_a_group_the_stack_owns(api_logs: Any, default: Any) -> None:
    api_logs.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"MethodSettings": [Match.object_like({"LoggingLevel": "ERROR"})]},
    )
    api_id = next(iter(api_logs.of_type("AWS::ApiGateway::RestApi")))
    api_logs.template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Delete",
            "Properties": {
                "LogGroupName": {
                    "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/prod"]]
                },
                "RetentionInDays": 30,
            },
        },
    )
    group_id = next(
        k
        for k, g in api_logs.of_type("AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in str(g["Properties"].get("LogGroupName"))
    )
    stage = next(iter(api_logs.of_type("AWS::ApiGateway::Stage").values()))
    assert group_id in stage["DependsOn"]  # there before API Gateway could make its own
    # Off by default: no execution logs, so no group API Gateway would create outside the stack.
    names = [
        g["Properties"].get("LogGroupName") for g in default.of_type("AWS::Logs::LogGroup").values()
    ]
    assert not any("API-Gateway-Execution-Logs" in str(n) for n in names)


def test_access_logs_can_be_turned_off(no_api_logs: Any, default: Any) -> None:
    stage = no_api_logs.one("AWS::ApiGateway::Stage")["Properties"]
    assert "AccessLogSetting" not in stage
    groups = [k for k in no_api_logs.of_type("AWS::Logs::LogGroup")
              if not k.startswith(("Batch", "Drift"))]  # fmt: skip
    assert len(groups) == 1  # the function's own (batch scoring and the drift check have theirs)
    assert "AccessLogSetting" in default.one("AWS::ApiGateway::Stage")["Properties"]


def test_no_warning_when_the_account_keeps_its_logging_role(iam: Any) -> None:
    warnings = Annotations.from_stack(iam.stack).find_warning(
        "*", Match.string_like_regexp(".*region's API Gateway CloudWatch logging role.*")
    )
    assert warnings == []
