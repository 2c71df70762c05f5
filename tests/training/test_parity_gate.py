"""The parity gate decides from paired predictions: chance flips of a healthy export pass, a
broken export (random weights, inputs in the wrong order) fails, on any test-set size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.training.signal_model import INPUTS, LABELS, SignalModel, build
from training.parity import ParityGate, parity
from training.stats import binomial_tail

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


# A real model, real ONNX exports (tests/training/signal_model.py: MiniLM's first 3 layers,
# mean-pooled, a logistic-regression head; no fine-tuning). Broken exports of it must fail the
# gate even where McNemar is blind; a healthy int8 export of it must pass on every CPU kind.
@pytest.fixture(scope="module")
def signal_model(tmp_path_factory) -> SignalModel:
    return build(tmp_path_factory.mktemp("signal"))


@pytest.fixture(scope="module")
def fp32_onnx(signal_model: SignalModel) -> Path:
    from training import export

    return export.export_onnx(signal_model.model, signal_model.work / "fp32.onnx", INPUTS)


def predict(signal_model: SignalModel, path: Path) -> np.ndarray:
    from contract.predictor import OnnxClassifier

    return OnnxClassifier(path, signal_model.encoder, LABELS).predict_proba(signal_model.texts)


def gate_on(signal_model: SignalModel, path: Path):
    return parity(signal_model.torch_probs, predict(signal_model, path), signal_model.labels, GATE)


def flip_allowance(n: int) -> int:
    """The most flips of n the guard lets through at GATE's level."""
    return next(
        k for k in range(n + 1) if binomial_tail(k + 1, n, GATE.max_agreement_loss) < GATE.alpha
    )


def test_the_fixture_has_real_signal_away_from_the_boundary(signal_model: SignalModel) -> None:
    # Measured (torch fp32, identical on every CPU kind to far below these margins): 75.7 %
    # accurate on its 400 reviews, median |p - 0.5| 0.17. A near-chance fixture (53.8 %, issue 20)
    # puts its reviews at the boundary, where int8 flips them on one kernel and not another.
    probs, labels = signal_model.torch_probs, signal_model.labels
    assert (probs.argmax(-1) == labels).mean() >= 0.72
    assert np.median(np.abs(probs[:, 1] - 0.5)) >= 0.1
    assert 0.3 < probs.argmax(-1).mean() < 0.7, "the fixture should predict both classes"


def test_a_healthy_int8_export_passes(signal_model: SignalModel, fp32_onnx: Path) -> None:
    from training.export import fuse_for_cpu, quantize_int8

    # The route a bundle ships (training/ship.py): fused fp32 graph, then int8.
    fused = signal_model.work / "fused.onnx"
    assert fuse_for_cpu(fp32_onnx, fused, signal_model.model.config).get("Attention")
    result = gate_on(signal_model, quantize_int8(fused, signal_model.work / "int8.onnx"))
    # Flips, measured (the guard allows 15, fails at 16): each review run alone, as served since
    # 6d58df2, 9 of 400 on AVX2 and 4 on AVX-512 VNNI (largest probability move 0.040, at aba1f4b);
    # with two 128-token windows packed per run before, 6 on AVX2 and 7 on VNNI. Which borderline
    # reviews a kernel flips differs; the count stays at 4-9 across kernels and batching, at
    # least 6 under the allowance. Printed on failure, with the CPU kind in the pytest header
    # (tests/conftest.py).
    assert flip_allowance(len(signal_model.labels)) == 15
    assert result.passed, result.summary()


def test_inputs_in_the_wrong_order_fail(signal_model: SignalModel, fp32_onnx: Path) -> None:
    # The graph reads its attention_mask input as token ids and its input_ids as the mask.
    model = onnx.load(str(fp32_onnx))
    swap = {"input_ids": "attention_mask", "attention_mask": "input_ids"}
    for node in model.graph.node:
        node.input[:] = [swap.get(name, name) for name in node.input]
    path = fp32_onnx.with_suffix(".swapped.onnx")
    onnx.save(model, str(path))
    result = gate_on(signal_model, path)
    assert not result.passed, result.summary()


def test_random_weights_fail(signal_model: SignalModel, fp32_onnx: Path) -> None:
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
