"""A bundle published before format 1 gained its optional keys (model_file, precision,
precision_reason, temperature, long_text) still loads and serves as it did: the int8
model.onnx, plain softmax, the trained truncation (contract/bundle.py FORMAT_1_OPTIONAL)."""

from __future__ import annotations

import json
import shutil

from fastapi.testclient import TestClient

from contract.bundle import FORMAT_1_OPTIONAL, MANIFEST, MODEL_FILE, read_manifest
from function.config import Settings
from function.main import create_app

TEXTS = ["A moving, beautifully shot film.", "Two hours I will never get back."]


def test_a_bundle_without_the_later_keys_serves_model_onnx_with_plain_softmax(
    tiny_bundle, tmp_path
):
    old = tmp_path / "old-run"
    shutil.copytree(tiny_bundle, old)
    manifest = json.loads((old / MANIFEST).read_text())
    assert manifest["model_file"] == MODEL_FILE, "the tiny run was expected to ship int8"
    for key in FORMAT_1_OPTIONAL:
        manifest.pop(key)
    (old / MANIFEST).write_text(json.dumps(manifest))  # the manifest lists no sha256 of itself

    read = read_manifest(old)
    assert (read.temperature, read.long_text) == (1.0, {})

    settings = Settings(model_uri=str(old), model_cache_dir=tmp_path / "cache", log_level="INFO")
    with TestClient(create_app(settings)) as client:
        info = client.get("/model").json()
        assert (info["model_file"], info["precision"], info["precision_reason"]) == (
            MODEL_FILE,
            "int8",
            "",
        )
        answered = client.post("/predict", json={"text": TEXTS})
    assert answered.status_code == 200, answered.text
    predictions = answered.json()["predictions"]
    assert len(predictions) == len(TEXTS)
    assert all(p["strategy"] == manifest["encoder"]["truncation"] for p in predictions)
