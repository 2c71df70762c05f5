"""What CloudWatch does with a Lambda log line in embedded metric format, for loopback runs: each
metric the `_aws` directive names becomes one datum with its dimensions' values read from the
line's root members, at the directive's timestamp, written here with PutMetricData (to moto's
server in the tests and bench/monitoring.py). Lines without a directive are ordinary log lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

PUT_LIMIT = 1000  # metric data per PutMetricData call


def metric_data(line: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, datum) for every metric an EMF log line declares; [] for a plain line."""
    directive = line.get("_aws")
    if not isinstance(directive, dict):
        return []
    when = datetime.fromtimestamp(directive["Timestamp"] / 1000, UTC)
    out = []
    for block in directive["CloudWatchMetrics"]:
        for dimension_set in block["Dimensions"]:
            dims = [{"Name": d, "Value": str(line[d])} for d in dimension_set]
            for metric in block["Metrics"]:
                value = line[metric["Name"]]  # the spec: a declared metric must be present
                datum = {"MetricName": metric["Name"], "Dimensions": dims, "Timestamp": when,
                         "Unit": metric.get("Unit", "None")}  # fmt: skip
                datum |= {"Values": value} if isinstance(value, list) else {"Value": value}
                out.append((block["Namespace"], datum))
    return out


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among a process's output lines (the function's logs)."""
    out = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return out


def put_lines(client: Any, lines: Iterable[dict[str, Any]]) -> int:
    """Writes every metric of `lines` with PutMetricData; returns how many data were written."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        for namespace, datum in metric_data(line):
            by_namespace.setdefault(namespace, []).append(datum)
    written = 0
    for namespace, data in by_namespace.items():
        for first in range(0, len(data), PUT_LIMIT):
            chunk = data[first : first + PUT_LIMIT]
            client.put_metric_data(Namespace=namespace, MetricData=chunk)
            written += len(chunk)
    return written
