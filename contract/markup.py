"""Web markup read as the text it stands for, written into the tokenizer itself. Torch-free.

Reviews copied from web pages carry markup: 59 % of IMDB's hold `<br />` (101,870 of them in the
25,000 reviews), four tokens each ("<", "br", "/", ">") that a reader sees as a line break. A
model trained on them reads the same review differently with and without them: the plain-text
copy of a review (what a browser's copy gives) and its HTML differ in 3 % of the make-run model's
labels (README, "Markup"). `install` adds rules to the tokenizer's normalizer: line-break and
paragraph tags become a line break, inline formatting tags a space, and the common character
entities their character. The rules live in `tokenizer.json`, so whatever loads the bundle's
tokenizer reads the same ids, and `tokenizers` maps every token's offsets back to the text as
sent: evidence spans and the page's highlights stay on the characters a person typed, and the
markup, no longer read, can never be evidence.

Only tags a page uses for layout are rules: `<grin>`, `<sigh>` or `<3`, which reviewers write
as words, are read as typed. A bundle trained before this, or with `--markup keep`, has no rules
in its tokenizer and is read as it was trained.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from tokenizers import Regex, Tokenizer, normalizers

Markup = Literal["text", "keep"]
MARKUPS: tuple[str, ...] = get_args(Markup)
DEFAULT_MARKUP: Markup = "text"

# (Oniguruma pattern, replacement), applied in order. A tag may carry attributes
# (`<p class="x">`) but never another tag. `&amp;` comes last, so "&amp;lt;" (a page showing
# "&lt;") becomes "&lt;", not "<".
_ATTRIBUTES = r"(?:\s[^<>]{0,200})?"
RULES: tuple[tuple[str, str], ...] = (
    (rf"(?i)<\s*/?\s*(?:br|p|hr|div|li|ul|ol|blockquote){_ATTRIBUTES}\s*/?\s*>", "\n"),
    (rf"(?i)<\s*/?\s*(?:i|b|em|strong|u|s|span|font|a){_ATTRIBUTES}\s*/?\s*>", " "),
    (r"&(?:quot|#34|#x22);", '"'),
    (r"&(?:apos|#39|#x27|rsquo|#8217);", "'"),
    (r"&(?:lt|#60);", "<"),
    (r"&(?:gt|#62);", ">"),
    (r"&(?:nbsp|#160);", " "),
    (r"&(?:amp|#38);", "&"),
)


def _rule_states() -> list[dict[str, Any]]:
    return [
        {"type": "Replace", "pattern": {"Regex": pattern}, "content": content}
        for pattern, content in RULES
    ]


def _normalizer_state(tokenizer: Tokenizer) -> dict[str, Any] | None:
    state = json.loads(tokenizer.to_str()).get("normalizer")
    return state if isinstance(state, dict) else None


def reads_markup(tokenizer: Tokenizer) -> bool:
    """Whether `tokenizer` reads markup as text: its normalizer starts with these rules."""
    state = _normalizer_state(tokenizer)
    if state is None or state.get("type") != "Sequence":
        return False
    rules = _rule_states()
    return state.get("normalizers", [])[: len(rules)] == rules


def install(tokenizer: Tokenizer) -> None:
    """Puts the rules in front of `tokenizer`'s own normalizer (lower-casing, accents), in
    place; a tokenizer that already has them is left as it is."""
    if reads_markup(tokenizer):
        return
    rules: list[Any] = [normalizers.Replace(Regex(p), c) for p, c in RULES]
    if tokenizer.normalizer is not None:
        rules.append(tokenizer.normalizer)
    tokenizer.normalizer = normalizers.Sequence(rules)
