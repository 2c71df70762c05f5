"""One CloudWatch dashboard for the service: traffic, errors, latency, confidence, drift, the
canary, the shadow and labelled files' accuracy, read top to bottom on one screen.

Metrics named per run (the function's bucket counts carry the run id; CodeDeploy's versions have
numbers only known at deploy) are drawn with SEARCH expressions, so the graphs follow whatever
run or version answers without a redeploy of the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contract.profile import CONFIDENCE, RUN_DIMENSION, dimensions, metric_name
from function.batch.layout import ACCURACY, EXPECTED, LABELLED_ROWS
from function.shadow.comparison import AGREED, CANDIDATE_DIMENSION, COMPARED
from infra.alarms import PERIOD, api_metric
from infra.confidence_alarm import LOW_CONFIDENCE, PREDICTIONS, VERSION_DIMENSION
from infra.drift_check import DriftCheck

WIDTH = 8  # three graphs a row (the grid is 24 wide)


class ServiceDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        function: lambda_.IFunction,
        alias_name: str | None,
        drift: DriftCheck,
        drift_threshold: float,
        alarms: Sequence[cloudwatch.IAlarm],
        namespace: str,
        shadow_run: str | None,
        dashboard_name: str,
        labelled: bool = False,
        serving_namespace: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        def api(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return api_metric(stage, name, statistic).with_(label=label)

        def search(query: str, statistic: str, label: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{query}', '{statistic}', {int(PERIOD.to_seconds())})",
                label=label,
                period=PERIOD,
            )

        def graph(
            title: str, left: Sequence[cloudwatch.IMetric], **kwargs: object
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title, left=list(left), width=WIDTH, height=6, **kwargs
            )

        fn = function.function_name
        buckets = " OR ".join(
            f'MetricName="{metric_name(CONFIDENCE.name, b)}"' for b in range(CONFIDENCE.size)
        )
        widgets: list[cloudwatch.IWidget] = [
            graph("Traffic: API requests", [api("Count", "Sum", "requests")]),
            graph(
                "Errors",
                [
                    api("5XXError", "Sum", "5xx"),
                    api("4XXError", "Sum", "4xx"),
                    function.metric_errors(period=PERIOD, label="function errors"),
                    function.metric_throttles(period=PERIOD, label="throttles"),
                ],
            ),
            graph(
                "Latency (ms)",
                [
                    api("Latency", "p50", "API p50"),
                    api("Latency", "p99", "API p99"),
                    function.metric_duration(period=PERIOD, statistic="p50", label="function p50"),
                ],
            ),
            graph(
                "Confidence: predictions per top-score bucket (0 = below 0.6)",
                [search(f"{{{namespace},{RUN_DIMENSION}}} ({buckets})", "Sum", "")],
                stacked=True,
            ),
            graph(
                "Drift: PSI per dimension (window vs the run's reference)",
                [drift.psi(d.name) for d in dimensions(2)],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=drift_threshold, label="alarm threshold")
                ],
                right=[drift.predictions()],
            ),
        ]
        if alias_name is not None:
            widgets.append(
                graph(
                    "Canary: invocations by the version that answered",
                    [
                        search(
                            f"{{AWS/Lambda,ExecutedVersion,FunctionName,Resource}} "
                            f'FunctionName="{fn}" MetricName="Invocations"',
                            "Sum",
                            "",
                        )
                    ],
                )
            )
            if serving_namespace is not None:
                # The request log's sums per version (infra/confidence_alarm.py): the new
                # version's hedging beside the old one's, as its own canary alarm reads it.
                widgets.append(
                    graph(
                        "Canary: predictions below the confidence floor, by version",
                        [
                            search(
                                f"{{{serving_namespace},{VERSION_DIMENSION}}} "
                                f'MetricName="{LOW_CONFIDENCE}"',
                                "Sum",
                                "below the floor",
                            )
                        ],
                        right=[
                            search(
                                f"{{{serving_namespace},{VERSION_DIMENSION}}} "
                                f'MetricName="{PREDICTIONS}"',
                                "Sum",
                                "predictions",
                            )
                        ],
                    )
                )
        if shadow_run is not None:
            compared, agreed = (
                cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=name,
                    statistic="Sum",
                    dimensions_map={CANDIDATE_DIMENSION: shadow_run},
                    period=PERIOD,
                )
                for name in (COMPARED, AGREED)
            )
            widgets.append(
                graph(
                    f"Shadow: agreement of run {shadow_run} with the live answers",
                    [
                        cloudwatch.MathExpression(
                            expression="agreed / compared",
                            period=PERIOD,
                            using_metrics={"agreed": agreed, "compared": compared},
                            label="agreement",
                        )
                    ],
                    right=[compared.with_(label="predictions compared")],
                )
            )
        if labelled:
            per_run = f"{{{namespace},{RUN_DIMENSION}}}"
            widgets.append(
                graph(
                    "Labelled files (bulk scoring): accuracy and what the held-out split "
                    "predicts at their label mix",
                    [
                        search(f'{per_run} MetricName="{ACCURACY}"', "Average", ""),
                        search(f'{per_run} MetricName="{EXPECTED}"', "Average", ""),
                    ],
                    right=[search(f'{per_run} MetricName="{LABELLED_ROWS}"', "Sum", "")],
                )
            )
        widgets.append(
            cloudwatch.AlarmStatusWidget(
                title="Alarms (the canary's included)", alarms=list(alarms), width=24, height=4
            )
        )
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=Duration.hours(6)
        )
        for first in range(0, len(widgets), 3):
            self.dashboard.add_widgets(*widgets[first : first + 3])
