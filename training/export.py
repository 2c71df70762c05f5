"""Export: torch -> ONNX fp32 (dynamic batch and sequence axes) -> int8 dynamic quantization,
then the parity gate: the int8 model, run through the serving path, must agree with torch."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

log = logging.getLogger(__name__)


class ParityError(RuntimeError):
    """The exported model disagrees with torch beyond the gate: nothing is published."""


def export_onnx(model: PreTrainedModel, path: Path, inputs: list[str]) -> Path:
    """fp32 ONNX with dynamic batch and sequence axes, through the TorchScript exporter (fast,
    and its graphs get ONNX Runtime's transformer fusions)."""
    model = model.to("cpu").float().eval()
    dummy = tuple(
        torch.ones((2, 16), dtype=torch.long)
        if n != "token_type_ids"
        else torch.zeros((2, 16), dtype=torch.long)
        for n in inputs
    )
    axes = {n: {0: "batch", 1: "sequence"} for n in inputs} | {"logits": {0: "batch"}}

    class Logits(torch.nn.Module):  # a plain tensor output, not a ModelOutput
        def __init__(self, inner: PreTrainedModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(inputs, args, strict=True))).logits

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Logits(model),
            dummy,
            str(path),
            input_names=list(inputs),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def quantize_int8(fp32: Path, int8: Path) -> Path:
    """Dynamic int8 quantization of the weights (activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


@dataclass
class Parity:
    agreement: float
    accuracy_torch: float
    accuracy_onnx: float
    max_abs_prob_diff: float

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_torch - self.accuracy_onnx

    def to_dict(self) -> dict[str, float]:
        return {
            "agreement": self.agreement,
            "accuracy_torch": self.accuracy_torch,
            "accuracy_onnx": self.accuracy_onnx,
            "accuracy_drop": self.accuracy_drop,
            "max_abs_prob_diff": self.max_abs_prob_diff,
        }


def parity(torch_probs: np.ndarray, onnx_probs: np.ndarray, labels: np.ndarray) -> Parity:
    t, o = torch_probs.argmax(-1), onnx_probs.argmax(-1)
    return Parity(
        agreement=float((t == o).mean()),
        accuracy_torch=float((t == labels).mean()),
        accuracy_onnx=float((o == labels).mean()),
        max_abs_prob_diff=float(np.abs(torch_probs - onnx_probs).max()),
    )


def check_parity(result: Parity, *, max_agreement_loss: float, max_accuracy_drop: float) -> None:
    problems = []
    # Shares of a finite test set: compare with a tolerance, or 5 of 1,000 is not 0.5 %.
    eps = 1e-9
    if result.agreement < 1 - max_agreement_loss - eps:
        problems.append(
            f"agreement with torch {result.agreement:.2%} < {1 - max_agreement_loss:.2%}"
        )
    if result.accuracy_drop > max_accuracy_drop + eps:
        problems.append(
            f"accuracy drop {result.accuracy_drop * 100:.2f} points > {max_accuracy_drop * 100:.2f}"
        )
    if problems:
        raise ParityError(
            "the int8 ONNX model fails the parity gate: " + "; ".join(problems) + ". Nothing was "
            "published. Re-run with more training, or relax --max_agreement_loss / "
            "--max_accuracy_drop if this is expected."
        )
