"""Trainer plumbing that the end-to-end run cannot pin down on a tiny model."""

from __future__ import annotations

import numpy as np
import torch

from contract.encoder import EncoderConfig, TextEncoder
from training.args import JobArguments
from training.finetune import build_trainer, encode_dataset, predict_proba, training_arguments


def test_test_predictions_stay_in_dataset_order_with_length_grouping(tiny_hf_model, tmp_path):
    """Length grouping must not reorder predictions against their labels."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_hf_model).eval()
    encoder = TextEncoder.from_file(
        tiny_hf_model / "tokenizer.json", EncoderConfig(max_length=32, truncation="head")
    )
    texts = [("great " * (i % 17 + 1)) + ("awful " * (i % 5)) for i in range(40)]
    data = encode_dataset(encoder, texts, [i % 2 for i in range(40)])
    job = JobArguments(group_by_length=True, per_device_eval_batch_size=4, progress=False)
    trainer = build_trainer(
        model,
        training_arguments(job, str(tmp_path), evaluate=False, save=False),
        encoder,
        data,
        None,
    )
    probs = predict_proba(trainer, data)
    with torch.no_grad():
        batch = {
            k: torch.from_numpy(v) for k, v in encoder.pad(encoder.encode_batch(texts)).items()
        }
        expected = torch.softmax(model(**batch).logits, -1).numpy()
    # torch fp32 in batches of 4 against one batch of 40: 8.9e-8 here; batch shape changes only
    # the reduction order (~1e-7 on any ISA), 1e-4 is three orders above it.
    np.testing.assert_allclose(probs, expected, atol=1e-4)
