"""/predict reads long texts as asked (strategy, windows, the 413 window cap), serves calibrated
scores (the bundle's temperature) and marks low-confidence predictions; the Hugging Face routes
keep their shape. Through HTTP on the tiny bundle made by the real training CLI."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from contract.bundle import read_manifest
from contract.encoder import STRATEGIES
from contract.predictor import OnnxClassifier
from function.config import Settings
from function.main import create_app
from function.setting_bounds import LONG_TEXT_STRATEGIES

LONG = "A long and winding review that goes on and on about the plot. " * 30  # ~400 tokens


def predict(http: httpx.Client, **body: object) -> dict:
    response = http.post("/predict", json={"text": LONG, **body})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    return prediction


def test_every_strategy_says_how_the_text_was_read(http: httpx.Client, settings) -> None:
    window = read_manifest(settings.model_uri).encoder["max_length"] - 2  # [CLS] ... [SEP]
    got = {s: predict(http, strategy=s) for s in STRATEGIES}
    assert {p["strategy"] for p in got.values()} == set(STRATEGIES)
    assert len({p["num_tokens"] for p in got.values()}) == 1  # the whole text, whatever the read
    tokens = got["head"]["num_tokens"]
    assert tokens > 3 * window
    for name in ("head+tail", "head", "tail"):
        assert got[name]["windows"] == 1 and got[name]["truncated"], name
    # chunks: windows of `window` tokens overlapping by a quarter, the last one ending the text
    step = window - window // 4
    assert got["chunks"]["windows"] == math.ceil((tokens - window) / step) + 1
    assert not got["chunks"]["truncated"]


def test_the_default_reading_is_the_bundles_measured_pick(http: httpx.Client, settings) -> None:
    manifest = read_manifest(settings.model_uri)
    assert settings.long_text_strategy == "auto" and manifest.long_text["strategy"]
    assert predict(http)["strategy"] == manifest.long_text["strategy"]


def test_scores_are_the_bundles_calibrated_probabilities(http: httpx.Client, settings) -> None:
    manifest = read_manifest(settings.model_uri)
    classifier = OnnxClassifier.from_bundle(settings.model_uri, manifest, threads=1)
    for strategy in ("head+tail", "chunks"):
        p = predict(http, strategy=strategy)
        expected = classifier.classify([LONG], strategy)
        logits = expected.logits[0] / manifest.temperature
        softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        # The same text alone in both (one batch), 2 threads against 1: identical here (0.0);
        # 1e-5 leaves fp32 reduction order room on any kernel.
        assert list(p["scores"].values()) == pytest.approx(softmax.tolist(), abs=1e-5)


def test_min_confidence_marks_uncertain_without_changing_the_label(http: httpx.Client) -> None:
    plain = predict(http)
    assert plain["uncertain"] is False  # no threshold, nothing marked
    above = predict(http, min_confidence=plain["score"] + 1e-3)
    below = predict(http, min_confidence=max(0.0, plain["score"] - 1e-3))
    assert above["uncertain"] is True and below["uncertain"] is False
    assert above["label"] == below["label"] == plain["label"]
    assert predict(http, min_confidence=0)["uncertain"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"strategy": "middle"}, "strategy"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"strategy": None, "min_confidence": "high"}, "min_confidence"),
    ],
)
def test_bad_options_answer_422(http: httpx.Client, body: dict, message: str) -> None:
    response = http.post("/predict", json={"text": "Fine.", **body})
    assert response.status_code == 422
    assert message in response.json()["error"]


@pytest.fixture(scope="module")
def capped(settings: Settings):
    """The app with a chunks default and a cap of 3 windows per request."""
    app = create_app(settings.model_copy(update={"max_windows": 3, "long_text_strategy": "chunks"}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_window_cap_answers_413_saying_what_to_do(capped: TestClient) -> None:
    response = capped.post("/predict", json={"text": LONG})  # the server's default: chunks
    assert response.status_code == 413
    body = response.json()
    assert body["error_type"] == "payload_too_large"
    assert "windows" in body["error"] and "the limit is 3 per request" in body["error"]
    assert "fewer or shorter texts" in body["error"] and "'head+tail'" in body["error"]
    # the same text in one window, or three short texts in chunks, are within the cap
    assert capped.post("/predict", json={"text": LONG, "strategy": "head"}).status_code == 200
    ok = capped.post("/predict", json={"text": ["Good.", "Bad.", "Fine."]})
    assert ok.status_code == 200
    assert [p["strategy"] for p in ok.json()["predictions"]] == ["chunks"] * 3
    # the Hugging Face routes read with the server's default too, and are capped alike
    assert capped.post("/hf", json={"inputs": LONG}).status_code == 413


def test_hf_routes_keep_their_shape_and_calibrated_scores(http: httpx.Client) -> None:
    p = predict(http)
    row = http.post("/hf", json={"inputs": LONG}).json()
    assert isinstance(row, list) and len(row) == 1
    assert all(set(item) == {"label", "score"} for item in row[0])
    assert {i["label"]: i["score"] for i in row[0]} == pytest.approx(p["scores"], abs=1e-6)
    hub = http.post("/models/any/model", json={"inputs": [LONG]}).json()
    assert [set(i) for i in hub[0]] == [{"label", "score"}] * len(hub[0])


def test_openapi_states_the_new_options_and_fields(http: httpx.Client) -> None:
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    request = schemas["PredictRequest"]["properties"]
    enum = next(o["enum"] for o in request["strategy"]["anyOf"] if "enum" in o)
    assert enum == list(STRATEGIES)
    bounds = next(o for o in request["min_confidence"]["anyOf"] if o.get("type") == "number")
    assert (bounds["minimum"], bounds["maximum"]) == (0, 1)
    prediction = schemas["Prediction"]
    assert {"uncertain", "strategy", "windows", "num_tokens", "truncated"} <= set(
        prediction["required"]
    )
    assert prediction["properties"]["windows"]["minimum"] == 1


def test_strategy_names_agree_across_contract_and_settings() -> None:
    # The request schema takes contract.encoder.Strategy itself; its published enum is checked
    # against STRATEGIES above.
    assert ("auto", *STRATEGIES) == LONG_TEXT_STRATEGIES


@pytest.mark.parametrize(
    ("variable", "value"), [("LONG_TEXT_STRATEGY", "middle"), ("MAX_WINDOWS", "0")]
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str):
    from pydantic import ValidationError

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings()
