"""The training job's data and a labelled bulk-scoring file read labels by one rule
(contract/audit.py: label_lookup, label_key), so a file labelled for training is labelled for an
audit."""

from __future__ import annotations

import pandas as pd

from contract.audit import parse_label
from training.args import DataArguments
from training.data import map_labels

LABELS = ["negative", "positive"]


def test_labels_read_as_the_training_job_reads_its_data() -> None:
    """One rule for both (training/data.py uses label_lookup): a file labelled for training
    is labelled for an audit; an index wins over a name that is digits, as training reads it."""
    values = ["positive", "NEG", "pos", 1, 0.0, "1", " Negative ", True]
    frame = pd.DataFrame({"text": ["a review"] * len(values), "label": values})
    trained = map_labels(frame, DataArguments(), "test")["label"].tolist()
    assert trained == [parse_label(v, LABELS)[0] for v in values]
    assert parse_label("0", ["1", "0"]) == (0, None)
    assert "or neg/pos" not in (parse_label("x", ["a", "b"])[1] or "")
