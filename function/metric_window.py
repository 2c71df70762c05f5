"""Sums of CloudWatch metrics over one window, with GetMetricData: what the drift check reads the
live counts with, and what `python -m infra.release compare` reads a shadow's comparison with.

The window is asked for as one period (its length, whole minutes), aligned to the minute; every
value returned is added, so a window CloudWatch splits in two periods sums the same. A metric
with no data in the window reads 0: a bucket no prediction fell in is never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

QUERIES_PER_CALL = 500  # GetMetricData's limit


def minute_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def window_sums(
    client: Any,
    namespace: str,
    dimensions: Mapping[str, str],
    queries: Sequence[tuple[str, str]],
    end: datetime,
    minutes: int,
) -> dict[tuple[str, str], float]:
    """{(metric, stat): value} for each (metric name, statistic) over the `minutes` before
    `end` (floored to the minute). Statistic: Sum or SampleCount (what adds up over periods)."""
    end = minute_floor(end)
    start = end - timedelta(minutes=minutes)
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]

    def query(qid: str, name: str, stat: str) -> dict[str, Any]:
        metric = {"Namespace": namespace, "MetricName": name, "Dimensions": dims}
        return {"Id": qid, "ReturnData": True,
                "MetricStat": {"Metric": metric, "Period": minutes * 60, "Stat": stat}}  # fmt: skip

    ids = {f"q{i}": q for i, q in enumerate(queries)}
    out = dict.fromkeys(queries, 0.0)
    items = list(ids.items())
    for first in range(0, len(items), QUERIES_PER_CALL):
        batch = [query(qid, *q) for qid, q in items[first : first + QUERIES_PER_CALL]]
        paging: dict[str, str] = {}
        while True:
            page = client.get_metric_data(MetricDataQueries=batch, StartTime=start,
                                          EndTime=end, **paging)  # fmt: skip
            for result in page["MetricDataResults"]:
                out[ids[result["Id"]]] += float(sum(result.get("Values", [])))
            if not page.get("NextToken"):
                break
            paging = {"NextToken": page["NextToken"]}
    return out
