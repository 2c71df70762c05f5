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

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Entities:
    """The character entities a tokenizer's rules read as one character (`&amp;` as `&`), and
    where they sit in a text as sent. `tokenizers` maps the token read from an entity to the
    entity's last character alone, the `;`: evidence would highlight a `;` and split "don&#39;t"
    in three. `read` puts each such token back over its whole entity. No rules (a bundle trained
    with `--markup keep` or before the rules): every text is left as it is."""

    rules: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Entities:
        """The tokenizer's own rules (a bundle keeps the set it was trained with) that replace
        several characters by one visible character: its entities, not its tags (a space or a
        line break, never a token) and not its typography (one character each already)."""
        if not reads_markup(tokenizer):
            return cls()
        state = json.loads(tokenizer.normalizer.__getstate__())
        rules = []
        for rule in state.get("normalizers", []):
            pattern = (
                rule.get("pattern", {}).get("Regex") if rule.get("type") == "Replace" else None
            )
            content = rule.get("content", "")
            if pattern and len(content) == 1 and not content.isspace():
                try:
                    rules.append((re.compile(pattern), content))
                except re.error:  # Oniguruma syntax Python lacks: offsets as tokenizers gives
                    continue
        return cls(tuple(rules))

    def read(
        self, text: str, offsets: Sequence[tuple[int, int]]
    ) -> tuple[str, list[tuple[int, int]]]:
        """(`text` with each entity written as its character over the entity's length, the
        tokens' offsets widened so that none starts or ends inside an entity). The first is
        what words are split on (contract/words.py: "don&#39;t" is one word, "&quot;" is
        punctuation), the second what evidence points at."""
        found = sorted(
            (m.start(), m.end(), character)
            for pattern, character in self.rules
            for m in pattern.finditer(text)
            if m.end() - m.start() > 1
        )
        if not found:
            return text, list(offsets)
        starts = [start for start, _, _ in found]
        pieces, at = [], 0
        for start, end, character in found:
            if start >= at:  # the rules' entities never overlap; a guard all the same
                pieces += [text[at:start], character * (end - start)]
                at = end
        masked = "".join(pieces) + text[at:]

        def widen(start: int, end: int) -> tuple[int, int]:
            k = bisect.bisect_right(starts, start) - 1
            if k >= 0 and start < found[k][1]:  # starts inside an entity: from its "&"
                start = found[k][0]
            k = bisect.bisect_right(starts, end - 1) - 1
            if k >= 0 and end - 1 < found[k][1]:  # ends inside one: to its ";"
                end = found[k][1]
            return start, end

        widened = [widen(start, end) if end > start else (start, end) for start, end in offsets]
        return masked, widened


def install(tokenizer: Tokenizer) -> None:
    """Puts the rules in front of `tokenizer`'s own normalizer (lower-casing, accents), in
    place; a tokenizer that already has them is left as it is."""
    if reads_markup(tokenizer):
        return
    rules: list[Any] = [normalizers.Replace(Regex(p), c) for p, c in RULES]
    if tokenizer.normalizer is not None:
        rules.append(tokenizer.normalizer)
    tokenizer.normalizer = normalizers.Sequence(rules)
