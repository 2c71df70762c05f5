"""Bad input never produces a 500 or a stack trace: 413 over a limit, 415 not JSON, 422 invalid,
503 without a verified model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from function.config import Settings
from function.main import create_app


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": ""}, "text 0 is empty or whitespace only"),
        ({"text": " \n\t "}, "text 0 is empty or whitespace only"),
        ({"text": ["fine", "\u200b\u0000"]}, "text 1 is empty or whitespace only"),
        ({"text": None}, "got null"),
        ({"text": 42}, "got int"),
        ({"text": 4.2}, "got float"),
        ({"text": True}, "got bool"),
        ({"text": {"nested": {"deeper": ["x"]}}}, "got dict"),
        ({"text": ["ok", ["nested"]]}, "text 1 must be a string, got list"),
        ({"text": ["ok", None]}, "text 1 must be a string, got null"),
        ({"text": []}, "got an empty list"),
        ({}, "text: Field required"),
        ({"text": "ok", "extra": 1}, "extra: Extra inputs are not permitted"),
        ([1, 2], "the body must be a JSON object"),
        ("just a string", "the body must be a JSON object"),
    ],
)
def test_invalid_input_is_422(client: TestClient, body: object, message: str) -> None:
    r = client.post("/predict", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error_type"] == "validation_error"
    assert message in r.json()["error"]


def test_null_body_is_422(client: TestClient) -> None:
    r = client.post("/predict", content=b"null", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid input: the body must be a JSON object"


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": ""},
        {"inputs": 3},
        {"inputs": "ok", "parameters": {"top_k": 0}},
        {"inputs": "ok", "parameters": {"top_k": "two"}},
        {"inputs": "ok", "parameters": {"function_to_apply": "relu"}},
    ],
)
def test_invalid_hf_input_is_422(client: TestClient, body: object) -> None:
    r = client.post("/hf", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith("invalid input: ")


@pytest.mark.parametrize(
    "raw", [b"{", b'{"text": "unterminated', b"\xff\xfe\x00", b'{"text": "a"}}', b"NaN"]
)
def test_invalid_json_is_422(client: TestClient, raw: bytes) -> None:
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error_type"] == "validation_error"


def test_lone_surrogate_is_422(client: TestClient) -> None:
    raw = b'{"text": "\\ud800 broken"}'
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "not valid Unicode" in r.json()["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/predict", content=b'{"text": "fine"}', headers=headers)
    assert r.status_code == 415
    assert r.json() == {
        "error": f"unsupported content type {content_type or 'none'!r}; send application/json",
        "error_type": "unsupported_media_type",
    }


def test_one_megabyte_is_413(client: TestClient, settings: Settings) -> None:
    r = client.post("/predict", json={"text": "a" * 1_000_000})
    assert r.status_code == 413
    assert r.json() == {
        "error": f"request body is larger than the limit of {settings.max_request_bytes} bytes",
        "error_type": "payload_too_large",
    }


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks():  # no content-length: the limit must count the stream itself
        yield b'{"text": "'
        for _ in range(100):
            yield b"a" * 10_000
        yield b'"}'

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_too_many_texts_is_413(client: TestClient, settings: Settings) -> None:
    n = settings.max_texts + 1
    r = client.post("/hf", json={"inputs": ["fine"] * n})
    assert r.status_code == 413
    assert r.json()["error"] == f"too many texts: {n}; the limit is {settings.max_texts}"


def test_too_long_text_is_413(client: TestClient, settings: Settings) -> None:
    n = settings.max_chars + 1
    r = client.post("/predict", json={"text": ["fine", "b" * n]})
    assert r.status_code == 413
    assert r.json()["error"] == f"text 1 has {n} characters; the limit is {settings.max_chars}"


@pytest.mark.parametrize(
    "text",
    [
        "😀🎬🍿 loved it 👍🏽👨‍👩‍👧",
        "فيلم رائع جدا، أنصح به",  # right-to-left
        "סרט נהדר \u202eevil override\u202c",
        "bell\x07 escape\x1b[31m red\x00 nul",
        "\ufeffbom and zero\u200bwidth",
        "ｆｕｌｌｗｉｄｔｈ 全角 映画は最高でした",
        "a" * 1500,
    ],
)
def test_unusual_text_is_answered(client: TestClient, text: str) -> None:
    r = client.post("/predict", json={"text": text})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["num_tokens"] >= 0


def test_unknown_route_and_method(client: TestClient) -> None:
    assert client.get("/nope").json() == {"error": "Not Found", "error_type": "not_found"}
    r = client.get("/predict")
    assert r.status_code == 405 and r.json()["error_type"] == "method_not_allowed"


def test_tampered_bundle_is_never_served(tampered_bundle: Path, tmp_path: Path) -> None:
    app = create_app(Settings(model_uri=str(tampered_bundle), model_cache_dir=tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["ready"] is False
        assert "model.onnx" in health.json()["error"] and "sha256" in health.json()["error"]
        for path, body in [("/predict", {"text": "fine"}), ("/hf", {"inputs": "fine"})]:
            r = client.post(path, json=body)
            assert r.status_code == 503
            assert r.json()["error_type"] == "model_unavailable"
            assert r.json()["error"].startswith("no verified model is loaded: bundle refused: ")
            assert "model.onnx" in r.json()["error"]
        assert client.get("/model").status_code == 503


def test_missing_model_uri_is_503(tmp_path: Path) -> None:
    app = create_app(Settings(model_uri="", model_cache_dir=tmp_path))
    with TestClient(app) as client:
        r = client.post("/predict", json={"text": "fine"})
        assert r.status_code == 503 and "MODEL_URI is not set" in r.json()["error"]


def test_logs_are_json_and_never_hold_the_text(client: TestClient) -> None:
    secret = "zebra-unicorn-canary review text"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("function")
    logger.addHandler(handler)
    try:
        client.post("/predict", json={"text": [secret, "fine"]})
        client.post("/predict", json={"text": [secret, ""]})
    finally:
        logger.removeHandler(handler)
    formatter = logger.handlers[0].formatter
    assert formatter is not None
    lines = [formatter.format(r) for r in records]
    assert lines and all("zebra" not in line for line in lines)
    entry = json.loads(lines[0])
    assert entry["route"] == "/predict" and entry["status"] == 200 and entry["batch_size"] == 2
    assert {"request_id", "latency_ms", "cold_start"} <= set(entry)
