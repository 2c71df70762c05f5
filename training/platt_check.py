"""Platt scaling measured, not applied: would a bias on the logit difference, p = sigmoid(a * z +
b) with z = logit(positive) - logit(negative), fitted on validation, help the served model on
the held-out test split? Recorded in metrics.json (calibration.platt_check) so that every run,
`make bench-run`'s included, adds evidence; serving applies only the temperature.

Why only measured: a bias moves labels (the threshold shifts), so it must hold on held-out data
across runs before it ships (issue 20). On one under-trained quick-profile bundle (800 reviews,
recall 0.68) it raised test accuracy 80.6 % -> 84.3 % (McNemar p = 2e-4); a well-trained model
may have no bias to remove.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.calibration import fit_temperature, nll, reliability
from training.parity import binomial_tail


def _two(z: np.ndarray) -> np.ndarray:
    """Two logits whose difference is z (what softmax reads)."""
    return np.c_[-z / 2, z / 2]


def platt_check(
    validation_logits: np.ndarray,
    validation_labels: np.ndarray,
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    temperature: float,
) -> dict[str, Any] | None:
    """The fitted (a, b), the likelihood-ratio test of the bias against the temperature alone on
    validation (chi-square, 1 degree of freedom), and test accuracy, ECE and NLL with Platt
    against the served temperature; None for more than two labels."""
    from scipy.stats import chi2
    from sklearn.linear_model import LogisticRegression

    if validation_logits.shape[1] != 2 or len(np.unique(validation_labels)) < 2:
        return None
    z_val = (validation_logits[:, 1] - validation_logits[:, 0]).astype(np.float64)
    z_test = (test_logits[:, 1] - test_logits[:, 0]).astype(np.float64)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(z_val[:, None], validation_labels)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    t_only = fit_temperature(validation_logits, validation_labels)
    statistic = max(0.0, 2 * len(validation_labels) * (
        nll(validation_logits, validation_labels, t_only) - nll(_two(a * z_val + b), validation_labels)
    ))  # fmt: skip
    served, platt = _two(z_test / temperature), _two(a * z_test + b)
    served_right = served.argmax(1) == test_labels
    platt_right = platt.argmax(1) == test_labels
    gained, lost = (
        int((platt_right & ~served_right).sum()),
        int((served_right & ~platt_right).sum()),
    )

    def scores(logits: np.ndarray) -> dict[str, float]:
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        return {"accuracy": float((logits.argmax(1) == test_labels).mean()),
                "ece": reliability(probs, test_labels)["ece"], "nll": nll(logits, test_labels)}  # fmt: skip

    return {
        "applied": False,
        "a": a,
        "b": b,
        "validation_lr_statistic_vs_temperature": statistic,
        "validation_lr_p_vs_temperature": float(chi2.sf(statistic, df=1)),
        "test_served": scores(served),
        "test_platt": scores(platt),
        "test_platt_only_right": gained,
        "test_served_only_right": lost,
        # one-sided exact McNemar: does the bias get more test reviews right than it loses?
        "test_mcnemar_p": binomial_tail(gained, gained + lost, 0.5),
    }
