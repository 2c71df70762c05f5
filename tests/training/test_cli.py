"""The training CLI end to end on a tiny real run, and its verify command."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import fields

import numpy as np
import onnxruntime as ort
import pytest

from contract.predictor import OnnxClassifier
from contract.storage import resolve_local
from tests.conftest import REPO, TINY_ARGS, run_cli
from training.args import DataArguments, JobArguments, ModelArguments
from training.sagemaker.launch import LaunchArguments

METRICS = {"accuracy", "f1", "precision", "recall", "roc_auc"}


def test_tiny_run_publishes_a_bundle_that_verifies(tiny_run, tiny_bundle):
    pointer = json.loads((tiny_run / "latest.json").read_text())
    assert pointer["run_id"] == tiny_bundle.name
    assert run_cli("verify", str(tiny_bundle)) == 0
    assert run_cli("verify", str(tiny_run)) == 0  # a runs root resolves through latest.json


def test_metrics_file_holds_all_five_metrics_for_torch_and_onnx(tiny_bundle):
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    for model in ("torch", "onnx_int8", "baseline_tfidf"):
        assert set(metrics[model]) >= METRICS, model
        assert all(
            0 <= metrics[model][k] <= 1 for k in METRICS if not math.isnan(metrics[model][k])
        )
    int8 = metrics["parity"]["int8"]
    # The tiny run's guard is loose (tests/conftest.py: 50 %): int8 flipped 0 of 48 on VNNI.
    assert 0 <= int8["agreement"] <= 1 and int8["passed"] and metrics["parity"]["shipped"] == "int8"
    assert {"mcnemar_p", "flip_p", "torch_only_correct", "onnx_only_correct", "rule"} <= set(int8)
    assert metrics["served"]["precision"] == "int8"


def test_exported_model_loads_with_dynamic_axes_and_is_int8(tiny_bundle):
    session = ort.InferenceSession(str(tiny_bundle / "model.onnx"))
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert inputs["input_ids"] == ["batch", "sequence"]
    import onnx

    model = onnx.load(str(tiny_bundle / "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    # Exported with eager attention and fused offline: attention runs as one int8 operator.
    assert "QAttention" in ops and "MatMul" not in ops
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    assert metrics["onnx_fusions"]["Attention"] == 6  # one per MiniLM layer
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    from contract.bundle import Manifest

    clf = OnnxClassifier.from_bundle(tiny_bundle, Manifest.from_dict(manifest))
    probs = clf.predict_proba(["A wonderful film.", "Dull and far too long." * 40])
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_model_card_reports_metrics_and_intended_use(tiny_bundle):
    card = (tiny_bundle / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: text-classification" in card
    for heading in ("## Intended use", "## Data", "## Training", "## Results", "## Limitations"):
        assert heading in card
    assert "TF-IDF + logistic regression" in card
    assert "## Parity gate" in card and "McNemar" in card and "Shipped: **int8**" in card
    assert "Web markup (`<br />`" in card  # read as text, the default (contract/markup.py)


def test_the_bundle_tokenizer_reads_markup_as_text(tiny_bundle):
    from tokenizers import Tokenizer

    from contract.bundle import read_manifest
    from contract.markup import reads_markup

    assert reads_markup(Tokenizer.from_file(str(tiny_bundle / "tokenizer.json")))
    assert read_manifest(tiny_bundle).encoder["markup"] == "text"


def test_verify_fails_naming_the_corrupted_file(tiny_bundle, tmp_path, caplog):
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    with (copy / "tokenizer.json").open("r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert run_cli("verify", str(copy)) == 1
    assert "tokenizer.json: sha256" in caplog.text


def squeezed(text: str) -> str:
    """Without whitespace: argparse re-wraps help text (at spaces and after hyphens)."""
    return "".join(text.split())


@pytest.mark.parametrize(
    ("command", "dataclasses"),
    [
        ([], (ModelArguments, DataArguments, JobArguments)),
        (["launch"], (LaunchArguments,)),
    ],
    ids=["training", "launch"],
)
def test_help_documents_every_flag(command, dataclasses):
    """Each field's help text is its documentation: every flag is listed with all of it."""
    out = subprocess.run(
        [sys.executable, "-m", "training", *command, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = squeezed(out)
    for dc in dataclasses:
        for f in fields(dc):
            assert f"--{f.name}" in out, f"--{f.name} is not listed"
            assert f.metadata.get("help"), f"--{f.name} has no help text"
            assert squeezed(f.metadata["help"]) in flat, f"--{f.name}: its help text is not shown"


def test_non_empty_output_dir_is_kept_unless_overwrite(tmp_path, caplog):
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("keep me")
    code = run_cli(*TINY_ARGS, "--output", str(tmp_path / "m"), "--output_dir", str(work))
    assert code == 2
    assert "pass --overwrite" in caplog.text
    assert (work / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_config_file_and_resume(tmp_path):
    """One JSON config file; then --resume continues from the checkpoint under the same run id."""
    config = dict(zip(TINY_ARGS[::2], TINY_ARGS[1::2], strict=True))
    config = {k.lstrip("-"): v for k, v in config.items()}
    config |= {
        "max_steps": 4,
        "output": str(tmp_path / "m1"),
        "output_dir": str(tmp_path / "w"),
        "progress": False,
        "baseline": False,
        "save_hf_checkpoint": False,
    }
    for key in (
        "max_train_samples",
        "max_eval_samples",
        "max_test_samples",
        "max_length",
        "head_tokens",
        "per_device_train_batch_size",
        "logging_steps",
    ):
        config[key] = int(config[key])
    for key in ("learning_rate", "max_agreement_loss", "max_accuracy_drop"):
        config[key] = float(config[key])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert run_cli(str(path)) == 0
    first = resolve_local(tmp_path / "m1")
    assert (tmp_path / "w" / "checkpoint-4").is_dir()

    config |= {"max_steps": 6, "resume": True, "output": str(tmp_path / "m2")}
    path.write_text(json.dumps(config))
    assert run_cli(str(path)) == 0
    second = resolve_local(tmp_path / "m2")
    assert second.name == first.name  # same run, continued
    state = json.loads((tmp_path / "w" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6


def test_transformers_loads_the_checkpoint_tokenizer_without_the_rules(tiny_bundle):
    """README ('Markup'): transformers 5 rebuilds a BERT tokenizer from its vocabulary when it
    loads hf/, without the rules, so the training job installs them again when it fine-tunes
    on from there. If transformers starts keeping them, this says the README is out of date."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from contract.markup import install, reads_markup

    loaded = AutoTokenizer.from_pretrained(tiny_bundle / "hf").backend_tokenizer
    assert not reads_markup(loaded)
    install(loaded)
    loaded.no_padding()  # transformers sets the checkpoint's padding on its backend
    served = Tokenizer.from_file(str(tiny_bundle / "tokenizer.json"))
    text = "A fine film.<br /><br />The <i>end</i> drags &amp; drags."
    assert loaded.encode(text).ids == served.encode(text).ids
