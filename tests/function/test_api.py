"""Every route over real HTTP (uvicorn on loopback), on a bundle made by the training CLI."""

from __future__ import annotations

import math

import httpx

from contract.bundle import read_manifest

REVIEWS = [
    "One of the best films of the decade: a sharp script and a moving score.",
    "Two hours I will never get back. Wooden acting and a plot full of holes.",
    "It was fine.",
]


def test_health_reports_ready_and_version(http: httpx.Client, settings) -> None:
    r = http.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["ready"] and body["live"]
    assert body["model_version"] == read_manifest(settings.model_uri).run_id


def test_model_reports_the_manifest(http: httpx.Client, settings) -> None:
    manifest = read_manifest(settings.model_uri)
    body = http.get("/model").json()
    assert body["model_version"] == manifest.run_id
    assert body["labels"] == manifest.labels
    assert body["base_model"] == manifest.base_model
    assert body["encoder"] == manifest.encoder
    assert body["metrics"] == manifest.metrics


def test_predict_one_text(http: httpx.Client, settings) -> None:
    manifest = read_manifest(settings.model_uri)
    r = http.post("/predict", json={"text": REVIEWS[0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == manifest.run_id
    (p,) = body["predictions"]
    assert list(p["scores"]) == manifest.labels
    assert math.isclose(sum(p["scores"].values()), 1.0, abs_tol=1e-5)
    assert p["label"] == max(p["scores"], key=p["scores"].get)
    assert p["score"] == p["scores"][p["label"]]
    assert p["num_tokens"] > 5 and isinstance(p["truncated"], bool)
    for header in ("x-inference-time-ms", "x-tokenization-time-ms", "x-total-time-ms"):
        assert float(r.headers[header]) >= 0
    assert "inference;dur=" in r.headers["server-timing"]
    assert r.headers["x-model-version"] == manifest.run_id
    assert r.headers["x-request-id"]


def test_predict_batch_keeps_order_and_matches_single(http: httpx.Client) -> None:
    batch = http.post("/predict", json={"text": REVIEWS}).json()["predictions"]
    assert len(batch) == len(REVIEWS)
    for text, pred in zip(REVIEWS, batch, strict=True):
        (single,) = http.post("/predict", json={"text": text}).json()["predictions"]
        # int8 dynamic quantization scales each run's activations by the run's own range, and no
        # run holds two texts (contract/predictor.py), so a text's answer in a batch is its
        # answer alone, exactly: the same ids in runs of the same shape, on any kernel. (Packed
        # runs moved these scores by up to 0.0049 on AVX-512 VNNI.)
        assert pred == single


def test_long_text_is_truncated(http: httpx.Client, settings) -> None:
    max_length = read_manifest(settings.model_uri).encoder["max_length"]
    text = "A long and winding review that goes on. " * 40
    body = {"text": text, "strategy": "head+tail"}  # as trained (the default may read chunks)
    (p,) = http.post("/predict", json=body).json()["predictions"]
    assert p["truncated"] and p["num_tokens"] > max_length
    assert (p["strategy"], p["windows"]) == ("head+tail", 1)


def test_hf_compatible_shape(http: httpx.Client, settings) -> None:
    labels = read_manifest(settings.model_uri).labels
    r = http.post("/hf", json={"inputs": REVIEWS[0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body) == 1 and len(body[0]) == len(labels)
    scores = [item["score"] for item in body[0]]
    assert scores == sorted(scores, reverse=True)
    assert {item["label"] for item in body[0]} == set(labels)
    assert math.isclose(sum(scores), 1.0, abs_tol=1e-5)

    many = http.post("/hf", json={"inputs": REVIEWS, "parameters": {"top_k": 1}}).json()
    assert [len(row) for row in many] == [1, 1, 1]
    predicted = http.post("/predict", json={"text": REVIEWS}).json()["predictions"]
    assert [row[0]["label"] for row in many] == [p["label"] for p in predicted]


def test_hf_parameters(http: httpx.Client) -> None:
    body = {"inputs": REVIEWS[1], "parameters": {"top_k": None, "function_to_apply": "sigmoid"}}
    row = http.post("/hf", json=body).json()[0]
    assert all(0 < item["score"] < 1 for item in row)
    raw = http.post(
        "/hf", json={"inputs": REVIEWS[1], "parameters": {"function_to_apply": "none"}}
    ).json()[0]
    assert [i["label"] for i in raw] == [i["label"] for i in row]  # same order, other scale
    # What huggingface_hub's InferenceClient posts (it names the model in the URL).
    hub = http.post("/models/our-org/sentiment", json={"inputs": REVIEWS[1], "options": {}})
    assert hub.status_code == 200 and len(hub.json()) == 1


def test_openapi_docs(http: httpx.Client) -> None:
    assert http.get("/docs").status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/predict", "/hf", "/health", "/model"} <= set(paths)
