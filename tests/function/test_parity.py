"""Parity: what the API answers matches the fine-tuned torch model on sample reviews, within
the training job's own parity gate (its settings from the bundle's manifest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bench.reviews import imdb_reviews
from contract.bundle import read_manifest
from contract.encoder import TextEncoder

N_REVIEWS = 32


def torch_probs(hf_model: Path, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(hf_model).eval()
    arrays = encoder.pad(encoder.encode_batch(texts))  # the same ids serving feeds ONNX
    with torch.inference_mode():
        logits = model(**{k: torch.from_numpy(v) for k, v in arrays.items()}).logits
    return torch.softmax(logits.float(), dim=-1).numpy()


def test_served_predictions_match_torch(
    client: TestClient, tiny_bundle: Path, tiny_hf_model: Path, settings
) -> None:
    from training.parity import ParityGate, parity

    manifest = read_manifest(tiny_bundle)
    samples = [s for s in imdb_reviews(3 * N_REVIEWS, seed=11) if len(s[0]) <= settings.max_chars]
    samples = samples[:N_REVIEWS]
    texts, labels = [t for t, _ in samples], np.array([y for _, y in samples])
    served = []
    for start in range(0, len(texts), settings.max_texts):
        r = client.post("/predict", json={"text": texts[start : start + settings.max_texts]})
        assert r.status_code == 200, r.text
        served += [
            [p["scores"][label] for label in manifest.labels] for p in r.json()["predictions"]
        ]
    encoder = TextEncoder.from_file(tiny_bundle / "tokenizer.json", manifest.encoder_config)
    reference = torch_probs(tiny_hf_model, encoder, texts)

    args = manifest.training_args
    gate = ParityGate(
        alpha=float(args.get("parity_alpha", 0.01)),
        max_accuracy_drop=float(args.get("max_accuracy_drop", 0.005)),
        max_agreement_loss=float(args.get("max_agreement_loss", 0.02)),
    )
    result = parity(reference, np.array(served), labels, gate, manifest.precision)
    assert result.passed, result.summary()
    # The API must add nothing of its own on top of the exported model's own error.
    recorded = (
        manifest.metrics.get("parity", {}).get(manifest.precision, {}).get("max_abs_prob_diff")
    )
    if recorded is not None:
        assert result.max_abs_prob_diff <= max(2 * recorded, 0.05)
