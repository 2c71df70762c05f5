"""Evidence over texts built from markup, entities and typography, generated (hypothesis) and
explained by the tiny bundle's explainer directly: it never fails, every span and read range
lies on the text as sent and never cuts an entity in two, and a text escaped as HTML or typed on
a phone gets its plain keyboard copy's evidence. Equalities of the same ids read in runs of the
same shape: they hold on every CPU kind, whatever its int8 kernels round."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.bundle import read_manifest
from contract.evidence import Explainer
from contract.predictor import OnnxClassifier

# What web pages and phones put in a review, what reviewers type, and what trips a tokenizer.
PIECES = [
    *["<br />", "<br>", "</p>", "<p class='x'>", "<i>", "</i>", "&amp;", "&quot;", "&#39;"],
    *["&lt;", "&gt;", "&nbsp;", "&#160;", "&amp;lt;", "&", ";", "\u2026", "\u2019", "\u201c"],
    *["\u2014", " ", "\n", "\u200b", "\U0001f3ac", "e\u0301", "<3", "<grin>", "a < b", ">"],
    *["good", "awful", "not", "film", ".", ",", "!", "9/10", "don't", "AT&T", "[SEP]", "#39"],
]
# Plain text whose HTML escape reads as itself: no tag or entity of its own to decode.
PLAIN = ["good", "awful", "not", "film", " ", ".", ",", "!", "9/10", "don't", "AT&T", "R&B"]
PLAIN += ['"', "'", "&", ";", "\n", "it's", "\u2014"]
# The entities the rules read as one character (contract/markup.py RULES): "&good;" is text.
ENTITY = re.compile(r"&(?:quot|#34|#x22|apos|#39|#x27|rsquo|#8217|lt|#60|gt|#62|amp|#38);")
# Generated texts are the same on every run: a failure is reproducible, never a draw.
EXAMPLES = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def explainer(tiny_bundle: Path) -> Explainer:
    classifier = OnnxClassifier.from_bundle(tiny_bundle, read_manifest(tiny_bundle), threads=1)
    assert classifier.encoder.entities.rules, "the tiny bundle reads markup as text"
    return Explainer(classifier)


def explain(explainer: Explainer, texts: list[str]) -> list:
    classified = explainer.classifier.classify(texts)
    labels = classified.probs.argmax(axis=-1).tolist()
    return explainer.explain(texts, classified.readings, labels, k=64)


def inside_an_entity(text: str) -> set[int]:
    """Positions strictly inside an entity (after its "&", up to its ";")."""
    return {i for m in ENTITY.finditer(text) for i in range(m.start() + 1, m.end())}


@settings(EXAMPLES, max_examples=80)
@given(
    st.lists(
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=30).map("".join),
        min_size=1,
        max_size=3,
    )
)
def test_evidence_lies_on_the_text_as_sent(explainer: Explainer, texts: list[str]) -> None:
    for text, found in zip(texts, explain(explainer, texts), strict=True):
        cut = inside_an_entity(text)
        for start, end, _ in found.spans:
            assert 0 <= start < end <= len(text)
            assert start not in cut and end not in cut, (text, text[start:end])
        for start, end in found.read + found.windows:
            assert 0 <= start <= end <= len(text) and start not in cut and end not in cut


@settings(EXAMPLES, max_examples=60)
@given(st.lists(st.sampled_from(PLAIN), min_size=1, max_size=30).map("".join))
def test_a_text_escaped_as_html_gets_its_plain_copy_s_evidence(
    explainer: Explainer, plain: str
) -> None:
    escaped = html.escape(plain)
    ours, theirs = explain(explainer, [escaped, plain])
    assert [w for *_, w in ours.spans] == [w for *_, w in theirs.spans]
    assert [html.unescape(escaped[a:b]) for a, b, _ in ours.spans] == [
        plain[a:b] for a, b, _ in theirs.spans
    ]


KEYBOARD = ["good", "awful", "not", "film", " ", ".", "!", "don't", "'", '"', "...", "--", "-"]
SMART = {"...": "\u2026", "--": "\u2014", "'": "\u2019", '"': "\u201d"}  # what a phone types


@settings(EXAMPLES, max_examples=60)
@given(st.lists(st.sampled_from(KEYBOARD), min_size=1, max_size=30))
def test_a_text_typed_on_a_phone_gets_its_keyboard_copy_s_evidence(
    explainer: Explainer, pieces: list[str]
) -> None:
    keyboard = "".join(pieces)
    phone = "".join(SMART.get(p, p) for p in pieces)
    ours, theirs = explain(explainer, [phone, keyboard])
    assert [w for *_, w in ours.spans] == [w for *_, w in theirs.spans]
