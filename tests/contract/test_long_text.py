"""Long texts read whole or cut, torch-free: the shared encoder's strategies and windows, the
combination of window logits, and the ONNX classifier that batches windows and applies the
bundle's temperature. A word-level tokenizer (word "w<i>" is id i + 4) and a one-node-deep ONNX
graph whose logit is the mean token id of a window make every expected number computable."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from contract.bundle import BundleError, Manifest
from contract.encoder import (
    CHUNK_OVERLAP,
    STRATEGIES,
    EncoderConfig,
    TextEncoder,
    WindowLimitError,
)
from contract.predictor import OnnxClassifier, combine_windows, softmax

PAD, UNK, CLS, SEP = 0, 1, 2, 3
OFFSET = 4  # id of "w0"


def tokenizer() -> Tokenizer:
    vocab = {"[PAD]": PAD, "[UNK]": UNK, "[CLS]": CLS, "[SEP]": SEP}
    vocab |= {f"w{i}": i + OFFSET for i in range(4000)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
    )
    return tok


def text(ids: range | list[int]) -> str:
    return " ".join(f"w{i}" for i in ids)


def encoder(max_length: int = 12, truncation: str = "head+tail", head: int = 3) -> TextEncoder:
    return TextEncoder(tokenizer(), EncoderConfig(max_length, truncation, head))  # type: ignore[arg-type]


def content(reading_window: list[int]) -> list[int]:
    assert reading_window[0] == CLS and reading_window[-1] == SEP
    return [i - OFFSET for i in reading_window[1:-1]]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_text_within_the_window_reads_the_same_under_every_strategy(strategy):
    reading = encoder().read_batch([text(range(10))], strategy)[0]
    assert [content(w) for w in reading.windows] == [list(range(10))]
    assert reading.num_tokens == 10 and not reading.truncated and reading.strategy == strategy


def test_one_window_strategies_keep_head_tail_or_both():
    enc = encoder(max_length=12, head=3)  # 10 content tokens per window
    long = text(range(25))
    got = {s: enc.read_batch([long], s)[0] for s in ("head", "tail", "head+tail")}
    assert content(got["head"].windows[0]) == list(range(10))
    assert content(got["tail"].windows[0]) == list(range(15, 25))
    assert content(got["head+tail"].windows[0]) == [0, 1, 2, *range(18, 25)]
    assert all(r.truncated and r.num_tokens == 25 and len(r.windows) == 1 for r in got.values())
    # head+tail as a strategy is exactly how the model was trained to read
    assert enc.encode(long).ids == got["head+tail"].windows[0]


def test_chunks_cover_every_token_in_full_overlapping_windows():
    enc = encoder(max_length=42)  # 40 content tokens per window, overlap 10, step 30
    n = 101
    reading = enc.read_batch([text(range(n))], "chunks")[0]
    spans = [content(w) for w in reading.windows]
    assert [s[0] for s in spans] == [0, 30, 60, 61]  # the last window ends at the text's end
    assert all(len(s) == 40 for s in spans)  # no short scrap of a window
    assert sorted({t for s in spans for t in s}) == list(range(n))  # nothing unread
    for a, b in itertools.pairwise(spans):  # neighbours share >= the overlap
        assert len(set(a) & set(b)) >= int(40 * CHUNK_OVERLAP)
    assert not reading.truncated and reading.num_tokens == n
    assert enc.windows_needed(n, "chunks") == len(spans) == 4
    assert enc.windows_needed(n, "head+tail") == 1 and enc.windows_needed(40, "chunks") == 1


@pytest.mark.parametrize("n", [41, 70, 71, 100, 2000])
def test_windows_needed_counts_what_read_makes(n):
    enc = encoder(max_length=42)
    assert enc.windows_needed(n, "chunks") == len(
        enc.read_batch([text(range(n))], "chunks")[0].windows
    )


def test_window_cap_refuses_before_any_model_work_and_says_what_to_do():
    enc = encoder(max_length=42)
    texts = [text(range(101)), text(range(5))]  # 4 + 1 windows
    assert len(enc.read_batch(texts, "chunks", max_windows=5)) == 2
    with pytest.raises(WindowLimitError, match=r"need 5 windows.*limit is 4.*fewer or shorter"):
        enc.read_batch(texts, "chunks", max_windows=4)
    assert len(enc.read_batch(texts, "head+tail", max_windows=2)) == 2  # one window per text


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy must be one of"):
        encoder().read_batch(["w1"], "middle")


def test_head_tail_reading_of_a_head_trained_model_keeps_a_tail():
    # A model trained "head" may carry a head_tokens its window cannot hold (it was never used).
    enc = encoder(max_length=12, truncation="head", head=128)
    window = content(enc.read_batch([text(range(30))], "head+tail")[0].windows[0])
    assert window == [0, 1, *range(22, 30)]  # a quarter of the 10-token window, then the end


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_length": 16, "head_tokens": 12}, r"head_tokens must be between 1 and max_length"),
        ({"max_length": 4}, "max_length must be at least 8"),
    ],
)
def test_encoder_rules_have_one_home(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(**kwargs)
    EncoderConfig(max_length=16, head_tokens=11)  # max_length - 5 is the most


def test_defaults_are_the_training_recipe():
    config = EncoderConfig()
    assert (config.max_length, config.truncation, config.head_tokens) == (512, "head+tail", 128)


def test_combine_mean_and_most_confident_window():
    logits = np.array([[0.1, -0.1], [-3.0, 3.0], [0.5, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(combine_windows(logits, "mean"), logits.mean(axis=0))
    np.testing.assert_array_equal(combine_windows(logits, "max"), logits[1])
    with pytest.raises(ValueError, match="combine rule"):
        combine_windows(logits, "vote")


# ----------------------------------------------------------------- the ONNX classifier


@pytest.fixture(scope="module")
def mean_id_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """logits = [-(m - 100) / 10, (m - 100) / 10], m the mean id of the real tokens (masked)."""
    import onnx
    from onnx import TensorProto, helper

    def const(name: str, value: float) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value_float=value)

    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids", "mask"], ["kept"]),
        helper.make_node("Constant", [], ["axes"], value_ints=[1]),
        helper.make_node("ReduceSum", ["kept", "axes"], ["total"], keepdims=1),
        helper.make_node("ReduceSum", ["mask", "axes"], ["count"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["mean"]),
        const("centre", 100.0),
        const("scale", 10.0),
        helper.make_node("Sub", ["mean", "centre"], ["shifted"]),
        helper.make_node("Div", ["shifted", "scale"], ["pos"]),
        helper.make_node("Neg", ["pos"], ["neg"]),
        helper.make_node("Concat", ["neg", "pos"], ["logits"], axis=1),
    ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph(nodes, "mean_id", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("onnx") / "mean_id.onnx"
    onnx.save(model, str(path))
    return path


def logit(ids: list[int] | range) -> float:
    """The graph's positive logit for one window of words `ids` ([CLS] and [SEP] count too)."""
    return (float(np.mean([CLS, *(i + OFFSET for i in ids), SEP])) - 100) / 10


def classifier(path: Path, **kwargs) -> OnnxClassifier:
    return OnnxClassifier(path, encoder(max_length=42), ["negative", "positive"], 1, **kwargs)


def test_chunk_windows_run_batched_and_combine_per_text(mean_id_model):
    clf = classifier(mean_id_model)
    long = list(range(0, 101))  # windows start at 0, 30, 60, 61
    texts = [text(long), text(range(150, 160)), text(range(5))]
    got = clf.classify(texts, "chunks")
    windows = [range(0, 40), range(30, 70), range(60, 100), range(61, 101)]
    expected_mean = np.mean([logit(w) for w in windows])
    np.testing.assert_allclose(got.logits[0], [-expected_mean, expected_mean], rtol=1e-5)
    np.testing.assert_allclose(got.logits[1, 1], logit(range(150, 160)), rtol=1e-5)
    assert [len(r.windows) for r in got.readings] == [4, 1, 1]
    # Each window's own logits come with the answer (no second pass), and combine to the text's.
    assert [w.shape for w in got.window_logits] == [(4, 2), (1, 2), (1, 2)]
    np.testing.assert_allclose(got.window_logits[0][:, 1], [logit(w) for w in windows], rtol=1e-5)
    np.testing.assert_allclose(got.window_logits[0].mean(axis=0), got.logits[0], rtol=1e-6)
    np.testing.assert_array_equal(got.window_logits[1][0], got.logits[1])
    assert got.tokenize_ms > 0 and got.inference_ms > 0
    # the most confident window: the one whose mean id lies farthest from 100
    most = clf.classify(texts, "chunks", combine="max").logits[0, 1]
    assert most == pytest.approx(max((logit(w) for w in windows), key=abs), rel=1e-5)
    # batching changes nothing: each text alone gives the same logits
    alone = np.vstack([clf.classify([t], "chunks").logits for t in texts])
    # The graph sums small integer ids (exact in fp32) and divides once: 2.7e-8 relative error
    # above, 0.0 here between batch shapes; rtol 1e-5 / 1e-6 hold whatever the vector width.
    np.testing.assert_allclose(got.logits, alone, rtol=1e-6)


def test_strategy_changes_what_a_long_text_is_judged_on(mean_id_model):
    clf = classifier(mean_id_model)
    # low ids first (negative), high ids at the end (positive)
    review = text([*range(0, 60), *range(300, 330)])
    labels = {s: int(clf.classify([review], s).probs[0].argmax()) for s in STRATEGIES}
    assert labels["head"] == 0 and labels["tail"] == 1
    assert clf.classify([review], "head+tail").readings[0].truncated
    assert not clf.classify([review], "chunks").readings[0].truncated


def test_temperature_scales_scores_not_labels(mean_id_model):
    plain, hot = classifier(mean_id_model), classifier(mean_id_model, temperature=2.0)
    texts = [text(range(120, 130)), text(range(40, 50))]
    a, b = plain.classify(texts), hot.classify(texts)
    np.testing.assert_allclose(a.logits, b.logits)
    np.testing.assert_allclose(b.probs, softmax(a.logits / 2.0), rtol=1e-6)
    assert (a.probs.argmax(1) == b.probs.argmax(1)).all()
    assert (b.probs.max(1) < a.probs.max(1)).all()  # T > 1 softens
    np.testing.assert_allclose(hot.predict_proba(texts), b.probs, rtol=1e-6)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        classifier(mean_id_model, temperature=0.0)


def test_default_strategy_is_the_trained_truncation(mean_id_model):
    assert classifier(mean_id_model).strategy == "head+tail"
    assert classifier(mean_id_model, strategy="chunks").strategy == "chunks"


def manifest_dict(**extra: object) -> dict:
    entry = {"sha256": "0" * 64, "size": 1}
    return {"format_version": 1, "run_id": "r", "labels": ["negative", "positive"],
            "encoder": EncoderConfig(42, "head+tail", 3).to_dict(),
            "files": {"model.onnx": entry, "tokenizer.json": entry}, **extra}  # fmt: skip


def test_manifest_temperature_and_reading_are_optional_and_checked():
    old = Manifest.from_dict(manifest_dict())
    assert old.temperature == 1.0 and old.long_text == {}
    new = Manifest.from_dict(
        manifest_dict(temperature=1.7, long_text={"strategy": "chunks", "combine": "max"})
    )
    assert new.temperature == 1.7 and new.long_text["strategy"] == "chunks"
    for bad in ({"temperature": 0}, {"temperature": "hot"}, {"temperature": math.inf}):
        with pytest.raises(BundleError, match="temperature must be a positive number"):
            Manifest.from_dict(manifest_dict(**bad))
    with pytest.raises(BundleError, match="long_text must be"):
        Manifest.from_dict(manifest_dict(long_text={"strategy": "middle"}))


def test_classifier_from_bundle_uses_the_manifest(mean_id_model, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(mean_id_model.read_bytes())
    tokenizer().save(str(bundle / "tokenizer.json"))
    manifest = Manifest.from_dict(
        manifest_dict(temperature=3.0, long_text={"strategy": "chunks", "combine": "max"})
    )
    clf = OnnxClassifier.from_bundle(bundle, manifest, threads=1)
    assert (clf.temperature, clf.strategy, clf.combine) == (3.0, "chunks", "max")
    plain = OnnxClassifier.from_bundle(bundle, Manifest.from_dict(manifest_dict()), threads=1)
    assert (plain.temperature, plain.strategy, plain.combine) == (1.0, "head+tail", "mean")
