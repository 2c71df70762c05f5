"""The classification metrics every report shares (torch, ONNX, the baseline, the truncation
comparison): scikit-learn only, so report, ship and the pipeline need no Trainer code for them."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """accuracy, F1, precision, recall (binary, positive = index 1) and ROC-AUC."""
    preds = probs.argmax(axis=-1)
    average = "binary" if probs.shape[1] == 2 else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, preds, average=average, zero_division=0
    )
    out = {
        "accuracy": float(accuracy_score(labels, preds)),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
    }
    try:
        out["roc_auc"] = float(
            roc_auc_score(labels, probs[:, 1])
            if probs.shape[1] == 2
            else roc_auc_score(labels, probs, multi_class="ovr")
        )
    except ValueError:  # one class only in this sample
        out["roc_auc"] = float("nan")
    return out
