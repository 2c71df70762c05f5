"""What a prediction request leaves for monitoring, over real HTTP: its bucket counts in the
request log's embedded metric format (what CloudWatch turns into the drift check's metrics),
never a text; and X-Ray subsegments for tokenize and inference, sent over UDP on loopback."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from bench.cloudwatch_emf import metric_data
from contract.profile import CONFIDENCE, RUN_DIMENSION, TOKENS, WINDOWS, dimensions, metric_name
from function.config import Settings
from function.main import create_app
from tests.function.conftest import serve
from tests.function.test_confidence_log import TEXTS, _request_lines, _wait_for

NAMESPACE = "SentimentTest/Monitoring"


@pytest.fixture(scope="module")
def monitored(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        model_uri=str(tiny_bundle),
        monitoring_namespace=NAMESPACE,
        model_cache_dir=tmp_path_factory.mktemp("cache"),
    )
    with serve(create_app(settings)) as url:
        yield url


def test_a_prediction_request_logs_its_bucket_counts_and_no_text(monitored: str) -> None:
    with httpx.Client(base_url=monitored, timeout=30) as http, _request_lines() as lines:
        response = http.post("/predict", json={"text": TEXTS})
        assert response.status_code == 200, response.text
        assert http.post("/hf", json={"inputs": TEXTS[:2]}).status_code == 200
        assert http.get("/health").status_code == 200
        _wait_for(lines, 3)
    predict, hf, health = lines
    assert "_aws" not in health
    for line, size in ((predict, len(TEXTS)), (hf, 2)):
        assert all(text not in json.dumps(line) for text in TEXTS)
        (block,) = line["_aws"]["CloudWatchMetrics"]
        assert block["Namespace"] == NAMESPACE and block["Dimensions"] == [[RUN_DIMENSION]]
        declared = {m["Name"] for m in block["Metrics"]}
        assert all(isinstance(line[name], int) and line[name] > 0 for name in declared)
        for dim in dimensions(2):  # every prediction lands in exactly one bucket per dimension
            names = [metric_name(dim.name, b) for b in range(dim.size)]
            assert sum(line.get(n, 0) for n in names) == size, dim.name
    # The counts are the response's own predictions, bucketed.
    body = response.json()
    scores = np.array([p["score"] for p in body["predictions"]])
    tokens = np.array([p["num_tokens"] for p in body["predictions"]])
    for dim, values in ((CONFIDENCE, scores), (TOKENS, tokens)):
        expected = dim.histogram(values)
        assert [predict.get(metric_name(dim.name, b), 0) for b in range(dim.size)] == expected
    # As CloudWatch reads the line: one datum per declared metric, dimension = the run.
    data = metric_data(predict)
    assert {ns for ns, _ in data} == {NAMESPACE}
    assert {d["Dimensions"][0]["Value"] for _, d in data} == {body["model_version"]}


def test_a_chunked_read_counts_how_its_windows_disagree(monitored: str) -> None:
    long = " ".join(TEXTS * 6)  # several of the tiny model's 48-token windows
    with httpx.Client(base_url=monitored, timeout=30) as http, _request_lines() as lines:
        body = {"text": [long, TEXTS[0]], "strategy": "chunks"}
        response = http.post("/predict", json=body)
        assert response.status_code == 200, response.text
        _wait_for(lines, 1)
    assert [p["windows"] for p in response.json()["predictions"]][1] == 1
    assert response.json()["predictions"][0]["windows"] > 1
    (line,) = lines
    assert line.get(metric_name(WINDOWS.name, 0)) == 1  # the short text: one window
    assert sum(line.get(metric_name(WINDOWS.name, b), 0) for b in range(1, WINDOWS.size)) == 1


def test_without_a_namespace_no_metrics_are_written(http: httpx.Client) -> None:
    with _request_lines() as lines:
        assert http.post("/predict", json={"text": TEXTS[:1]}).status_code == 200
        _wait_for(lines, 1)
    assert "_aws" not in lines[0]


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket on loopback standing where Lambda's X-Ray daemon listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    yield sock
    sock.close()


def _received(sock: socket.socket) -> list[tuple[bytes, dict]]:
    out = []
    while True:
        try:
            datagram = sock.recv(65536)
        except TimeoutError:
            return out
        header, _, body = datagram.partition(b"\n")
        out.append((header, json.loads(body)))


def test_tokenize_and_inference_go_to_xray_as_subsegments(
    daemon: socket.socket, tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = daemon.getsockname()
    settings = Settings(
        model_uri=str(tiny_bundle),
        model_cache_dir=tmp_path,
        aws_xray_daemon_address=f"{host}:{port}",
    )
    root, parent = "1-67891233-abcdef012345678912345678", "53995c3f42cd8ad8"
    with TestClient(create_app(settings)) as client:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent={parent};Sampled=1")
        before = time.time()
        assert client.post("/predict", json={"text": TEXTS[:2]}).status_code == 200
        after = time.time()
        spans = _received(daemon)
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent={parent};Sampled=0")
        assert client.post("/predict", json={"text": TEXTS[:2]}).status_code == 200
        assert _received(daemon) == []  # not sampled: nothing sent
    assert [header for header, _ in spans] == [b'{"format": "json", "version": 1}'] * 2
    tokenize, inference = (doc for _, doc in spans)
    assert (tokenize["name"], inference["name"]) == ("tokenize", "inference")
    for doc in (tokenize, inference):
        assert doc["type"] == "subsegment" and doc["trace_id"] == root
        assert doc["parent_id"] == parent and len(doc["id"]) == 16
        assert before <= doc["start_time"] < doc["end_time"] <= after
    assert tokenize["end_time"] == pytest.approx(inference["start_time"])


def test_an_explained_request_counts_like_a_plain_one(monitored: str) -> None:
    with httpx.Client(base_url=monitored, timeout=30) as http, _request_lines() as lines:
        for explain in (False, True):
            body = {"text": TEXTS, "explain": explain}
            r = http.post("/predict", json=body)
            assert r.status_code == 200, r.text
        _wait_for(lines, 2)
    plain, explained = lines
    names = {m["Name"] for m in plain["_aws"]["CloudWatchMetrics"][0]["Metrics"]}  # type: ignore[index]
    assert names and {n: explained.get(n) for n in names} == {n: plain[n] for n in names}
    assert "evidence" not in json.dumps(explained)
