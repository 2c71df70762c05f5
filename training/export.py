"""Export: torch -> ONNX fp32 (dynamic batch and sequence axes) -> ONNX Runtime's transformer
fusions -> int8 dynamic quantization. Whether a graph may ship is training/parity.py's call
(training/ship.py).

The graph is exported with eager attention and fused offline (Attention, SkipLayerNormalization,
BiasGelu, EmbedLayerNormalization, which quantize to QAttention and QEmbedLayerNormalization): the
plain SDPA export has no pattern ONNX Runtime fuses, and runs and loads slower (README, "Where the
code's numbers come from")."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from transformers import PretrainedConfig, PreTrainedModel

from contract.evidence import TOKEN_LOGITS

log = logging.getLogger(__name__)


# Hugging Face model types whose exported encoder ONNX Runtime's "bert" optimizer can fuse.
BERT_LIKE = frozenset(
    {
        "bert",
        "distilbert",
        "roberta",
        "xlm-roberta",
        "camembert",
        "electra",
        "albert",
        "mpnet",
        "deberta",
        "deberta-v2",
        "ernie",
        "big_bird",
    }
)


def export_onnx(model: PreTrainedModel, path: Path, inputs: list[str]) -> Path:
    """fp32 ONNX with dynamic batch and sequence axes, through the TorchScript exporter.

    Exported with eager attention: SDPA exports as a graph ONNX Runtime's fusions do not
    recognise (no Attention node, an expanded mask per layer). The model's own attention
    implementation is restored afterwards."""
    model = model.to("cpu").float().eval()
    attn = getattr(model.config, "_attn_implementation", None)
    switch = attn not in (None, "eager")
    if switch:
        model.set_attn_implementation("eager")
    try:
        return _export(model, path, inputs)
    finally:
        if switch:
            model.set_attn_implementation(attn)


def _export(model: PreTrainedModel, path: Path, inputs: list[str]) -> Path:
    dummy = tuple(
        torch.ones((2, 16), dtype=torch.long)
        if n != "token_type_ids"
        else torch.zeros((2, 16), dtype=torch.long)
        for n in inputs
    )
    axes = {n: {0: "batch", 1: "sequence"} for n in inputs} | {"logits": {0: "batch"}}
    # A mean-pooled classifier also gives the logits' exact split over its tokens (training/
    # pooling.py): not what serving explains with (contract/evidence.py reads words alone), but
    # what `make bench-explain` measures beside it (README, "Evidence").
    split = hasattr(model, "logits_and_token_logits")
    outputs = ["logits", TOKEN_LOGITS] if split else ["logits"]
    if split:
        axes[TOKEN_LOGITS] = {0: "batch", 1: "sequence"}

    class Logits(torch.nn.Module):  # plain tensor outputs, not a ModelOutput
        def __init__(self, inner: PreTrainedModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
            named = dict(zip(inputs, args, strict=True))
            if split:
                return self.inner.logits_and_token_logits(**named)
            return self.inner(**named).logits

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            # In eval mode: the exporter puts the module back in the mode it found it in, and a
            # fresh wrapper is in training mode, which would leave the model training (dropout
            # on) for whatever predicts with it after the export.
            Logits(model).eval(),
            dummy,
            str(path),
            input_names=list(inputs),
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def fuse_for_cpu(fp32: Path, fused: Path, config: PretrainedConfig) -> dict[str, int]:
    """ONNX Runtime's offline transformer fusions (opt_level 0: its Python fusions only, no
    hardware-specific rewrites, so the result runs on any CPU). Returns the fused operators,
    or {} when this architecture is not one it fuses (the plain graph is then quantized)."""
    if config.model_type not in BERT_LIKE:
        log.info(
            "no offline fusions for model type %r; quantizing the plain graph", config.model_type
        )
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        # 0 heads / hidden size: the optimizer reads them off the graph.
        optimized = optimize_model(
            str(fp32),
            model_type="bert",
            opt_level=0,
            num_heads=getattr(config, "num_attention_heads", 0),
            hidden_size=getattr(config, "hidden_size", 0),
        )
    except Exception as exc:  # a graph the fusions trip on still exports, unfused
        log.warning(
            "ONNX Runtime's fusions failed (%s: %s); quantizing the plain graph",
            type(exc).__name__,
            exc,
        )
        return {}
    counts = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    if not counts.get("Attention"):
        log.warning("ONNX Runtime fused no attention (%s); quantizing the plain graph", counts)
        return {}
    optimized.save_model_to_file(str(fused))
    return counts


def quantize_int8(fp32: Path, int8: Path) -> Path:
    """Dynamic int8 quantization of the weights (activations quantized at run time); on a fused
    graph, Attention becomes QAttention and the embeddings QEmbedLayerNormalization."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # ONNX shape inference cannot type the outputs of com.microsoft fused operators.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return int8
