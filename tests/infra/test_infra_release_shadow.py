"""The shadow verbs through the release CLI against moto's server on loopback: `shadow` names a
verified run in cdk.json (and takes it away), `compare` reads the receiver's comparison from
CloudWatch, and `promote` refuses a candidate whose agreement is below shadowMinAgreement unless
--force. The comparisons are the receiver's own log lines (function/shadow/comparison.py, in
embedded metric format) written to CloudWatch as CloudWatch reads them."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cloudwatch_emf import put_lines
from bench.monitoring_bundles import copy_bundle
from contract.storage import publish_bundle
from function.emf import emf_fields
from function.shadow.comparison import CANDIDATE_DIMENSION, LiveAnswer, compare
from infra.release import main
from tests.infra.conftest import CDK_JSON
from tests.infra.test_infra_release_cli import context_of

NAMESPACE = "SentimentApi/Monitoring"


@pytest.fixture
def cdk_json(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(CDK_JSON.read_text())
    return path


@pytest.fixture
def candidate(s3: tuple[Any, str], tiny_bundle: Path, tmp_path: Path) -> tuple[str, str]:
    """A published run of its own (moto keeps metrics for the whole session): (bucket, run)."""
    client, bucket = s3
    run = f"run-{uuid.uuid4().hex[:8]}"
    copy_bundle(tiny_bundle, tmp_path / run, run)
    publish_bundle(tmp_path / run, f"s3://{bucket}/models", run, update_latest=False,
                   client=client)  # fmt: skip
    return bucket, run


def shadowed(run: str, predictions: int, agreeing: int) -> None:
    """Receiver log lines for `predictions` copied one per request, `agreeing` of them agreeing."""
    import boto3

    lines = []
    for i in range(predictions):
        live = LiveAnswer(run="live-run", predicted=[1], confidence=[0.9], latency_ms=20.0)
        probs = np.array([[0.2, 0.8]] if i < agreeing else [[0.7, 0.3]])
        values = compare(live, probs, tokens=[200], latency_ms=25.0)
        units = {n: "Milliseconds" for n in values if n.endswith("_ms")}
        lines.append(emf_fields(NAMESPACE, {CANDIDATE_DIMENSION: run}, values, units))
    put_lines(boto3.client("cloudwatch"), lines)


def test_shadow_names_a_verified_run_and_stop_takes_it_away(
    candidate: tuple[str, str],
    cdk_json: Path,
) -> None:
    bucket, run = candidate
    args = ["--cdk-json", str(cdk_json)]
    assert main([*args, "shadow", run, "--bucket", bucket, "--sample", "0.25"]) == 0
    assert context_of(cdk_json)["shadowRun"] == run
    assert context_of(cdk_json)["shadowSample"] == 0.25
    assert main([*args, "shadow", "--stop"]) == 0
    assert "shadowRun" not in context_of(cdk_json)


def test_shadow_refuses_what_it_cannot_shadow(
    candidate: tuple[str, str],
    cdk_json: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket, run = candidate
    args = ["--cdk-json", str(cdk_json)]
    before = cdk_json.read_text()
    assert main([*args, "shadow", "run-nope", "--bucket", bucket]) == 2
    assert "run run-nope refused" in caplog.text
    assert main([*args, "shadow", run, "--bucket", bucket, "--sample", "2"]) == 2
    assert "'shadowSample' is 2.0" in caplog.text
    assert main([*args, "shadow"]) == 2 and "name the run to shadow, or --stop" in caplog.text
    document = json.loads(before)
    document["context"]["modelUri"] = f"models/{run}"
    cdk_json.write_text(json.dumps(document))
    assert main([*args, "shadow", run, "--bucket", bucket]) == 2
    assert "is the one modelUri serves" in caplog.text
    assert "shadowRun" not in context_of(cdk_json)


def test_compare_prints_what_the_candidate_did(
    candidate: tuple[str, str],
    cdk_json: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, run = candidate
    shadowed(run, predictions=200, agreeing=190)
    assert main(["--cdk-json", str(cdk_json), "compare", run, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["candidate"] == run and report["requests"] == report["compared"] == 200
    assert report["agreement"] == pytest.approx(0.95)
    assert report["flips_by_tokens"] == {
        "[128, 256)": {"compared": 200, "flips": 10, "flip_rate": pytest.approx(0.05)}
    }
    assert report["confidence_shift"] == pytest.approx((190 * -0.1 + 10 * -0.2) / 200)
    assert report["live_ms_mean"] == pytest.approx(20) and report["candidate_ms_mean"] == 25


@pytest.mark.parametrize(
    ("predictions", "agreeing", "code", "says"),
    [
        (200, 160, 2, "agreed with the live answers on 80.0% of 200 shadowed predictions, below "
                      "shadowMinAgreement 90%"),
        (200, 199, 0, "agreed with the live answers on 99.5% of 200"),
        (50, 10, 0, "50 shadowed predictions in the last 168 h (a verdict needs 100): not judged"),
    ],
)  # fmt: skip
def test_promote_refuses_a_candidate_that_disagrees_unless_forced(
    candidate: tuple[str, str],
    cdk_json: Path,
    caplog: pytest.LogCaptureFixture,
    predictions: int,
    agreeing: int,
    code: int,
    says: str,
) -> None:
    bucket, run = candidate
    shadowed(run, predictions, agreeing)
    caplog.set_level(logging.INFO, logger="release")  # the verdict of an allowed run is INFO
    before = cdk_json.read_text()
    args = ["--cdk-json", str(cdk_json), "promote", run, "--bucket", bucket]
    assert main(args) == code
    assert says in caplog.text
    if code == 2:
        assert cdk_json.read_text() == before  # nothing pinned
        assert main([*args, "--force"]) == 0
        assert "promoting anyway (--force)" in caplog.text
    assert context_of(cdk_json)["modelUri"] == f"models/{run}"
