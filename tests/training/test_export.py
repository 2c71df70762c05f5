"""Export: eager-attention ONNX, ONNX Runtime's offline fusions, and the fallback to the plain
graph for architectures they do not cover."""

from __future__ import annotations

import onnx
from transformers import AutoModelForSequenceClassification, GPT2Config

from training.export import export_onnx, fuse_for_cpu, quantize_int8

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def test_export_fuses_attention_and_restores_the_models_attention(tiny_hf_model, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_hf_model, attn_implementation="sdpa"
    )
    fp32 = export_onnx(model, tmp_path / "fp32.onnx", INPUTS)
    assert model.config._attn_implementation == "sdpa"  # training may go on after export

    fused = fuse_for_cpu(fp32, tmp_path / "fused.onnx", model.config)
    assert fused["Attention"] == 6 and fused["SkipLayerNormalization"] == 12
    int8 = quantize_int8(tmp_path / "fused.onnx", tmp_path / "int8.onnx")
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QAttention", "QEmbedLayerNormalization", "MatMulInteger"} <= ops


def test_architectures_without_fusions_keep_the_plain_graph(tiny_hf_model, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_hf_model)
    fp32 = export_onnx(model, tmp_path / "fp32.onnx", INPUTS)
    assert fuse_for_cpu(fp32, tmp_path / "fused.onnx", GPT2Config()) == {}
    assert not (tmp_path / "fused.onnx").exists()
    # A graph the fusions cannot read is not an export failure either.
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    assert fuse_for_cpu(tmp_path / "broken.onnx", tmp_path / "fused.onnx", model.config) == {}
