"""Safe releases at synth level: each version serves one pinned run, the API calls the `live`
alias, and CodeDeploy shifts it with a canary that the alarms roll back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.conftest import RELEASE
from tests.infra.test_infra_config import config


def _logical_id(synth: Any, type_name: str, prefix: str) -> str:
    found = [k for k in synth.of_type(type_name) if k.startswith(prefix)]
    assert len(found) == 1, f"expected one {type_name} named {prefix}*, found {found}"
    return found[0]


def _versions(synth: Any) -> dict[str, dict[str, Any]]:
    """Each function's published version, by the function's logical id."""
    versions = synth.of_type("AWS::Lambda::Version").values()
    return {v["Properties"]["FunctionName"]["Ref"]: v for v in versions}


def test_the_version_names_the_run_it_serves(release: Any) -> None:
    versions = _versions(release)
    batch_id = _logical_id(release, "AWS::Lambda::Function", "BatchFunction")
    assert set(versions) == {FUNCTION_LOGICAL_ID, batch_id}  # the API's and bulk scoring's
    for function_id, version in versions.items():
        assert version["Properties"] == {
            "Description": "run run-20261129-abc",
            "FunctionName": {"Ref": function_id},
        }
        env = release.resources[function_id]["Properties"]["Environment"]["Variables"]
        assert env["MODEL_URI"]["Fn::Join"][1][-1] == "/models/run-20261129-abc"  # no pointer


def test_each_version_outlives_the_deploy_that_replaces_it(release: Any) -> None:
    """A deploy gives the Version a new logical id; CloudFormation deletes the one dropped from
    the template unless its DeletionPolicy keeps it, and rollback then has nothing to go back
    to. (aws-cdk-lib's VersionOptions.removal_policy defaults to DESTROY: no policy at all.)"""
    for version in _versions(release).values():
        assert version["DeletionPolicy"] == "Retain"
        assert version["UpdateReplacePolicy"] == "Retain"


def test_bulk_scoring_runs_its_live_alias_which_moves_with_the_release(release: Any) -> None:
    batch_id = _logical_id(release, "AWS::Lambda::Function", "BatchFunction")
    alias_id = _logical_id(release, "AWS::Lambda::Alias", "BatchLiveAlias")
    alias = release.resources[alias_id]["Properties"]
    version_id = next(
        k
        for k, v in release.of_type("AWS::Lambda::Version").items()
        if v["Properties"]["FunctionName"] == {"Ref": batch_id}
    )
    assert alias == {
        "FunctionName": {"Ref": batch_id},
        "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        "Name": "live",
    }
    definition = json.dumps(release.one("AWS::StepFunctions::StateMachine")["Properties"])
    assert alias_id in definition, "the state machine must invoke the batch alias"
    # CodeDeploy shifts the API's alias only; the batch alias follows the stack update.
    assert "UpdatePolicy" not in release.resources[alias_id]


def test_the_api_calls_the_live_alias_which_codedeploy_moves(release: Any) -> None:
    alias_id = _logical_id(release, "AWS::Lambda::Alias", "InferenceLiveAlias")
    alias = release.resources[alias_id]
    assert alias["Properties"]["Name"] == "live"
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
    group_id = next(iter(release.of_type("AWS::CodeDeploy::DeploymentGroup")))
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == {
        "Ref": group_id
    }
    for method in release.of_type("AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        assert alias_id in uri, "every API method must invoke the alias, not $LATEST"
    permissions = [
        p
        for p in release.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert permissions
    assert all(p["Properties"]["FunctionName"] == {"Ref": alias_id} for p in permissions)


def test_canary_rolls_back_on_the_service_alarms(release: Any) -> None:
    release.template.resource_count_is("AWS::CodeDeploy::Application", 1)
    group = release.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    alarms = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    assert group["AlarmConfiguration"]["Enabled"] is True
    expected = {
        _logical_id(release, "AWS::CloudWatch::Alarm", prefix)
        for prefix in (
            "AlarmsServerErrorRate",
            "AlarmsP99Latency",
            "AlarmsFunctionErrors",
            "AlarmsLowConfidenceAlarm",
            "ReleaseNewVersionErrors",
            "ReleaseNewVersionLowConfidence",
        )
    }
    assert alarms == expected


def test_the_new_version_has_its_own_one_minute_error_alarm(release: Any) -> None:
    version_id = next(iter(release.of_type("AWS::Lambda::Version")))
    release.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Errors",
            "Period": 60,
            "Threshold": 1,
            "Dimensions": Match.array_with(
                [{"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": [version_id, "Version"]}}]
            ),
        },
    )


@pytest.mark.parametrize(
    ("shift", "config_name"),
    [
        ("Linear10PercentEvery1Minute", "LambdaLinear10PercentEvery1Minute"),
        ("AllAtOnce", "LambdaAllAtOnce"),
    ],
)
def test_traffic_shift_follows_context(synth: Any, shift: str, config_name: str) -> None:
    group = synth({**RELEASE, "trafficShift": shift}).one("AWS::CodeDeploy::DeploymentGroup")
    assert group["Properties"]["DeploymentConfigName"] == f"CodeDeployDefault.{config_name}"


def test_dev_stacks_have_no_deployment(default: Any) -> None:
    default.template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 0)
    default.template.resource_count_is("AWS::Lambda::Alias", 0)
    default.template.resource_count_is("AWS::Lambda::Version", 0)


def test_provisioned_concurrency_and_a_canary_share_the_alias(synth: Any) -> None:
    both = synth({**RELEASE, "provisionedConcurrency": 2})
    alias = both.resources[_logical_id(both, "AWS::Lambda::Alias", "InferenceLiveAlias")]
    alias = alias["Properties"]
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    both.template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 1)


def test_a_canary_refuses_a_moving_pointer() -> None:
    with pytest.raises(
        ConfigError, match=r"'trafficShift'.*pin a run with `python -m infra\.release"
    ):
        config(trafficShift="Canary10Percent5Minutes")
    with pytest.raises(ConfigError, match="'trafficShift' is 'Canary5'"):
        config(modelUri="models/run-1", trafficShift="Canary5")
    assert config(modelUri="s3://other-bucket/models/run-7").pinned_run == "run-7"
    with pytest.raises(ConfigError, match="'trafficShift'"):  # a runs root follows latest.json
        config(modelUri="models/", trafficShift="AllAtOnce")


@pytest.mark.parametrize("variant", ["release", "monitoring"])
def test_no_deployment_group_holds_more_alarms_than_codedeploy_takes(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """CodeDeploy refuses an 11th alarm on a deployment group (AlarmsLimitExceededException;
    CloudFormation's AlarmConfiguration: "a maximum of 10 alarms"), and would fail the deploy.
    The release and monitoring stacks (a canary, the floor on, every alarm) hold the most."""
    synth: Any = request.getfixturevalue(variant)
    (group,) = synth.of_type("AWS::CodeDeploy::DeploymentGroup").values()
    alarms = group["Properties"]["AlarmConfiguration"]["Alarms"]
    assert len(alarms) == 6  # 5xx, p99, errors, low confidence; the new version's two
    assert len({json.dumps(a, sort_keys=True) for a in alarms}) == len(alarms) <= 10
