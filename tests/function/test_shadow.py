"""Shadowing, both ends in-process: the live side's copy (sampling, the payload without text in
its live answer, the size limit, a failed send that costs the request nothing) and the receiver's
handler (the comparison it logs in embedded metric format, never the text; the copies it refuses
and why). The transport itself, boto3's Invoke to the receiver under the Lambda runtime emulator
and the extension that sends it, runs in tests/test_monitoring_proof.py."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from contract.bundle import read_manifest
from function import loader
from function.config import Settings, get_settings
from function.loader import Predictor
from function.logs import JsonFormatter
from function.main import create_app
from function.shadow.forward import MAX_COPY_BYTES, Forwarder
from tests.conftest import free_port
from tests.function.conftest import serve
from tests.function.test_confidence_log import TEXTS

NAMESPACE = "SentimentTest/Monitoring"


@pytest.fixture(scope="module")
def predictor(tiny_bundle: Path) -> Predictor:
    return Predictor(tiny_bundle, read_manifest(tiny_bundle), threads=1)


@pytest.fixture(scope="module")
def receiver(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """function.shadow.handler as Lambda imports it, serving the tiny bundle as the candidate."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_URI", str(tiny_bundle))
        mp.setenv("MODEL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("MONITORING_NAMESPACE", NAMESPACE)
        mp.setenv("MAX_TEXTS", "8")
        get_settings.cache_clear()
        sys.modules.pop("function.shadow.handler", None)
        yield importlib.import_module("function.shadow.handler")
        get_settings.cache_clear()


def a_copy(predictor: Predictor, texts: list[str]) -> dict:
    forwarder = Forwarder("receiver", sample=1.0)
    assert forwarder.offer(predictor, texts, predictor.run(texts))
    return json.loads(forwarder._queue.get_nowait())


def test_the_copy_carries_the_texts_and_a_live_answer_without_them(predictor: Predictor) -> None:
    copy = a_copy(predictor, TEXTS[:3])
    assert copy["texts"] == TEXTS[:3] and copy["strategy"] == predictor.classifier.strategy
    live = copy["live"]
    assert live["run"] == predictor.version and len(live["predicted"]) == 3
    assert all(text not in json.dumps(live) for text in TEXTS)
    assert (
        Forwarder("receiver", sample=0.0).offer(predictor, TEXTS[:1], predictor.run(TEXTS[:1]))
        is False
    )


def test_an_explained_request_is_copied_as_a_plain_one(tiny_bundle: Path, tmp_path: Path) -> None:
    """The copy of an explained request carries no evidence, and its live latency is the
    classification's alone: the candidate runs plain, so that is what it is compared with."""
    app = create_app(Settings(model_uri=str(tiny_bundle), model_cache_dir=tmp_path))
    app.state.shadow = forwarder = Forwarder("receiver", sample=1.0)  # queued, never sent
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        copies = []
        for explain in (False, True):
            r = http.post("/predict", json={"text": TEXTS[:3], "explain": explain})
            assert r.status_code == 200, r.text
            copies.append((json.loads(forwarder._queue.get_nowait()), r.headers))
    (plain, _), (explained, headers) = copies
    assert "evidence" in r.json()["predictions"][0] and "evidence" not in json.dumps(explained)
    assert set(explained) == set(plain) and set(explained["live"]) == set(plain["live"])
    assert explained["live"]["predicted"] == plain["live"]["predicted"]
    classified = float(headers["x-tokenization-time-ms"]) + float(headers["x-inference-time-ms"])
    assert explained["live"]["latency_ms"] == pytest.approx(
        classified, abs=0.02
    )  # each rounded to 0.01
    assert float(headers["x-explain-time-ms"]) > 0


def test_a_copy_too_large_is_dropped_and_a_failed_send_costs_nothing(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = Forwarder("receiver", sample=1.0)
    long = ["word " * (MAX_COPY_BYTES // 5)]
    assert forwarder.offer(predictor, long, predictor.run(long)) is False
    assert forwarder.dropped == 1
    # Nothing listens there: boto3's own connection error, counted and logged, never raised.
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert forwarder.offer(predictor, TEXTS[:1], predictor.run(TEXTS[:1]))
    with caplog.at_level(logging.WARNING, logger="function.shadow.forward"):
        forwarder.drain()
    assert (forwarder.sent, forwarder.failed) == (0, 1)
    assert "shadow copy not sent" in caplog.text
    assert forwarder.wait_idle(1)


def test_the_receiver_logs_the_comparison_and_no_text(
    receiver: ModuleType, predictor: Predictor
) -> None:
    lines: list[dict] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(json.loads(JsonFormatter().format(record)))  # type: ignore[method-assign]
    logging.getLogger("function.shadow").addHandler(handler)
    try:
        result = receiver.handler(a_copy(predictor, TEXTS[:4]), None)
    finally:
        logging.getLogger("function.shadow").removeHandler(handler)
    assert result["candidate"] == result["live"] == predictor.version
    assert result["shadow_compared"] == result["shadow_agreed"] == 4  # the same model
    assert result["shadow_confidence_shift"] == pytest.approx(0, abs=1e-6)
    (line,) = lines
    assert line["message"] == "shadow comparison" and line["candidate"] == predictor.version
    (block,) = line["_aws"]["CloudWatchMetrics"]
    assert block["Namespace"] == NAMESPACE and block["Dimensions"] == [["candidate"]]
    assert {m["Name"] for m in block["Metrics"]} <= set(line)
    assert all(text not in json.dumps(line) for text in TEXTS)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: "not a copy", "the event must be a JSON object"),
        (lambda c: {**c, "texts": []}, "texts must be a non-empty list of strings"),
        (lambda c: {**c, "texts": ["a"] * 9}, "9 texts; the limit is 8 (MAX_TEXTS)"),
        (lambda c: {**c, "strategy": "middle"}, "strategy must be one of"),
        (lambda c: {**c, "live": {"run": "r"}}, "live must hold run, predicted, confidence"),
        (lambda c: {**c, "live": {**c["live"], "predicted": [1]}}, "one entry per text"),
    ],
)
def test_the_receiver_refuses_a_malformed_copy_with_the_reason(
    receiver: ModuleType, predictor: Predictor, change: object, says: str
) -> None:
    result = receiver.handler(change(a_copy(predictor, TEXTS[:2])), None)  # type: ignore[operator]
    assert says in result["error"]


def test_a_receiver_started_without_its_candidate_loads_it_once_due(
    tiny_bundle: Path,
    predictor: Predictor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receiver whose candidate could not be read at init (S3 failing, say) does not stay
    blind for the environment's life: its next copy after the retry is due loads it."""
    later = tmp_path / "candidate"
    monkeypatch.setenv("MODEL_URI", str(later))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    sys.modules.pop("function.shadow.handler", None)
    try:
        receiver = importlib.import_module("function.shadow.handler")
        copy = a_copy(predictor, TEXTS[:2])
        assert "no verified candidate model is loaded" in receiver.handler(copy, None)["error"]
        shutil.copytree(tiny_bundle, later, copy_function=os.link)  # hard links: no copy
        assert "no verified candidate model" in receiver.handler(copy, None)["error"]  # not due
        monkeypatch.setattr(loader, "RETRY_FIRST_S", 0.0)
        result = receiver.handler(copy, None)
        assert result["candidate"] == predictor.version and result["shadow_compared"] == 2
    finally:
        sys.modules.pop("function.shadow.handler", None)
        get_settings.cache_clear()
