"""Monitoring at synth level: the scheduled drift check and its alarm (notified, never a canary
rollback), X-Ray tracing on by default and off by context, the shadow receiver beside a pinned
candidate, the dashboard, and every new function's environment accepted by the function's own
Settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from contract.audit import ALPHA
from function.config import Settings
from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.test_infra_config import config
from tests.infra.test_infra_function_settings import _resolve, settings_from
from tests.infra.test_infra_release import _logical_id

NAMESPACE = "SentimentApi/Monitoring"


def functions_by_cmd(synth: Any) -> dict[str, dict[str, Any]]:
    """Lambda functions by the image CMD they run (the API's has none: the image's default)."""
    out = {}
    for resource in synth.of_type("AWS::Lambda::Function").values():
        props = resource["Properties"]
        command = props.get("ImageConfig", {}).get("Command", ["function.handler.handler"])
        out[command[0]] = props
    return out


def environment(props: dict[str, Any]) -> dict[str, str]:
    return {
        k: _resolve(v) if not isinstance(v, dict) or "Fn::Join" in v else "<ref>"
        for k, v in props["Environment"]["Variables"].items()
    }


def test_the_drift_check_runs_on_a_schedule_from_the_same_image(default: Any) -> None:
    functions = functions_by_cmd(default)
    check, live = functions["function.drift.handler.handler"], functions["function.handler.handler"]
    assert check["Code"] == live["Code"]  # one image asset, another CMD
    env = environment(check)
    assert env["MODEL_URI"] == environment(live)["MODEL_URI"]  # the served run's reference
    assert env["MONITORING_NAMESPACE"] == environment(live)["MONITORING_NAMESPACE"] == NAMESPACE
    assert (env["DRIFT_WINDOW_MINUTES"], env["DRIFT_MIN_PREDICTIONS"]) == ("60", "500")
    rule_id = _logical_id(default, "AWS::Events::Rule", "DriftSchedule")
    rule = default.resources[rule_id]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    check_id = _logical_id(default, "AWS::Lambda::Function", "DriftFunction")
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [check_id, "Arn"]}
    policies = json.dumps(default.of_type("AWS::IAM::Policy"))
    assert '"cloudwatch:namespace": "SentimentApi/Monitoring"' in policies


def test_the_drift_alarm_watches_the_largest_psi_and_notifies(monitoring: Any) -> None:
    alarm = monitoring.resources[_logical_id(monitoring, "AWS::CloudWatch::Alarm", "DriftAlarm")]
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (NAMESPACE, "DriftMaxPSI")
    assert props["Threshold"] == 0.3 and props["Period"] == 30 * 60
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"  # too little traffic publishes nothing
    topic = _logical_id(monitoring, "AWS::SNS::Topic", "AlarmsTopic")
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": topic}]
    rule = monitoring.resources[_logical_id(monitoring, "AWS::Events::Rule", "DriftSchedule")]
    assert rule["Properties"]["ScheduleExpression"] == "rate(30 minutes)"
    group = monitoring.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    rollback = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    assert _logical_id(monitoring, "AWS::CloudWatch::Alarm", "DriftAlarm") not in rollback


def test_tracing_is_active_by_default_and_off_by_context(default: Any, monitoring: Any) -> None:
    live = default.resources[FUNCTION_LOGICAL_ID]["Properties"]
    assert live["TracingConfig"] == {"Mode": "Active"}
    assert "xray:PutTraceSegments" in json.dumps(default.of_type("AWS::IAM::Policy"))
    assert "TracingConfig" not in monitoring.resources[FUNCTION_LOGICAL_ID]["Properties"]


def test_a_shadowed_run_gets_a_receiver_the_live_function_copies_to(monitoring: Any) -> None:
    functions = functions_by_cmd(monitoring)
    receiver = functions["function.shadow.handler.handler"]
    assert environment(receiver)["MODEL_URI"].endswith("/models/run-20261130-new")
    assert receiver["MemorySize"] == functions["function.handler.handler"]["MemorySize"]
    receiver_id = _logical_id(monitoring, "AWS::Lambda::Function", "ShadowFunction")
    live = monitoring.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert live["SHADOW_FUNCTION"] == {"Ref": receiver_id} and live["SHADOW_SAMPLE"] == "0.25"
    invoke = monitoring.resources[
        _logical_id(monitoring, "AWS::Lambda::EventInvokeConfig", "ShadowFunction")
    ]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 0 and invoke["MaximumEventAgeInSeconds"] == 60
    live_policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for k, p in monitoring.of_type("AWS::IAM::Policy").items()
        if k.startswith("InferenceRoleDefaultPolicy")
    )
    invokes = [s for s in live_policy if s["Action"] == "lambda:InvokeFunction"]
    assert json.dumps(invokes).count(receiver_id) == 2  # the function and its versions only
    assert "ShadowFunctionName" in monitoring.outputs


def test_no_receiver_without_a_shadowed_run(default: Any) -> None:
    assert "function.shadow.handler.handler" not in functions_by_cmd(default)
    live = default.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert "SHADOW_FUNCTION" not in live


@pytest.mark.parametrize("variant", ["default", "monitoring"])
def test_every_function_environment_is_accepted_by_the_settings(
    variant: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    synth: Any = request.getfixturevalue(variant)
    for cmd, props in functions_by_cmd(synth).items():
        env = {k: v for k, v in environment(props).items() if v != "<ref>"}
        assert set(env) <= {f.upper() for f in Settings.model_fields}, cmd
        settings = settings_from(env, monkeypatch)
        assert settings.monitoring_namespace == NAMESPACE, cmd


def test_the_dashboard_shows_the_service_on_one_screen(default: Any, monitoring: Any) -> None:
    for synth, canary in ((default, False), (monitoring, True)):
        body = json.dumps(synth.one("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
        for needle in (
            "Traffic",
            "Errors",
            "Latency",
            "Confidence",
            "DriftPSI",
            "DriftWindowPredictions",
            "alarms",
        ):
            assert needle in body, needle
        assert ("ExecutedVersion" in body) is canary
        # The request log's sums per version, beside the invocations, only under a canary.
        assert ("{SentimentApi/Serving,ExecutedVersion}" in body) is canary
        assert ("shadow_agreed" in body) is canary
        drift_alarm = _logical_id(synth, "AWS::CloudWatch::Alarm", "DriftAlarm")
        assert drift_alarm in body  # in the alarm status widget
        assert "DashboardName" in synth.outputs
    for own in ("ReleaseNewVersionErrors", "ReleaseNewVersionLowConfidence"):
        canary_alarm = _logical_id(monitoring, "AWS::CloudWatch::Alarm", own)
        assert canary_alarm in json.dumps(monitoring.one("AWS::CloudWatch::Dashboard"))


def test_bad_monitoring_context_stops_synth() -> None:
    with pytest.raises(ConfigError, match=r"'driftPsiThreshold' is 0\.0: expected a PSI above 0"):
        config(driftPsiThreshold=0)
    with pytest.raises(ConfigError, match="'driftWindowMinutes' is 2: expected a whole number"):
        config(driftWindowMinutes="2")
    with pytest.raises(ConfigError, match=r"'shadowSample' is 0\.0: expected a share"):
        config(shadowSample=0)
    with pytest.raises(ConfigError, match="'shadowRun' is 'a/b': expected a run id"):
        config(shadowRun="a/b")
    with pytest.raises(ConfigError, match=r"'shadowMinAgreement' is 1\.5"):
        config(shadowMinAgreement=1.5)
    assert config(shadowRun="run-7").shadow_run == "run-7"


def test_settings_refuse_what_synth_refuses() -> None:
    with pytest.raises(ValidationError):
        Settings(shadow_sample=1.5)
    with pytest.raises(ValidationError):
        Settings(drift_window_minutes=2)


def test_a_labelled_file_below_its_held_out_split_alarms_and_is_drawn(
    monitoring: Any, synth: Any
) -> None:
    """Bulk scoring's labelled files publish their accuracy per run and the verdict for the
    service (function/batch/summary.py): the dashboard draws the first, one alarm watches the
    second and notifies; it is not a canary's rollback alarm."""
    alarm_id = _logical_id(monitoring, "AWS::CloudWatch::Alarm", "LabelledBelowAlarm")
    props = monitoring.resources[alarm_id]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (NAMESPACE, "LabelledBelow")
    assert "Dimensions" not in props  # every run's verdict, one alarm
    assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Maximum", 3600, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"  # most hours judge no file
    assert f"one-sided p < {ALPHA})" in props["AlarmDescription"]
    topic = _logical_id(monitoring, "AWS::SNS::Topic", "AlarmsTopic")
    assert props["AlarmActions"] == [{"Ref": topic}]
    group = monitoring.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert alarm_id not in {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    body = json.dumps(monitoring.one("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    for needle in ("LabelledAccuracy", "LabelledExpectedAccuracy", "LabelledRows", alarm_id):
        assert needle in body, needle
    off = synth({"batchScoring": "false"})  # no bulk scoring, no labelled files
    assert not any(
        k.startswith("LabelledBelowAlarm") for k in off.of_type("AWS::CloudWatch::Alarm")
    )
    assert "LabelledAccuracy" not in json.dumps(off.one("AWS::CloudWatch::Dashboard"))
