"""The bundle's reference profile: how the served model's predictions are distributed on the
held-out test split, in the fixed buckets live traffic is counted in (contract/profile.py). The
drift check compares each live window with it.

It describes what serving does: the served ONNX model, the calibrated scores and the reading the
bundle serves by default. When that reading is the trained truncation (the usual pick), the
test predictions the parity gate already made are those predictions, and only tokenizing runs
again (~1 s for 1,000 reviews): no second pass through the model inside `make run`'s budget.
Another pick (chunks, head, tail) changes the long reviews' predictions, so the split is then
classified again as served.
"""

from __future__ import annotations

import logging

import numpy as np

from contract.audit import LabelledCounts
from contract.predictor import OnnxClassifier
from contract.profile import Profile, observe, unknown_id

log = logging.getLogger(__name__)


def reference_profile(
    classifier: OnnxClassifier,
    texts: list[str],
    plain_probs: np.ndarray,
    true_labels: np.ndarray | None = None,
) -> Profile:
    """`classifier` as the bundle serves it (temperature and default reading set);
    `plain_probs`: its plain-softmax test probabilities under the trained truncation. With
    `true_labels`, the profile's `extra.labelled` holds the split's confusion matrix and
    reliability counts as served (contract/audit.py): what a labelled bulk-scoring file is
    judged against."""
    encoder = classifier.encoder
    strategy = classifier.strategy
    if strategy == encoder.config.truncation:
        readings = encoder.read_batch(texts, strategy)
        # log p is the logits up to a per-row constant, which the softmax ignores.
        probs = classifier.probabilities(np.log(np.clip(plain_probs.astype(np.float64), 1e-30, 1)))
        window_logits = None  # one window each
    else:
        classified = classifier.classify(texts)
        readings, probs = classified.readings, classified.probs
        window_logits = classified.window_logits
    values = observe(probs, readings, unknown_id(encoder.tokenizer), window_logits)
    source = (
        f"held-out test split ({len(texts)} texts) through the served model, "
        f"{strategy} reading, temperature {classifier.temperature:.3f}"
    )
    profile = Profile.build(values, classifier.labels, source)
    if true_labels is not None:
        profile.extra["labelled"] = labelled_counts(classifier.labels, true_labels, probs).to_dict()
    log.info("reference profile: %s", source)
    return profile


def labelled_counts(
    labels: list[str], true_labels: np.ndarray, probs: np.ndarray
) -> LabelledCounts:
    counts = LabelledCounts.empty(labels)
    for true, row in zip(true_labels.tolist(), probs, strict=True):
        predicted = int(row.argmax())
        counts.add(int(true), predicted, float(row[predicted]))
    return counts
