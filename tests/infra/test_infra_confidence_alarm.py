"""The low-confidence alarm at synth level: metric filters that sum the request log's batch_size
and low_confidence, an alarm on their ratio with a minimum-traffic guard, the canary rolled back
on it, and the function given the floor the alarm describes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.confidence_alarm import MIN_PREDICTIONS
from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.test_infra_release import _logical_id

FILTERS = {
    "Predictions": (
        '{ ($.logger = "function.request") && ($.batch_size >= 0) }',
        "$.batch_size",
    ),
    "LowConfidencePredictions": (
        '{ ($.logger = "function.request") && ($.low_confidence >= 0) }',
        "$.low_confidence",
    ),
}


def _filters(synth: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for resource in synth.of_type("AWS::Logs::MetricFilter").values():
        props = resource["Properties"]
        (transformation,) = props["MetricTransformations"]
        found[transformation["MetricName"]] = {**props, "transformation": transformation}
    return found


def _share_alarm(synth: Any) -> dict[str, Any]:
    return synth.resources[_logical_id(synth, "AWS::CloudWatch::Alarm", "AlarmsLowConfidence")][
        "Properties"
    ]


def test_metric_filters_sum_the_request_log_fields(default: Any) -> None:
    filters = _filters(default)
    assert set(filters) == set(FILTERS)
    log_group = _logical_id(default, "AWS::Logs::LogGroup", "InferenceLogs")
    for name, (pattern, value) in FILTERS.items():
        assert filters[name]["FilterPattern"] == pattern
        assert filters[name]["LogGroupName"] == {"Ref": log_group}
        assert filters[name]["transformation"] == {
            "MetricName": name,
            "MetricNamespace": "SentimentApi/Serving",
            "MetricValue": value,
            "Unit": "Count",
        }


def test_the_alarm_is_the_share_of_low_confidence_predictions(default: Any) -> None:
    alarm = _share_alarm(default)
    assert alarm["Threshold"] == 0.5  # alarmLowConfidencePercent's default, 50
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    expression = next(m for m in metrics.values() if "Expression" in m)
    assert expression["Expression"] == (f"IF(total >= {MIN_PREDICTIONS}, FILL(low, 0) / total, 0)")
    assert expression["ReturnData"] is True
    for metric_id, name in (("total", "Predictions"), ("low", "LowConfidencePredictions")):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"] == {"MetricName": name, "Namespace": "SentimentApi/Serving"}
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
        assert metrics[metric_id]["ReturnData"] is False
    assert "AlarmActions" not in alarm  # no topic by default


def test_threshold_floor_and_notification_from_context(full: Any) -> None:
    alarm = _share_alarm(full)
    assert alarm["Threshold"] == 0.2
    assert "(0.75)" in alarm["AlarmDescription"]
    topic_id = next(iter(full.of_type("AWS::SNS::Topic")))
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]
    env = full.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert env["CONFIDENCE_FLOOR"] == "0.75"


def test_the_function_gets_the_default_floor(default: Any) -> None:
    env = default.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert env["CONFIDENCE_FLOOR"] == "0.6"


def test_the_canary_rolls_back_on_it(release: Any) -> None:
    group = release.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    alarms = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    assert _logical_id(release, "AWS::CloudWatch::Alarm", "AlarmsLowConfidence") in alarms


def test_a_floor_of_zero_counts_nothing_and_has_no_alarm(
    synth: Callable[[dict[str, Any]], Any],
) -> None:
    off = synth({"confidenceFloor": 0, "modelUri": "models/run-1", "trafficShift": "AllAtOnce"})
    assert off.of_type("AWS::Logs::MetricFilter") == {}
    assert not [k for k in off.of_type("AWS::CloudWatch::Alarm") if "LowConfidence" in k]
    env = off.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    assert env["CONFIDENCE_FLOOR"] == "0.0"
    group = off.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert len(group["AlarmConfiguration"]["Alarms"]) == 4  # 5xx, latency, errors, new version


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("confidenceFloor", 1.5, "'confidenceFloor' is 1.5"),
        ("confidenceFloor", "-0.1", "'confidenceFloor' is -0.1"),
        ("alarmLowConfidencePercent", 0, "'alarmLowConfidencePercent' is 0"),
        ("alarmLowConfidencePercent", "100", "'alarmLowConfidencePercent' is 100"),
    ],
)
def test_out_of_range_values_stop_synth(
    app_builder: Callable[..., Any], key: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        app_builder({key: value})
