"""The bundle contract: the manifest lists every file, and anything off is refused by name."""

from __future__ import annotations

import json
import shutil

import pytest

from contract.bundle import MANIFEST, BundleError, read_manifest, verify_bundle


@pytest.fixture
def bundle(tiny_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    return copy


def test_manifest_describes_the_bundle(tiny_bundle):
    manifest = verify_bundle(tiny_bundle)
    files = set(manifest.files)
    assert {"model.onnx", "tokenizer.json", "README.md", "metrics.json"} <= files
    assert {"plots/confusion_matrix.png", "plots/roc.png", "plots/precision_recall.png"} <= files
    assert any(f.startswith("hf/") and f.endswith(".safetensors") for f in files)
    assert manifest.labels == ["negative", "positive"]
    assert manifest.encoder == {
        "max_length": 48,
        "truncation": "head+tail",
        "head_tokens": 12,
        "markup": "text",  # what its tokenizer.json does with web markup (contract/markup.py)
    }
    assert manifest.format_version == 1 and manifest.run_id == tiny_bundle.name
    assert set(manifest.data) >= {"source", "fingerprint", "sizes"}
    assert manifest.data["sizes"] == {"train": 64, "validation": 16, "test": 48}
    assert manifest.training_args["learning_rate"] == 1e-4
    assert {"torch", "onnx_int8", "parity", "baseline_tfidf"} <= set(manifest.metrics)
    assert {"torch", "transformers", "onnxruntime", "tokenizers"} <= set(manifest.library_versions)
    assert manifest.created_at.endswith("+00:00")


def test_one_flipped_byte_is_refused_naming_the_file(bundle):
    path = bundle / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 .* differs"):
        verify_bundle(bundle)


def test_missing_and_truncated_files_are_refused(bundle):
    (bundle / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"tokenizer\.json: listed in the manifest but missing"):
        verify_bundle(bundle)


def test_size_change_is_refused(bundle):
    with (bundle / "metrics.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(BundleError, match=r"metrics\.json: size"):
        verify_bundle(bundle)


def test_no_manifest_means_no_bundle(bundle):
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleError, match="upload that did not finish"):
        verify_bundle(bundle)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version=99), "format_version 99"),
        (lambda m: m.pop("labels"), "lacks required keys: labels"),
        (lambda m: m["files"].pop("model.onnx"), "required file model.onnx"),
        (lambda m: m.update(model_file="model.fp32.onnx"), "required file model.fp32.onnx"),
        (lambda m: m.update(precision="int4"), "precision 'int4' is not one of"),
        (
            lambda m: m["files"].update({"../etc/passwd": {"sha256": "0", "size": 1}}),
            "outside the bundle",
        ),
        (lambda m: m["encoder"].update(truncation="middle"), "invalid encoder settings"),
    ],
)
def test_malformed_manifest_is_refused(bundle, edit, message):
    data = json.loads((bundle / MANIFEST).read_text())
    edit(data)
    (bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        read_manifest(bundle)


def test_manifest_that_is_not_json_is_refused(bundle):
    (bundle / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        verify_bundle(bundle)


@pytest.mark.parametrize("size", [0, 1, 5 << 20])
def test_sha256_matches_hashlib_for_empty_small_and_large_files(tmp_path, size):
    import hashlib
    import os

    from contract.bundle import sha256_file

    path = tmp_path / "f.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_a_bundle_from_before_model_file_serves_model_onnx_as_int8(bundle):
    from contract.predictor import OnnxClassifier

    data = json.loads((bundle / MANIFEST).read_text())
    assert (data["model_file"], data["precision"]) == ("model.onnx", "int8")
    for key in ("model_file", "precision", "precision_reason"):
        del data[key]
    (bundle / MANIFEST).write_text(json.dumps(data))
    manifest = verify_bundle(bundle)
    assert (manifest.model_file, manifest.precision) == ("model.onnx", "int8")
    probs = OnnxClassifier.from_bundle(bundle, manifest).predict_proba(["A wonderful film."])
    assert probs.shape == (1, 2)
