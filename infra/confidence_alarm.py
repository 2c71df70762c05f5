"""The share of predictions below the function's confidence floor, from its request log, and an
alarm on it: a model that suddenly hedges on most reviews is a bad release even when every
request answers 200 quickly.

The function writes one JSON line per request with the predictions it answered and how many of
them scored below CONFIDENCE_FLOOR (function/logs.py names the logger and the fields). Two metric
filters sum them; the alarm divides one by the other.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from function.logs import LOW_CONFIDENCE_FIELD, PREDICTIONS_FIELD, REQUEST_LOGGER

# Below this many predictions in a period the share is noise (three uncertain reviews out of
# four), so the alarm sees 0 rather than firing on a handful of requests.
MIN_PREDICTIONS = 100
PREDICTIONS = "Predictions"
LOW_CONFIDENCE = "LowConfidencePredictions"


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
        self.period = period
        # One namespace per stack: a dev and a prod stack in one account do not mix their counts.
        self.namespace = f"{Stack.of(self).stack_name}/Serving"
        total = self._sum(log_group, "PredictionsFilter", PREDICTIONS, PREDICTIONS_FIELD)
        low = self._sum(log_group, "LowConfidenceFilter", LOW_CONFIDENCE, LOW_CONFIDENCE_FIELD)
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

    def _sum(
        self, log_group: logs.ILogGroup, construct_id: str, metric_name: str, field: str
    ) -> cloudwatch.Metric:
        """The per-period sum of the request log's numeric `field` (null on routes that
        predict nothing, which the pattern's comparison leaves out)."""
        metric_filter = logs.MetricFilter(
            self,
            construct_id,
            log_group=log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.logger", "=", REQUEST_LOGGER),
                logs.FilterPattern.number_value(f"$.{field}", ">=", 0),
            ),
            metric_namespace=self.namespace,
            metric_name=metric_name,
            metric_value=f"$.{field}",
            unit=cloudwatch.Unit.COUNT,
        )
        return metric_filter.metric(statistic="Sum", period=self.period)
