"""The mean-pooled classifier: chosen for the embedded sentence-transformers checkpoint, blind to
padding, saved and reloaded as trained, exported to an ONNX graph that computes what torch does."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import BertForSequenceClassification

from training.export import export_onnx, fuse_for_cpu
from training.finetune import ModelLoadError, embedded_model_dir, load_model
from training.pooling import MeanPoolingBertForSequenceClassification, sentence_transformers_pooling

LABELS = ["negative", "positive"]
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@pytest.fixture(scope="module")
def mean_model() -> MeanPoolingBertForSequenceClassification:
    torch.manual_seed(0)
    model = load_model("embedded", LABELS)
    assert isinstance(model, MeanPoolingBertForSequenceClassification)
    return model.eval()


def _batch(rows: list[list[int]], width: int) -> dict[str, torch.Tensor]:
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_auto_reads_the_mean_where_the_checkpoint_was_trained_with_it(tmp_path):
    assert sentence_transformers_pooling(embedded_model_dir()) == "mean"
    assert sentence_transformers_pooling(tmp_path) is None  # not a sentence-transformers dir
    assert isinstance(load_model("embedded", LABELS, "cls"), BertForSequenceClassification)


def test_mean_pooling_ignores_padding(mean_model):
    row = [101, 2023, 3185, 2001, 2307, 102]
    with torch.inference_mode():
        tight = mean_model(**_batch([row], len(row))).logits
        padded = mean_model(**_batch([row, row + [2000] * 20], len(row) + 20)).logits
    # Masked: padding changes only the reduction order (1.2e-7 here on logits ~0.3), 1e-5 is
    # two orders above what any ISA's fp32 rounding gives.
    torch.testing.assert_close(tight[0], padded[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(padded[0], padded[1])  # the longer text reads differently


def test_a_saved_checkpoint_reloads_as_it_was_trained(mean_model, tmp_path):
    mean_model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["classifier_pooling"] == "mean"
    again = load_model(str(tmp_path), LABELS).eval()
    assert isinstance(again, MeanPoolingBertForSequenceClassification)
    batch = _batch([[101, 2023, 3185, 102]], 4)
    with torch.inference_mode():
        torch.testing.assert_close(again(**batch).logits, mean_model(**batch).logits)
    # A [CLS] checkpoint says so too, and reloads as [CLS] under 'auto'.
    cls = load_model("embedded", LABELS, "cls")
    cls.save_pretrained(tmp_path / "cls")
    assert isinstance(load_model(str(tmp_path / "cls"), LABELS), BertForSequenceClassification)


def test_mean_pooling_refuses_a_model_type_it_cannot_wrap(tmp_path):
    from transformers import DistilBertConfig

    DistilBertConfig(n_layers=1, dim=32, hidden_dim=64, n_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="--pooling cls"):
        load_model(str(tmp_path), LABELS, "mean")


def test_the_exported_graph_computes_the_mean_pooled_logits(mean_model, tmp_path):
    fp32 = export_onnx(mean_model, tmp_path / "fp32.onnx", INPUTS)
    assert not mean_model.training  # the export leaves dropout off
    fused = fuse_for_cpu(fp32, tmp_path / "fused.onnx", mean_model.config)
    assert fused.get("Attention") == 6  # the encoder still fuses with the new head
    batch = _batch([[101, 2023, 3185, 2001, 2307, 102], [101, 2307, 102]], 6)
    with torch.inference_mode():
        expected = mean_model(**batch).logits.numpy()
    for graph in (fp32, tmp_path / "fused.onnx"):
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        (logits,) = session.run(["logits"], {k: v.numpy() for k, v in batch.items()})
        # fp32 graphs against torch: 3.7e-8 plain, 3.1e-7 fused (VNNI); fused kernels round
        # differently per ISA by ~1e-6, far inside 1e-4.
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
