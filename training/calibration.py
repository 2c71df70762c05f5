"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar
T, fitted on the validation split after training, so that softmax(logits / T) is a calibrated
probability. A fine-tuned transformer is over-confident (its test NLL keeps falling after its
accuracy has stopped); dividing the logits by T > 1 softens every score alike and never changes
a label, so it costs no accuracy and needs no held-out data beyond the validation split.

The fit minimises the negative log-likelihood of the torch model's validation logits; the
expected calibration error (ECE) is then reported on the test split, before and after, for the
model that is served (its ONNX probabilities), with a reliability diagram in plots/.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.predictor import softmax

if TYPE_CHECKING:
    import pandas as pd
    from transformers import Trainer

    from contract.encoder import TextEncoder

log = logging.getLogger(__name__)

# Equal-width bins of confidence (the top probability) over [0, 1], as Guo et al. report ECE.
ECE_BINS = 15
# The search range of T: far wider than any fine-tuned classifier needs (they land near 1-3).
LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))
RELIABILITY_PLOT = "reliability.png"


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under softmax(logits / temperature)."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising validation NLL: a bounded 1-D search over log T (NLL is smooth and, in
    1/T, convex, so the bounded Brent search finds the optimum)."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    found = minimize_scalar(
        lambda log_t: nll(logits, labels, float(np.exp(log_t))),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """Per equal-width confidence bin: how many predictions, their mean confidence and their
    accuracy; and the ECE, the count-weighted mean gap between the two."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are (lower, upper]; a confidence of exactly 0 joins the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        members = index == b
        n = int(members.sum())
        if not n:
            continue
        conf, acc = float(confidence[members].mean()), float(correct[members].mean())
        ece += n / len(labels) * abs(acc - conf)
        rows.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "n": n,
                     "confidence": conf, "accuracy": acc})  # fmt: skip
    return {"ece": float(ece), "bins": rows}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    return reliability(probs, labels)["ece"]


def validation_logits(trainer: Trainer, encoder: TextEncoder, frame: pd.DataFrame) -> np.ndarray:
    """The trained torch model's logits on the validation split, in split order."""
    from training.finetune import by_length, encode_dataset

    dataset = encode_dataset(encoder, frame["text"].tolist(), frame["label"].tolist())
    ordered, order = by_length(dataset)
    out = trainer.predict(ordered, metric_key_prefix="calibration")
    predictions = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    logits = np.empty_like(np.asarray(predictions, dtype=np.float32))
    logits[order] = np.asarray(predictions, dtype=np.float32)
    return logits


@dataclass
class Calibration:
    temperature: float
    metrics: dict[str, Any]


def calibrate(
    validation_logits: np.ndarray,
    validation_labels: np.ndarray,
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    plots_dir: Path,
) -> Calibration:
    """Fits T on validation; ECE on the test split before and after, for `test_probs` (the
    served model's plain-softmax test probabilities); writes the reliability diagram."""
    temperature = fit_temperature(validation_logits, validation_labels)
    # log p recovers the logits up to a per-row constant, which softmax ignores.
    test_logits = np.log(np.clip(test_probs.astype(np.float64), 1e-30, 1.0))
    after_probs = softmax(test_logits / temperature)
    before, after = reliability(test_probs, test_labels), reliability(after_probs, test_labels)
    metrics = {
        "temperature": temperature,
        "fitted_on": f"validation split ({len(validation_labels)} reviews, torch logits, NLL)",
        "measured_on": f"test split ({len(test_labels)} reviews, served ONNX model)",
        "ece_bins": f"{ECE_BINS} equal-width bins of top-class probability over [0, 1]",
        "validation_nll_before": nll(validation_logits, validation_labels),
        "validation_nll_after": nll(validation_logits, validation_labels, temperature),
        "test_nll_before": nll(test_logits, test_labels),
        "test_nll_after": nll(test_logits, test_labels, temperature),
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "reliability_before": before["bins"],
        "reliability_after": after["bins"],
    }
    log.info("temperature %.3f: test ECE %.4f -> %.4f (%d bins)", temperature, before["ece"],
             after["ece"], ECE_BINS)  # fmt: skip
    write_reliability_plot(plots_dir / RELIABILITY_PLOT, before, after, temperature)
    return Calibration(temperature, metrics)


def write_reliability_plot(
    path: Path, before: dict[str, Any], after: dict[str, Any], temperature: float
) -> None:
    """Accuracy against confidence per bin, before and after scaling; the diagonal is perfect."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a training machine
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for result, name, marker in ((before, "softmax", "o"), (after, f"T = {temperature:.2f}", "s")):
        xs = [b["confidence"] for b in result["bins"]]
        ys = [b["accuracy"] for b in result["bins"]]
        ax.plot(xs, ys, marker=marker, label=f"{name} (ECE {result['ece']:.3f})")
    ax.set_xlim(0.45, 1.0)  # two labels: the top probability is never below 0.5
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(f"confidence (mean of each of {ECE_BINS} equal-width bins)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability (test split)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_section(metrics: dict[str, Any]) -> str:
    """The model card's calibration section ('' when the run has none)."""
    c = metrics.get("calibration")
    if not c:
        return ""
    return f"""## Calibration
Scores are softmax(logits / T) with T = {c["temperature"]:.3f}, fitted on the {c["fitted_on"]}
(temperature scaling, Guo et al. 2017); labels are unchanged. Expected calibration error on the
{c["measured_on"]}, {c["ece_bins"]}: **{c["ece_before"]:.4f} before, {c["ece_after"]:.4f}
after** (test NLL {c["test_nll_before"]:.4f} -> {c["test_nll_after"]:.4f}).
Reliability diagram: `plots/{RELIABILITY_PLOT}`.
"""
