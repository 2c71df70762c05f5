"""The parity gate decides from paired predictions: chance flips of a healthy export pass, a
broken export (random weights, inputs in the wrong order) fails, on any test-set size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from training.parity import ParityGate, binomial_tail, parity

GATE = ParityGate(alpha=0.01, max_accuracy_drop=0.005, max_agreement_loss=0.02)


def paired(n_both: int, b: int, c: int, n_neither: int) -> tuple[np.ndarray, ...]:
    """Torch and ONNX probabilities and labels with exactly these counts: both right, torch-only
    right (b), ONNX-only right (c), both wrong."""
    labels = np.ones(n_both + b + c + n_neither, dtype=int)
    torch_right = np.r_[np.ones(n_both + b), np.zeros(c + n_neither)].astype(bool)
    onnx_right = np.r_[np.ones(n_both), np.zeros(b), np.ones(c), np.zeros(n_neither)].astype(bool)

    def probs(right: np.ndarray) -> np.ndarray:
        p = np.where(right, 0.8, 0.2)
        return np.c_[1 - p, p]

    return probs(torch_right), probs(onnx_right), labels


def test_binomial_tail_is_exact():
    assert binomial_tail(7, 8, 0.5) == pytest.approx(9 / 256)
    assert binomial_tail(0, 10, 0.3) == 1.0 and binomial_tail(11, 10, 0.3) == 0.0
    expected = sum(math.comb(1000, k) * 0.02**k * 0.98 ** (1000 - k) for k in range(30, 1001))
    assert binomial_tail(30, 1000, 0.02) == pytest.approx(expected, rel=1e-9)


def test_the_avx2_run_the_old_gate_failed_passes():
    # issue 11: torch 86.8 %, int8 86.2 %, agreement 99.2 % on 1,000 reviews: 8 flips, 7 against.
    t, o, y = paired(861, 7, 1, 131)
    result = parity(t, o, y, GATE)
    assert result.accuracy_drop == pytest.approx(0.006) and result.agreement == pytest.approx(0.992)
    assert result.mcnemar_p == pytest.approx(9 / 256)
    assert result.passed, result.summary()


def test_a_real_int8_degradation_on_a_large_test_set_fails():
    # 40 of 45 flips against int8 on 1,000 reviews: 3.5 points, p ~ 1e-7, more than 2 % flipped.
    result = parity(*paired(830, 40, 5, 125), GATE)
    assert not result.passed
    assert any("McNemar" in r for r in result.reasons)


def test_a_significant_but_negligible_drop_passes():
    # 10,000 reviews, 60 flips 45 against: significant (p ~ 1e-4) but 0.3 points.
    result = parity(*paired(8600, 45, 15, 1340), GATE)
    assert result.mcnemar_p < GATE.alpha and result.passed


def test_a_broken_export_fails_even_when_torch_is_at_chance():
    # A near-chance torch model: a random export loses nothing on average, so McNemar is blind;
    # the flip guard is not.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 48)
    t = np.eye(2)[rng.integers(0, 2, 48)] * 0.2 + 0.4
    o = np.eye(2)[rng.integers(0, 2, 48)] * 0.2 + 0.4
    result = parity(t, o, y, GATE)
    assert not result.passed and any("flipped" in r for r in result.reasons)
    assert result.to_dict()["flips"] == result.flips


def test_record_holds_numbers_and_rule():
    record = parity(*paired(861, 7, 1, 131), GATE).to_dict()
    assert record["torch_only_correct"] == 7 and record["onnx_only_correct"] == 1
    assert record["n"] == 1000 and "McNemar" in record["rule"] and record["alpha"] == 0.01


# A real model, real ONNX exports: MiniLM with a logistic-regression head fitted on its pooled
# features of 160 reviews (seconds, no fine-tuning). Near chance, as a model after a few steps
# is: exactly where McNemar is blind and the flip guard must catch a broken export. Its head
# splits the reviews between both classes with clear margins, so a healthy int8 flips few.
@pytest.fixture(scope="module")
def signal_model(tmp_path_factory):
    import torch
    from sklearn.linear_model import LogisticRegression

    from contract.encoder import EncoderConfig, TextEncoder
    from training.args import DataArguments
    from training.data import load_splits
    from training.finetune import load_model

    data = DataArguments(max_train_samples=160, max_eval_samples=2, max_test_samples=160)
    splits = load_splits(data, seed=3)
    torch.manual_seed(0)
    model = load_model("embedded", data.labels, "cls").eval()  # reads pooler_output below
    from tokenizers import Tokenizer

    from training.finetune import resolve_model

    tokenizer = Tokenizer.from_file(f"{resolve_model('embedded')}/tokenizer.json")
    encoder = TextEncoder(tokenizer, EncoderConfig(max_length=64, truncation="head"))

    def pooled(texts: list[str]) -> np.ndarray:
        arrays = encoder.pad(encoder.encode_batch(texts))
        with torch.inference_mode():
            return model.bert(**{k: torch.from_numpy(v) for k, v in arrays.items()}).pooler_output

    head = LogisticRegression(C=10.0, max_iter=2000).fit(
        pooled(splits.train["text"].tolist()).numpy(), splits.train["label"]
    )
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor(np.r_[-head.coef_, head.coef_] / 2))
        model.classifier.bias.copy_(torch.tensor(np.r_[-head.intercept_, head.intercept_] / 2))
    texts = splits.test["text"].tolist()
    with torch.inference_mode():
        logits = model.classifier(pooled(texts))
    torch_probs = torch.softmax(logits, -1).numpy()
    labels = splits.test["label"].to_numpy()
    assert 0.25 < torch_probs.argmax(-1).mean() < 0.75, "the fixture should predict both classes"
    return model, encoder, texts, labels, torch_probs, tmp_path_factory.mktemp("signal")


@pytest.fixture(scope="module")
def fp32_onnx(signal_model) -> Path:
    from training import export

    model, *_, tmp = signal_model
    return export.export_onnx(model, tmp / "fp32.onnx", INPUTS)


def predict(signal_model, path: Path) -> np.ndarray:
    from contract.predictor import OnnxClassifier

    _, encoder, texts, *_ = signal_model
    return OnnxClassifier(path, encoder, ["negative", "positive"]).predict_proba(texts)


def gate_on(signal_model, path: Path):
    _, _, _, labels, torch_probs, _ = signal_model
    return parity(torch_probs, predict(signal_model, path), labels, GATE)


INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def test_a_healthy_int8_export_passes(signal_model, fp32_onnx):
    from training.export import quantize_int8

    result = gate_on(signal_model, quantize_int8(fp32_onnx, fp32_onnx.with_suffix(".int8.onnx")))
    assert result.passed, result.summary()


def test_inputs_in_the_wrong_order_fail(signal_model, fp32_onnx):
    # The graph reads its attention_mask input as token ids and its input_ids as the mask.
    model = onnx.load(str(fp32_onnx))
    swap = {"input_ids": "attention_mask", "attention_mask": "input_ids"}
    for node in model.graph.node:
        node.input[:] = [swap.get(name, name) for name in node.input]
    path = fp32_onnx.with_suffix(".swapped.onnx")
    onnx.save(model, str(path))
    result = gate_on(signal_model, path)
    assert not result.passed, result.summary()


def test_random_weights_fail(signal_model, fp32_onnx):
    from onnx import numpy_helper

    model = onnx.load(str(fp32_onnx))
    rng = np.random.default_rng(1)
    for init in model.graph.initializer:
        weights = numpy_helper.to_array(init)
        if weights.dtype == np.float32 and weights.size > 1:
            noise = rng.normal(0, 0.05, weights.shape).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(noise, init.name))
    path = fp32_onnx.with_suffix(".random.onnx")
    onnx.save(model, str(path))
    result = gate_on(signal_model, path)
    assert not result.passed, result.summary()
