"""Web markup and typographic punctuation read as the plain text they stand for, written into
the tokenizer itself. Torch-free.

Reviews copied from web pages carry markup: 59 % of IMDB's hold `<br />` (101,870 of them in the
25,000 reviews), four tokens each ("<", "br", "/", ">") that a reader sees as a line break. And
reviews typed on a phone carry typographic punctuation (’ “ ” … —: what iOS's smart punctuation
types for ' " ... --), which IMDB's reviews almost never hold (0.05 %) and the vocabulary reads as
other tokens. A model trained on IMDB reads the same review differently in each form: a review's
plain-text copy, its HTML and its phone-typed copy differ in up to 5 % of the labels of a model
trained without these rules (README, "Markup"). `install` adds rules to the tokenizer's
normalizer: line-break and paragraph tags become a line break, inline formatting tags a space,
the common character entities their character, and typographic quotes, apostrophes, ellipses and
dashes their typewriter forms. The rules live in `tokenizer.json`, so whatever loads the bundle's
tokenizer reads the same ids (a serving image built before these rules too), and `tokenizers`
maps every token's offsets back to the text as sent: evidence spans and the page's highlights
stay on the characters a person typed, and the markup, no longer read, can never be evidence.

Only tags a page uses for layout are rules: `<grin>`, `<sigh>` or `<3`, which reviewers write
as words, are read as typed. A bundle trained before this, or with `--markup keep`, has no rules
in its tokenizer and is read as it was trained; one trained with an earlier set of rules keeps
that set.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from tokenizers import Regex, Tokenizer, normalizers

Markup = Literal["text", "keep"]
DEFAULT_MARKUP: Markup = "text"

# (Oniguruma pattern, replacement), applied in order. A tag opens as HTML's do, "<" then its
# name or "/" (so "a < b > c" stays text), and may carry attributes (`<p class="x">`) but never
# another tag. `&amp;` comes last, so "&amp;lt;" (a page showing "&lt;") becomes "&lt;", not "<".
# The first rule marks a tokenizer that has these rules (`reads_markup`): never change it.
_ATTRIBUTES = r"(?:\s[^<>]{0,200})?"
RULES: tuple[tuple[str, str], ...] = (
    (rf"(?i)</?(?:br|p|hr|div|li|ul|ol|blockquote){_ATTRIBUTES}\s*/?>", "\n"),
    (rf"(?i)</?(?:i|b|em|strong|u|s|span|font|a){_ATTRIBUTES}\s*/?>", " "),
    (r"&(?:quot|#34|#x22);", '"'),
    (r"&(?:apos|#39|#x27|rsquo|#8217);", "'"),
    (r"&(?:lt|#60);", "<"),
    (r"&(?:gt|#62);", ">"),
    (r"&(?:nbsp|#160);", " "),
    (r"&(?:amp|#38);", "&"),
    # Typography (smart punctuation): one character each, so offsets stay one to one but for
    # the ellipsis, whose three dots all map to it.
    ("[\u2018\u2019\u201b\u2032\u02bc]", "'"),  # ‘ ’ ‛ ′ ʼ
    ("[\u201c\u201d\u201e\u201f\u2033]", '"'),  # “ ” „ ‟ ″
    ("\u2026", "..."),  # …
    ("\u2014", "--"),  # — (what "--" becomes as it is typed)
    ("\u2013", "-"),  # –
)


def reads_markup(tokenizer: Tokenizer) -> bool:
    """Whether `tokenizer` reads markup as text: its normalizer starts with the line-break rule,
    the first of every set of these rules (a bundle keeps the set it was trained with)."""
    if tokenizer.normalizer is None:
        return False
    state = json.loads(tokenizer.normalizer.__getstate__())
    pattern, content = RULES[0]
    first = {"type": "Replace", "pattern": {"Regex": pattern}, "content": content}
    return state.get("type") == "Sequence" and state.get("normalizers", [])[:1] == [first]


def install(tokenizer: Tokenizer) -> None:
    """Puts the rules in front of `tokenizer`'s own normalizer (lower-casing, accents), in
    place; a tokenizer that already has them is left as it is."""
    if reads_markup(tokenizer):
        return
    rules: list[Any] = [normalizers.Replace(Regex(p), c) for p, c in RULES]
    if tokenizer.normalizer is not None:
        rules.append(tokenizer.normalizer)
    tokenizer.normalizer = normalizers.Sequence(rules)
