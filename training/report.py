"""The evaluation report on the held-out test split: metrics.json, plots, a TF-IDF baseline and
a model card in the Hugging Face model-card style."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.calibration import RELIABILITY_PLOT, calibration_section
from training.long_text_eval import long_text_section
from training.metrics import classification_metrics

log = logging.getLogger(__name__)


def tfidf_baseline(
    train_texts: list[str], train_labels: list[int], test_texts: list[str], test_labels: list[int]
) -> dict[str, Any]:
    """TF-IDF (1-2-grams) + logistic regression on the same split: the bar a transformer must
    clear to be worth its cost."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=1000),
    )
    model.fit(train_texts, train_labels)
    probs = model.predict_proba(test_texts)
    metrics = classification_metrics(np.asarray(test_labels), probs)
    metrics["fit_seconds"] = time.perf_counter() - start
    return metrics


def write_plots(
    plots_dir: Path, labels: np.ndarray, probs: np.ndarray, label_names: list[str]
) -> list[str]:
    """Confusion matrix, ROC and precision-recall curves as PNGs; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a training machine
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        labels, probs.argmax(-1), display_labels=label_names, ax=ax, colorbar=False, cmap="Blues"
    )
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    fig.savefig(plots_dir / "confusion_matrix.png", dpi=110)
    written.append("confusion_matrix.png")
    plt.close(fig)
    if probs.shape[1] == 2 and len(set(labels.tolist())) == 2:
        for name, display in (
            ("roc.png", RocCurveDisplay),
            ("precision_recall.png", PrecisionRecallDisplay),
        ):
            fig, ax = plt.subplots(figsize=(4.5, 4))
            display.from_predictions(labels, probs[:, 1], ax=ax, name="model", pos_label=1)
            ax.set_title(f"{'ROC' if name == 'roc.png' else 'Precision-recall'} (test split)")
            fig.tight_layout()
            fig.savefig(plots_dir / name, dpi=110)
            plt.close(fig)
            written.append(name)
    return written


def write_metrics(bundle_dir: Path, metrics: dict[str, Any]) -> None:
    (bundle_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def _row(name: str, m: dict[str, Any]) -> str:
    cells = " | ".join(f"{m[k]:.4f}" for k in ("accuracy", "f1", "precision", "recall", "roc_auc"))
    return f"| {name} | {cells} |"


def parity_section(gate: dict[str, Any]) -> str:
    """The parity gate's rule, its numbers for every precision tested, and what shipped."""
    if not gate:
        return ""
    lines = [
        "## Parity gate (exported ONNX vs torch fp32, paired test predictions)",
        "",
        f"Rule: {gate['rule']}; alpha {gate['alpha']:g}, max_accuracy_drop "
        f"{gate['max_accuracy_drop']:g}, max_agreement_loss {gate['max_agreement_loss']:g}.",
        "",
        "| ONNX | flips (torch-only right / ONNX-only right) | agreement | accuracy drop "
        "| McNemar p | flip-rate p | decision |",
        "|---|---|---|---|---|---|---|",
    ]
    for precision in ("int8", "fp32"):
        r = gate.get(precision)
        if r:
            decision = "pass" if r["passed"] else "FAIL: " + "; ".join(r["reasons"])
            lines.append(
                f"| {precision} | {r['flips']} of {r['n']} ({r['torch_only_correct']} / "
                f"{r['onnx_only_correct']}) | {r['agreement']:.2%} | "
                f"{r['accuracy_drop'] * 100:.2f} points | {r['mcnemar_p']:.3g} | "
                f"{r['flip_p']:.3g} | {decision} |"
            )
    lines += ["", f"Shipped: **{gate.get('shipped', '?')}**.", ""]
    return "\n".join(lines)


def model_card(
    *,
    run_id: str,
    base_model: str,
    labels: list[str],
    data: dict[str, Any],
    encoder: dict[str, Any],
    training_args: dict[str, Any],
    metrics: dict[str, Any],
) -> str:
    served = metrics.get("served", {}).get("precision", "int8")
    rows = [_row("fine-tuned (torch fp32)", metrics["torch"])]
    for precision in ("int8", "fp32"):
        if f"onnx_{precision}" in metrics:
            role = "served" if precision == served else "NOT served: failed the parity gate"
            rows.append(_row(f"exported (ONNX {precision}, {role})", metrics[f"onnx_{precision}"]))
    if "baseline_tfidf" in metrics:
        rows.append(_row("TF-IDF + logistic regression", metrics["baseline_tfidf"]))
    comparison = ""
    if "truncation_comparison" in metrics:
        lines = [
            _row(f"{k} truncation (torch)", v) for k, v in metrics["truncation_comparison"].items()
        ]
        comparison = (
            "\n### Truncation strategies\n\n| model | accuracy | F1 | precision | recall |"
            " ROC-AUC |\n|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
        )
    calibrated = "calibration" in metrics
    scores = "Scores are softmax outputs, not calibrated probabilities."
    if calibrated and metrics["calibration"].get("kept") == "identity":
        scores = (
            "Scores are softmax outputs (T = 1: a temperature fitted on IMDB validation reviews "
            "did not improve them significantly); their calibration is measured on IMDB test "
            "reviews below, and on other domains not at all."
        )
    elif calibrated:
        scores = (
            "Scores are temperature-scaled softmax outputs, calibrated on IMDB validation "
            "reviews; calibration on other domains is not measured."
        )
    reliability = f", `plots/{RELIABILITY_PLOT}`" if calibrated else ""
    sizes = data.get("sizes", {})
    budget = metrics.get("time_budget")
    budget_line = (
        f"\nSized for a {budget['budget_minutes']:g}-minute budget: {budget['train_samples']:,} of "
        f"{budget['pool']:,} reviews at a measured {budget['reviews_per_second']:.1f} reviews/s."
        f"{_cut_sentence(budget)}\n"
        if budget
        else ""
    )
    return f"""---
language: en
license: apache-2.0
library_name: onnxruntime
pipeline_tag: text-classification
base_model: {base_model}
tags: [sentiment-analysis, onnx, {served}]
---

# Sentiment classifier — run `{run_id}`

Binary sentiment ({", ".join(labels)}) of English movie reviews, fine-tuned from `{base_model}`
and exported to ONNX for CPU serving ({served}; int8 dynamic quantization unless it failed the
parity gate below).

## Intended use
Scoring the sentiment of English review-like text (a sentence to a few paragraphs) behind the
project's `/predict` API. Not for: other languages, sarcasm-heavy or domain-specific text (finance,
medicine) without re-training, or decisions about people.

## Data
Source `{data.get("source")}` (fingerprint `{str(data.get("fingerprint", ""))[:16]}…`).
Stratified, seeded splits: {sizes.get("train")} train / {sizes.get("validation")} validation /
{sizes.get("test")} held-out test examples. The test split is never trained or selected on.

## Training
Hugging Face Trainer: learning rate {training_args.get("learning_rate")}, batch
{training_args.get("per_device_train_batch_size")}, {training_args.get("num_train_epochs")} epoch(s),
weight decay {training_args.get("weight_decay")}, best epoch by validation accuracy.
Text encoding: max_length {encoder["max_length"]}, `{encoder["truncation"]}` truncation
(head {encoder["head_tokens"]} tokens when head+tail). {_markup_line(encoder)}
{budget_line}
## Results (held-out test split)

| model | accuracy | F1 | precision | recall | ROC-AUC |
|---|---|---|---|---|---|
{chr(10).join(rows)}
{comparison}
{parity_section(metrics.get("parity", {}))}
{calibration_section(metrics)}
{long_text_section(metrics)}
Plots: `plots/confusion_matrix.png`, `plots/roc.png`, `plots/precision_recall.png`{reliability}.

## Limitations
Trained on movie reviews; accuracy drops on other domains. The model reads
{encoder["max_length"]} tokens at a time: a longer text is cut or read in windows, as the
request's strategy says (see above). {scores}
"""


def _markup_line(encoder: dict[str, Any]) -> str:
    if encoder.get("markup") == "text":
        return (
            "Web markup (`<br />`, `<p>`, `<i>`, `&amp;` ...) is read as the line breaks, "
            "spaces and characters it stands for, and typographic punctuation (’ “ ” … —) as "
            "typed on a keyboard: the rules are in `tokenizer.json` (contract/markup.py), so a "
            "review reads the same as HTML, as plain text or typed on a phone."
        )
    return "Web markup is read as typed (no markup rules in `tokenizer.json`)."


def _cut_sentence(budget: dict[str, Any]) -> str:
    """What the time budget's keeper did when the machine slowed during training."""
    cuts = budget.get("cuts") or []
    if not cuts:
        return ""
    return (
        f" The machine then ran {cuts[-1]['slowdown']:.1f}x slower than measured, so training "
        f"ended after {budget['steps_trained']:,} of its {budget['steps']:,} planned steps, the "
        "learning rate decaying to zero there."
    )
