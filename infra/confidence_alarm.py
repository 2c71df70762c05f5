"""The share of predictions below the function's confidence floor, from its request log, and an
alarm on it: a model that suddenly hedges on most reviews is a bad release even when every
request answers 200 quickly.

The function writes one JSON line per request with the predictions it answered and how many of
them scored below CONFIDENCE_FLOOR (function/logs.py names the logger and the fields). Two metric
filters sum them; the alarm divides one by the other.

Under a canary the stack-wide share mixes the new version 1:9 with the old one, so a release
stack also sums them per Lambda version (two more filters, the request log's `function_version`
as the dimension) and judges the version being deployed on its own predictions, every minute
(`new_version_alarm`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from function.logs import LOW_CONFIDENCE_FIELD, PREDICTIONS_FIELD, REQUEST_LOGGER, VERSION_FIELD

# Below this many predictions in a period the share is noise (three uncertain reviews out of
# four), so the alarm sees 0 rather than firing on a handful of requests.
MIN_PREDICTIONS = 100
PREDICTIONS = "Predictions"
LOW_CONFIDENCE = "LowConfidencePredictions"
# The per-version sums' dimension, named as Lambda names its own (AWS/Lambda ExecutedVersion).
VERSION_DIMENSION = "ExecutedVersion"
# The new version's alarm is a one-sided score test of "its share is at most the threshold",
# one per minute: it fires when the Wilson lower bound of the minute's share passes the
# threshold, which is the same decision. z = 3.09 is alpha = 0.001 a minute. The test's normal
# approximation is kept to minutes with at least NEW_VERSION_SUCCESSES predictions expected on
# each side of the threshold (n·t and n·(1 - t), `new_version_min_predictions`); the exact
# binomial chance that a version whose true share sits exactly at the threshold fires in a given
# minute is then at most 0.4 % for any threshold, 0.13 % at the default 50 % (computed in
# tests/infra/test_infra_confidence_alarm.py), and for a version well below it, nil.
NEW_VERSION_Z = 3.09
NEW_VERSION_SUCCESSES = 10


class LowConfidenceShare(Construct):
    """Metric filters on `log_group` and an alarm when more than `threshold_percent` of a
    period's predictions (at least MIN_PREDICTIONS of them) scored below the floor."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_group: logs.ILogGroup,
        threshold_percent: float,
        floor: float,
        period: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group
        self.threshold_percent = threshold_percent
        self.floor = floor
        # One namespace per stack: a dev and a prod stack in one account do not mix their counts.
        self.namespace = f"{Stack.of(self).stack_name}/Serving"
        total = self._sum("PredictionsFilter", PREDICTIONS, PREDICTIONS_FIELD).metric(
            statistic="Sum", period=period
        )
        low = self._sum("LowConfidenceFilter", LOW_CONFIDENCE, LOW_CONFIDENCE_FIELD).metric(
            statistic="Sum", period=period
        )
        share = cloudwatch.MathExpression(
            # FILL: a period with predictions but no low_confidence line still divides as 0.
            expression=f"IF(total >= {MIN_PREDICTIONS}, FILL(low, 0) / total, 0)",
            using_metrics={"total": total, "low": low},
            label="Share of predictions below the confidence floor",
            period=period,
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_description=f"More than {threshold_percent}% of predictions scored below the "
            f"confidence floor ({floor}) in {period.to_minutes():g} minutes (at least {MIN_PREDICTIONS} predictions)",
            metric=share,
            threshold=threshold_percent / 100,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no traffic
        )

    def new_version_alarm(
        self, scope: Construct, construct_id: str, *, version: str, period: Duration
    ) -> cloudwatch.Alarm:
        """An alarm on `version`'s own predictions (a canary's new version): the Wilson lower
        bound (z = NEW_VERSION_Z) of its share below the floor in each `period` above the
        threshold. Minutes without its predictions are missing, not breaching."""
        by_version = {VERSION_DIMENSION: f"$.{VERSION_FIELD}"}
        total, low = (
            self._sum(filter_id, name, field, dimensions=by_version).metric(
                statistic="Sum", period=period, dimensions_map={VERSION_DIMENSION: version}
            )
            for filter_id, name, field in (
                ("PredictionsByVersionFilter", PREDICTIONS, PREDICTIONS_FIELD),
                ("LowConfidenceByVersionFilter", LOW_CONFIDENCE, LOW_CONFIDENCE_FIELD),
            )
        )
        share = cloudwatch.MathExpression(
            # A minute without the version's predictions divides by zero: CloudWatch drops it.
            expression="FILL(low, 0) / total",
            using_metrics={"total": total, "low": low},
            period=period,
        )
        bound = cloudwatch.MathExpression(
            expression=wilson_lower_bound("share", "total", NEW_VERSION_Z),
            using_metrics={"share": share, "total": total},
            period=period,
        )
        least = new_version_min_predictions(self.threshold_percent / 100)
        return cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_description=f"The version being deployed scored more than "
            f"{self.threshold_percent:g}% of its own predictions below the confidence floor "
            f"({self.floor:g}) in a minute with at least {least} of them (one-sided score test, "
            f"z = {NEW_VERSION_Z}): roll it back",
            metric=cloudwatch.MathExpression(
                # IF without a false value drops the minutes with too few predictions: missing.
                expression=f"IF(total >= {least}, bound)",
                using_metrics={"total": total, "bound": bound},
                label="Lower confidence bound of the new version's share below the floor",
                period=period,
            ),
            threshold=self.threshold_percent / 100,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _sum(
        self,
        construct_id: str,
        metric_name: str,
        field: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> logs.MetricFilter:
        """A filter summing the request log's numeric `field` (null on routes that predict
        nothing, which the pattern's comparison leaves out)."""
        return logs.MetricFilter(
            self,
            construct_id,
            log_group=self.log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.logger", "=", REQUEST_LOGGER),
                logs.FilterPattern.number_value(f"$.{field}", ">=", 0),
            ),
            metric_namespace=self.namespace,
            metric_name=metric_name,
            metric_value=f"$.{field}",
            dimensions=dict(dimensions) if dimensions else None,
            unit=cloudwatch.Unit.COUNT,
        )


def new_version_min_predictions(threshold: float) -> int:
    """The fewest predictions in a minute for which the new version's test is read: enough that
    NEW_VERSION_SUCCESSES are expected both below and above the floor at the threshold share."""
    return math.ceil(NEW_VERSION_SUCCESSES / min(threshold, 1 - threshold) - 1e-9)


def wilson_lower_bound(share: str, n: str, z: float) -> str:
    """The metric-math expression of the Wilson score interval's lower bound of a proportion
    `share` observed over `n` trials (ids of time series): (p + z²/2n - z·sqrt(p(1-p)/n +
    z²/4n²)) / (1 + z²/n). Fully parenthesized, and sqrt written as ^0.5, which metric math has
    among its arithmetic operators."""
    z2 = z * z
    return (
        f"(({share}) + {z2 / 2:.6g} / ({n}) - {z:g} * ((({share}) * (1 - ({share})) / ({n})"
        f" + {z2 / 4:.6g} / (({n}) * ({n}))) ^ 0.5)) / (1 + {z2:.6g} / ({n}))"
    )
