"""The low-confidence alarm at synth level: metric filters that sum the request log's batch_size
and low_confidence, an alarm on their ratio with a minimum-traffic guard, the canary rolled back
on it, and the function given the floor the alarm describes. Under a canary, the same sums per
Lambda version and an alarm on the new version's own share: its expression evaluated as
CloudWatch's metric math documents it, and its chance of firing computed exactly."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from types import CodeType
from typing import Any

import numpy as np
import pytest
from scipy import stats

from function.logs import VERSION_FIELD
from infra.confidence_alarm import (
    MIN_PREDICTIONS,
    NEW_VERSION_Z,
    VERSION_DIMENSION,
    new_version_min_predictions,
)
from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.conftest import REPO
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


# --- the canary's own alarm: the new version's share, per minute --------------------------------


def _new_version_alarm(synth: Any) -> dict[str, Any]:
    return synth.resources[
        _logical_id(synth, "AWS::CloudWatch::Alarm", "ReleaseNewVersionLowConfidence")
    ]["Properties"]


def test_a_canary_sums_the_request_log_per_version(release: Any) -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for resource in release.of_type("AWS::Logs::MetricFilter").values():
        props = resource["Properties"]
        (transformation,) = props["MetricTransformations"]
        by_name.setdefault(transformation["MetricName"], []).append({**props, **transformation})
    assert set(by_name) == set(FILTERS)
    for name, (pattern, value) in FILTERS.items():
        # The stack-wide sum, and the same sum by the version that answered.
        plain, split = sorted(by_name[name], key=lambda f: "Dimensions" in f)
        assert "Dimensions" not in plain
        assert split["Dimensions"] == [{"Key": VERSION_DIMENSION, "Value": f"$.{VERSION_FIELD}"}]
        for f in (plain, split):
            assert (f["FilterPattern"], f["MetricValue"]) == (pattern, value)
            assert "DefaultValue" not in f  # a line without the field is no data, not a zero


def test_a_dev_stack_has_no_per_version_sums(default: Any) -> None:
    for resource in default.of_type("AWS::Logs::MetricFilter").values():
        (transformation,) = resource["Properties"]["MetricTransformations"]
        assert "Dimensions" not in transformation
    assert not [k for k in default.of_type("AWS::CloudWatch::Alarm") if "NewVersion" in k]


def test_the_new_version_alarm_reads_its_own_minutes_and_rolls_it_back(release: Any) -> None:
    alarm = _new_version_alarm(release)
    assert alarm["Threshold"] == 0.5
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (1, "notBreaching")
    stats_ = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert set(stats_) == {"total", "low"}
    # The version CodeDeploy shifts to, as the new version's errors alarm names it.
    errors = release.resources[
        _logical_id(release, "AWS::CloudWatch::Alarm", "ReleaseNewVersionErrors")
    ]["Properties"]
    (executed,) = [d for d in errors["Dimensions"] if d["Name"] == "ExecutedVersion"]
    for metric_id, name in (("total", "Predictions"), ("low", "LowConfidencePredictions")):
        stat = stats_[metric_id]
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Dimensions"] == [
            {"Name": VERSION_DIMENSION, "Value": executed["Value"]}
        ]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 60)
    group = release.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    alarms = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    assert _logical_id(release, "AWS::CloudWatch::Alarm", "ReleaseNewVersionLowConfidence") in (
        alarms
    )


@functools.cache
def _compiled(expression: str) -> tuple[CodeType, frozenset[str], frozenset[str]]:
    """A metric-math expression as Python: its code, the ids it reads, and those it FILLs."""
    source = expression.replace("^", "**").replace("IF(", "if_(").replace("FILL(", "fill(")
    names = frozenset(re.findall(r"\b[a-z_]+\b", source)) - {"if_", "fill"}
    filled = frozenset(n for n in names if f"fill({n}" in source)
    return compile(source, "<metric math>", "eval"), names, filled


def _evaluate(metrics: list[dict[str, Any]], data: dict[str, float | None]) -> float | None:
    """One minute of the alarm's metric math, as CloudWatch documents it: a missing data point
    is None, division by zero drops the point, FILL(x, v) fills a missing x, IF(c, x) without a
    false value drops the point where c is false, ^ is the power operator."""
    expressions = {m["Id"]: m["Expression"] for m in metrics if "Expression" in m}
    values: dict[str, float | None] = dict(data)

    def fill(x: float | None, v: float) -> float:
        return v if x is None else x

    def if_(condition: bool, x: float | None) -> float | None:
        return x if condition else None

    def value(metric_id: str) -> float | None:
        if metric_id not in values:
            code, names, filled = _compiled(expressions[metric_id])
            scope = {n: value(n) for n in names}
            if any(v is None for k, v in scope.items() if k not in filled):
                values[metric_id] = None  # a missing operand (not FILLed): no point
            else:
                try:
                    values[metric_id] = eval(code, {"if_": if_, "fill": fill}, scope)
                except ZeroDivisionError:
                    values[metric_id] = None
        return values[metric_id]

    (returned,) = [m["Id"] for m in metrics if m["ReturnData"]]
    return value(returned)


def _fires(alarm: dict[str, Any], low: int, total: int) -> bool:
    point = _evaluate(
        alarm["Metrics"], {"total": float(total) if total else None, "low": float(low) or None}
    )
    return point is not None and point > alarm["Threshold"]


@pytest.mark.parametrize("percent", [50, 20, 5])
def test_it_fires_exactly_when_the_score_test_rejects(
    percent: int, synth: Callable[[dict[str, Any]], Any]
) -> None:
    """Over every count a minute can hold up to 400 predictions: the expression fires iff the
    one-sided score test of "share <= threshold" rejects at z, and never below the minimum."""
    stack = synth(
        {
            "modelUri": "models/run-1",
            "trafficShift": "Canary10Percent5Minutes",
            "alarmLowConfidencePercent": percent,
        }
    )
    alarm = _new_version_alarm(stack)
    t = percent / 100
    least = new_version_min_predictions(t)
    assert f"at least {least} of them" in alarm["AlarmDescription"]
    assert not _fires(alarm, 0, 0)  # a minute without the new version's traffic
    for n in range(1, 401):
        for k in range(n + 1):
            score = (k / n - t) / math.sqrt(t * (1 - t) / n)
            # Counts whose score sits within float noise of z are left out of the comparison.
            if abs(score - NEW_VERSION_Z) > 1e-6:
                assert _fires(alarm, k, n) == (n >= least and score > NEW_VERSION_Z), (k, n)


def _chance_of_firing(t: float, share: float, n: int) -> float:
    """The exact binomial chance that a minute of n predictions, each below the floor with
    probability `share`, fires the alarm at threshold t (the score test the alarm computes)."""
    if n < new_version_min_predictions(t):
        return 0.0
    # The fewest low-confidence predictions whose score passes z.
    k = math.floor(n * t + NEW_VERSION_Z * math.sqrt(n * t * (1 - t))) + 1
    return float(stats.binom.sf(k - 1, n, share))


@pytest.mark.parametrize("t", [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_a_version_at_the_threshold_rarely_fires_and_a_healthy_one_never(t: float) -> None:
    """The figures confidence_alarm.py states: with the minimum count, a version whose true
    share is exactly the threshold fires a given minute with chance at most 0.4 % (0.13 % at
    50 %), whatever the minute's count; one at half the threshold's share, at most 1e-6."""
    least = new_version_min_predictions(t)
    counts = np.unique(np.geomspace(least, 20 * least, 400).astype(int))
    at_threshold = max(_chance_of_firing(t, t, int(n)) for n in range(least, least + 200))
    at_threshold = max(at_threshold, *(_chance_of_firing(t, t, int(n)) for n in counts))
    assert at_threshold <= (0.0014 if t == 0.5 else 0.004)
    healthy = max(_chance_of_firing(t, t / 2, int(n)) for n in counts)
    assert healthy <= 1e-6


@pytest.mark.parametrize(("t", "share", "within"), [(0.5, 0.9, 25), (0.5, 1.0, 20), (0.2, 0.6, 50)])
def test_a_bad_version_is_caught_in_one_minute_of_modest_traffic(
    t: float, share: float, within: int
) -> None:
    """Power: a version that hedges on most reviews is rolled back, with 90 % chance, by one
    minute holding `within` of its predictions (a 10 % canary of 250 predictions a minute)."""
    assert _chance_of_firing(t, share, within) >= 0.9


def _fewest_for_90_percent(t: float, share: float) -> int:
    return next(n for n in range(1, 5000) if _chance_of_firing(t, share, n) >= 0.9)


def test_docs_state_the_code_figures() -> None:
    """docs/deploy.md's paragraph on the new version's alarm, against what the code computes."""
    doc = " ".join((REPO / "docs" / "deploy.md").read_text().split())
    least = {t: new_version_min_predictions(t) for t in (0.5, 0.2)}
    assert f"(z = {NEW_VERSION_Z})" in doc
    assert f"{least[0.5]} at the default 50 %, {least[0.2]} at 20 %" in doc
    caught = _fewest_for_90_percent(0.5, 0.9)
    assert f"by one minute of {caught} of its predictions" in doc
    assert f"one at 70 % needs {_fewest_for_90_percent(0.5, 0.7)}" in doc
    at_threshold = max(_chance_of_firing(0.5, 0.5, n) for n in range(20, 400))
    assert f"at most {100 * at_threshold:.2f} % at 50 %" in doc
    assert f"about {100 * (1 - (1 - at_threshold) ** 30):.0f} % over a 30-minute canary" in doc
