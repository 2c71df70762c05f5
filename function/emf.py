"""CloudWatch's embedded metric format (EMF): members of a JSON log line that Lambda's log
pipeline turns into metrics, at no API call and no latency on the request. The `_aws` member
names the namespace, the dimensions (root members holding strings) and the metrics (root members
holding numbers); the line stays an ordinary log line too."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def emf_fields(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    units: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The EMF members for `values` (unit "Count" unless `units` says), one dimension set."""
    units = units or {}
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": n, "Unit": units.get(n, "Count")} for n in values],
                }
            ],
        },
        **dimensions,
        **values,
    }
