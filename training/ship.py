"""Which exported model the bundle ships: int8 when it passes the parity gate, else the fp32
graph it was quantized from (when --fp32_fallback), else nothing (ParityError, exit 4).

int8 is quantized from the fused fp32 graph, so when int8 fails and fp32 passes, quantization is
the only problem and a slower model still serves; when fp32 fails too, the export itself is
broken (wrong inputs, wrong weights) and no model of it may ship.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedModel

from contract.bundle import FP32_MODEL_FILE, MODEL_FILE, Precision
from contract.encoder import TextEncoder
from contract.predictor import OnnxClassifier
from training.args import JobArguments
from training.export import export_onnx, fuse_for_cpu, quantize_int8
from training.finetune import model_inputs
from training.metrics import classification_metrics
from training.parity import RULE, Parity, ParityError, ParityGate, parity

log = logging.getLogger(__name__)


@dataclass
class Shipped:
    model_file: str
    precision: Precision
    reason: str
    classifier: OnnxClassifier
    probs: np.ndarray  # the shipped model's test probabilities
    metrics: dict[str, Any]  # onnx_fusions, onnx_int8, onnx_fp32 (when run), parity


def export_and_gate(
    model: PreTrainedModel,
    encoder: TextEncoder,
    labels: list[str],
    test_texts: list[str],
    test_labels: np.ndarray,
    torch_probs: np.ndarray,
    job: JobArguments,
    bundle: Path,
) -> Shipped:
    from tqdm.auto import tqdm

    gate = ParityGate(job.parity_alpha, job.max_accuracy_drop, job.max_agreement_loss)
    metrics: dict[str, Any] = {}
    gates: dict[str, Any] = {
        "rule": RULE,
        "alpha": gate.alpha,
        "max_accuracy_drop": gate.max_accuracy_drop,
        "max_agreement_loss": gate.max_agreement_loss,
    }
    stages = tqdm(
        total=3, desc="export: onnx fp32 -> fuse, int8 -> evaluate", disable=not job.progress
    )
    with stages, tempfile.TemporaryDirectory() as tmp:
        plain = export_onnx(model, Path(tmp) / "model.plain.onnx", model_inputs(model))
        stages.update()
        fused = Path(tmp) / "model.fused.onnx"
        fusions = fuse_for_cpu(plain, fused, model.config)
        log.info("ONNX Runtime fusions: %s", fusions or "none")
        metrics["onnx_fusions"] = fusions
        fp32 = fused if fusions else plain
        int8 = quantize_int8(fp32, Path(tmp) / "model.int8.onnx")
        stages.update()

        def evaluate(path: Path, precision: str) -> tuple[OnnxClassifier, np.ndarray, Parity]:
            classifier = OnnxClassifier(path, encoder, labels)
            probs = classifier.predict_proba(test_texts)
            metrics[f"onnx_{precision}"] = classification_metrics(test_labels, probs)
            result = parity(torch_probs, probs, test_labels, gate, precision)
            gates[precision] = result.to_dict()
            (log.info if result.passed else log.warning)("parity gate, %s", result.summary())
            return classifier, probs, result

        classifier, probs, int8_result = evaluate(int8, "int8")
        stages.update()
        metrics["parity"] = gates
        if int8_result.passed:
            shutil.copy2(int8, bundle / MODEL_FILE)
            if job.keep_fp32_onnx:
                shutil.copy2(fp32, bundle / FP32_MODEL_FILE)
            gates["shipped"] = "int8"
            return Shipped(
                MODEL_FILE, "int8", "int8 passed the parity gate", classifier, probs, metrics
            )
        if not job.fp32_fallback:
            raise ParityError(
                f"the int8 ONNX model fails the parity gate ({int8_result.summary()}). Nothing "
                "was published. Drop --fp32_fallback false to ship fp32 instead, or relax "
                "--parity_alpha / --max_agreement_loss / --max_accuracy_drop if this is expected."
            )
        classifier, probs, fp32_result = evaluate(fp32, "fp32")
        if not fp32_result.passed:
            raise ParityError(
                "the ONNX export fails the parity gate in int8 AND in fp32, so the export "
                f"itself is broken, not quantization (int8: {int8_result.summary()}; fp32: "
                f"{fp32_result.summary()}). Nothing was published. Check the exported inputs "
                "and weights (training/export.py)."
            )
        shutil.copy2(fp32, bundle / FP32_MODEL_FILE)
    reason = f"int8 failed the parity gate ({'; '.join(int8_result.reasons)}); fp32 passed"
    gates["shipped"] = "fp32"
    log.warning(
        "shipping the fp32 ONNX model (%s): %s. It predicts as torch does and serves ~1.5x "
        "slower than int8.",
        FP32_MODEL_FILE,
        reason,
    )
    return Shipped(FP32_MODEL_FILE, "fp32", reason, classifier, probs, metrics)
