"""The drift check's handler (function/drift/handler.py) with scheduled events, against moto's
CloudWatch on loopback: the live counts are the function's own embedded-metric lines as
CloudWatch reads them; the check publishes PSI per dimension, or says why it cannot."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.cloudwatch_emf import put_lines
from bench.monitoring_bundles import copy_bundle
from contract.bundle import read_manifest, write_manifest
from contract.profile import PROFILE_FILE, RUN_DIMENSION, metric_name, read_profile
from function.config import get_settings
from function.drift import handler as drift
from function.emf import emf_fields


@pytest.fixture
def run_check(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., dict[str, Any]]]:
    """check(bundle, **env) -> the handler's result for a scheduled event now, its settings
    from the environment as Lambda gives them."""
    namespace = f"Test{uuid.uuid4().hex[:8]}/Monitoring"

    def check(bundle: Path, **env: str) -> dict[str, Any]:
        values = {"MODEL_URI": str(bundle), "MONITORING_NAMESPACE": namespace,
                  "MODEL_CACHE_DIR": str(tmp_path / "cache"), **env}  # fmt: skip
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        for cached in (get_settings, drift._settings, drift._cloudwatch):
            cached.cache_clear()
        when = datetime.now(UTC) + drift.INGESTION_LAG + timedelta(minutes=1)  # holds "now"
        return drift.handler({"detail-type": "Scheduled Event", "time": when.isoformat()})

    check.namespace = namespace  # type: ignore[attr-defined]
    yield check
    for cached in (get_settings, drift._settings, drift._cloudwatch):
        cached.cache_clear()


@pytest.fixture
def bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    """The tiny bundle under a run id of its own (moto keeps metrics for the whole session)."""
    return copy_bundle(tiny_bundle, tmp_path / "run", f"run-{uuid.uuid4().hex[:8]}")


def live_traffic(namespace: str, run: str, counts: dict[str, list[int]], requests: int) -> None:
    """`requests` request-log lines whose bucket counts add up to `counts`, as the function
    writes them (one EMF line per request), into CloudWatch."""
    import boto3

    lines = []
    for i in range(requests):
        share = {metric_name(dim, b): c // requests + (i < c % requests)
                 for dim, row in counts.items() for b, c in enumerate(row)}  # fmt: skip
        lines.append(emf_fields(namespace, {RUN_DIMENSION: run},
                                {k: v for k, v in share.items() if v}))  # fmt: skip
    put_lines(boto3.client("cloudwatch"), lines)


def published(namespace: str, name: str, **dims: str) -> list[float]:
    import boto3

    now = datetime.now(UTC)
    result = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {
            "Namespace": namespace, "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
            "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1),
    )  # fmt: skip
    return result["MetricDataResults"][0]["Values"]


def test_traffic_like_the_reference_stays_near_zero_and_a_shift_crosses(
    run_check: Callable[..., dict[str, Any]], bundle: Path, tmp_path: Path, tiny_bundle: Path
) -> None:
    profile = read_profile(bundle)
    assert profile is not None
    namespace, run = run_check.namespace, read_manifest(bundle).run_id  # type: ignore[attr-defined]
    live_traffic(
        namespace, run, {d: [c * 12 for c in row] for d, row in profile.counts.items()}, 24
    )
    result = run_check(bundle, DRIFT_MIN_PREDICTIONS="500")
    assert result["status"] == "checked" and result["predictions"] == profile.count * 12
    assert max(result["psi"].values()) == pytest.approx(0, abs=1e-9)
    assert published(namespace, "DriftMaxPSI") == [pytest.approx(0, abs=1e-9)]
    assert published(namespace, "DriftWindowPredictions") == [profile.count * 12]

    shifted = copy_bundle(tiny_bundle, tmp_path / "shifted", f"{run}-b")
    short = {d: [0] * len(row) for d, row in profile.counts.items()}
    short["tokens"][1], short["truncated"][0] = 600, 600  # every text 16-31 tokens, read whole
    short["confidence"][0], short["predicted"][0], short["unknown"][0] = 600, 600, 600
    short["windows"][0] = 600
    live_traffic(namespace, f"{run}-b", short, 30)
    result = run_check(shifted, DRIFT_MIN_PREDICTIONS="500")
    assert result["status"] == "checked" and result["largest"]["psi"] > 1
    for dim in ("tokens", "truncated"):
        assert published(namespace, "DriftPSI", dimension=dim) == [
            pytest.approx(result["psi"][dim])
        ]


def test_a_quiet_window_says_not_enough_traffic(
    run_check: Callable[..., dict[str, Any]], bundle: Path
) -> None:
    profile = read_profile(bundle)
    assert profile is not None
    namespace, run = run_check.namespace, read_manifest(bundle).run_id  # type: ignore[attr-defined]
    live_traffic(namespace, run, profile.counts, 4)
    result = run_check(bundle, DRIFT_MIN_PREDICTIONS="500")
    assert result["status"] == "not enough traffic" and "psi" not in result
    assert result["reason"] == (f"{profile.count} predictions in the window; the check needs "
                                "500 (DRIFT_MIN_PREDICTIONS)")  # fmt: skip
    assert published(namespace, "DriftMaxPSI") == []  # the alarm sees missing data: fine
    assert published(namespace, "DriftWindowPredictions") == [profile.count]


def test_a_bundle_without_a_reference_says_so(
    run_check: Callable[..., dict[str, Any]], bundle: Path
) -> None:
    (bundle / PROFILE_FILE).unlink()
    write_manifest(bundle, read_manifest(bundle))  # a bundle from before profiles
    result = run_check(bundle)
    assert result["status"] == "no reference" and "trained before them" in result["reason"]


def test_a_misconfigured_check_fails_with_what_to_fix(
    run_check: Callable[..., dict[str, Any]], bundle: Path, tmp_path: Path
) -> None:
    with pytest.raises(drift.DriftCheckError, match="MONITORING_NAMESPACE and MODEL_URI"):
        run_check(bundle, MONITORING_NAMESPACE="")
    with pytest.raises(drift.DriftCheckError, match="DRIFT_WINDOW_MINUTES"):
        run_check(bundle, DRIFT_WINDOW_MINUTES="2")
    with pytest.raises(drift.DriftCheckError, match="cannot read the served run's reference"):
        run_check(tmp_path / "nowhere", DRIFT_WINDOW_MINUTES="60")
