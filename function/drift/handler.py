"""The scheduled drift check: `function.drift.handler.handler`, the serving image with another
CMD, run by an EventBridge schedule every DRIFT_WINDOW_MINUTES.

It reads the reference profile of the run MODEL_URI serves (fetched and verified like the API's
bundle), sums the live window's counts per bucket from CloudWatch (the function's embedded
metrics, dimension = that run), and publishes the population stability index per dimension
(contract/profile.py) into MONITORING_NAMESPACE: `DriftPSI` by `dimension`, `DriftMaxPSI` (what
the drift alarm watches) and `DriftWindowPredictions`. A window with fewer than
DRIFT_MIN_PREDICTIONS predictions, or a run whose bundle has no reference profile, publishes no
PSI (the alarm treats missing data as fine) and says why in its log line and result.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from contract.bundle import BundleError, read_manifest
from contract.profile import (
    RUN_DIMENSION,
    ProfileError,
    dimensions,
    largest,
    metric_name,
    read_profile,
)
from contract.storage import StorageError, fetch_bundle
from function.config import Settings, load_settings
from function.drift.metrics import DIMENSION_KEY, MAX_PSI_METRIC, PREDICTIONS_METRIC, PSI_METRIC
from function.logs import configure_logging
from function.metric_window import minute_floor, window_sums

log = logging.getLogger("function.drift")
# Embedded metrics become readable a minute or two after their log line: a window ends this long
# before the check runs, so it is complete when read and windows still tile.
INGESTION_LAG = timedelta(minutes=5)


class DriftCheckError(Exception):
    """The check cannot run as configured; the message says what to fix."""


@lru_cache(maxsize=1)
def _settings() -> Settings:
    settings, refused = load_settings()
    configure_logging(settings.log_level)
    if refused:
        raise DriftCheckError(refused)
    if not settings.monitoring_namespace or not settings.model_uri:
        raise DriftCheckError("MONITORING_NAMESPACE and MODEL_URI must be set on the drift check")
    return settings


@lru_cache(maxsize=1)
def _cloudwatch() -> Any:
    import boto3

    return boto3.client("cloudwatch")


def check(settings: Settings, client: Any, now: datetime) -> dict[str, Any]:
    """The window ending INGESTION_LAG before `now`; returns what it found (and published)."""
    end = minute_floor(now) - INGESTION_LAG
    try:
        bundle = fetch_bundle(settings.model_uri, settings.model_cache_dir, serving_only=True)
        manifest = read_manifest(bundle)
        profile = read_profile(bundle)
    except (BundleError, StorageError, ProfileError) as exc:
        raise DriftCheckError(f"cannot read the served run's reference: {exc}") from exc
    run = manifest.run_id
    result: dict[str, Any] = {"run": run, "window_minutes": settings.drift_window_minutes,
                              "window_end": end.isoformat()}  # fmt: skip
    if profile is None:
        return {**result, "status": "no reference",
                "reason": f"run {run}'s bundle has no reference profile (trained before them)"}  # fmt: skip
    dims = dimensions(len(profile.labels))
    queries = [(metric_name(d.name, b), "Sum") for d in dims for b in range(d.size)]
    sums = window_sums(client, settings.monitoring_namespace, {RUN_DIMENSION: run}, queries,
                       end, settings.drift_window_minutes)  # fmt: skip
    live = {d.name: [sums[(metric_name(d.name, b), "Sum")] for b in range(d.size)] for d in dims}
    predictions = int(sum(live["predicted"]))
    result["predictions"] = predictions
    metrics = [_datum(PREDICTIONS_METRIC, predictions, "Count", end)]
    if predictions < settings.drift_min_predictions:
        _publish(client, settings.monitoring_namespace, metrics)
        return {**result, "status": "not enough traffic",
                "reason": f"{predictions} predictions in the window; the check needs "
                f"{settings.drift_min_predictions} (DRIFT_MIN_PREDICTIONS)"}  # fmt: skip
    scores = profile.drift(live)
    for name, value in scores.items():
        if value is not None:
            metrics.append(_datum(PSI_METRIC, value, "None", end, {DIMENSION_KEY: name}))
    top = largest(scores)
    if top is not None:
        metrics.append(_datum(MAX_PSI_METRIC, top[1], "None", end))
    _publish(client, settings.monitoring_namespace, metrics)
    return {**result, "status": "checked", "psi": scores,
            "largest": {"dimension": top[0], "psi": top[1]} if top else None}  # fmt: skip


def _datum(name: str, value: float, unit: str, end: datetime,
           dims: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": minute_floor(end),
            "Dimensions": [{"Name": k, "Value": v} for k, v in (dims or {}).items()]}  # fmt: skip


def _publish(client: Any, namespace: str, metrics: list[dict[str, Any]]) -> None:
    client.put_metric_data(Namespace=namespace, MetricData=metrics)


def _event_time(event: Any) -> datetime:
    """A scheduled event's `time` (so a retried event checks the same window), else now."""
    raw = event.get("time") if isinstance(event, dict) else None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else datetime.now(UTC)
    except ValueError:
        return datetime.now(UTC)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    try:
        result = check(_settings(), _cloudwatch(), _event_time(event))
    except DriftCheckError as exc:
        log.error("drift check failed", extra={"reason": str(exc)})
        raise
    log.info("drift check", extra=result)
    return result
