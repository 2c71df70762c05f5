"""Words of a text, as a person reads them, over the tokenizer's sub-word tokens: what evidence
is reported in. Torch-free.

A word is a run of tokens with no space between them, where a mark joins the two sides only
as it does inside a word ("didn't", "well-made", "R&B") or inside a number ("9/10", "1,000",
"7.5"); any other punctuation stands alone ("great" and "!" in "great!", "film", ".", "<", "br"
in "film.<br"): a reader highlights "great", and an exclamation mark can carry sentiment of its
own. A full stop or comma between two words is a lost space ("film.The", "animation,but",
common in reviews), so it splits them as a reader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Marks that join the tokens on their two sides into one word: between letters or digits, and
# the extra ones between two digits only.
IN_WORD = frozenset("'\u2019\u02bc-\u2010&")  # ' ’ ʼ - ‐ &
IN_NUMBER = IN_WORD | frozenset("./,:")


@dataclass(frozen=True)
class Words:
    """The words of one text: character spans, and which word each content token is in."""

    spans: list[tuple[int, int]]  # [start, end) in characters (code points) of the text
    of_token: list[int]  # word index of every content token (specials excluded), in order


def split_words(text: str, offsets: Sequence[tuple[int, int]]) -> Words:
    """`offsets`: each content token's [start, end) in `text`, as `tokenizers` gives them."""
    punct = [not any(ch.isalnum() for ch in text[start:end]) for start, end in offsets]
    spans: list[tuple[int, int]] = []
    of_token: list[int] = []
    joined = False  # whether the previous token continued the word before it
    for i, (start, end) in enumerate(offsets):
        touching = i > 0 and start <= offsets[i - 1][1]
        if punct[i]:
            following = i + 1 < len(offsets) and offsets[i + 1][0] <= end and not punct[i + 1]
            joined = (
                touching
                and not punct[i - 1]
                and following
                and _joins(text, offsets[i - 1][1], (start, end), offsets[i + 1][0])
            )
        else:
            joined = touching and (not punct[i - 1] or joined)
        if joined:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        of_token.append(len(spans) - 1)
    return Words(spans=spans, of_token=of_token)


def _joins(text: str, before: int, mark: tuple[int, int], after: int) -> bool:
    """Whether the mark at `mark` joins the word ending at `before` and the one starting at
    `after` (code point offsets into `text`)."""
    between_digits = text[before - 1 : before].isdigit() and text[after : after + 1].isdigit()
    return set(text[mark[0] : mark[1]]) <= (IN_NUMBER if between_digits else IN_WORD)
