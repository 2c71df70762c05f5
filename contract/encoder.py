"""The one text encoder shared by training and serving: text -> token ids.

Training builds its dataset with it and serving calls it per request, so the same text always
becomes the same ids. Torch-free: it needs only `tokenizers` and numpy.

Truncation keeps either the first tokens ("head") or the first `head_tokens` plus the last
remaining ones ("head+tail", Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?"):
reviews often state the verdict at the end. That is how a model is trained and, by default, how
it reads. A text longer than the window can also be read another way (`read_batch`): only its
first tokens ("head"), only its last ("tail"), or whole, as overlapping windows ("chunks") whose
logits `contract.predictor.combine_windows` turns into one answer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

import numpy as np
from tokenizers import Tokenizer

from contract.markup import Entities
from contract.words import Words, split_words

Truncation = Literal["head", "head+tail"]
TRUNCATIONS: tuple[str, ...] = get_args(Truncation)
# How a text longer than the window is read (the trained truncation is one of them).
Strategy = Literal["head+tail", "head", "tail", "chunks"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
# How the logits of a text's chunk windows become one answer (contract.predictor.combine_windows).
Combine = Literal["mean", "max"]
COMBINES: tuple[str, ...] = get_args(Combine)

# The recipe's encoder (Sun et al.: 128 head tokens of BERT's 512). The training CLI's flags
# take their defaults from here, so a bundle and its training command cannot disagree.
DEFAULT_MAX_LENGTH = 512
DEFAULT_TRUNCATION: Truncation = "head+tail"
DEFAULT_HEAD_TOKENS = 128
MIN_MAX_LENGTH = 8
# Special tokens a tokenizer may put around one sequence ([CLS] ... [SEP] is 2; some add more).
# Reserved out of max_length by the head_tokens rule, so that rule needs no tokenizer.
MAX_SPECIAL_TOKENS = 4
# Chunk windows overlap by a quarter of a window: a sentence of up to a quarter window (~127
# tokens at 512; IMDB sentences run ~20-30) lies whole in at least one window, wherever the
# boundaries fall, for at most a third more windows than cutting end to end (a 2,000-token
# review: 5 windows of 510 instead of 4). Half overlap would double the work for sentences
# no review has.
CHUNK_OVERLAP = 0.25
_PAD_CANDIDATES = ("[PAD]", "<pad>", "<|padding|>", "<|endoftext|>")


def is_strategy(name: str) -> TypeGuard[Strategy]:
    return name in STRATEGIES


class WindowLimitError(ValueError):
    """A batch needs more model windows than allowed; the message says what to do."""

    def __init__(self, windows: int, limit: int) -> None:
        super().__init__(
            f"these texts need {windows} windows of the model under the 'chunks' strategy; "
            f"the limit is {limit} per request. Send fewer or shorter texts per request, or "
            "read them with a one-window strategy ('head+tail', 'head' or 'tail')"
        )
        self.windows = windows
        self.limit = limit


def check_encoder_settings(
    max_length: int, truncation: str, head_tokens: int, *, prefix: str = ""
) -> None:
    """The one home of the encoder's rules; `prefix` ("--") names them as the training CLI's
    flags. Raises ValueError saying what to change."""
    if truncation not in TRUNCATIONS:
        raise ValueError(f"{prefix}truncation must be one of {TRUNCATIONS}, got {truncation!r}")
    if max_length < MIN_MAX_LENGTH:
        raise ValueError(f"{prefix}max_length must be at least {MIN_MAX_LENGTH}, got {max_length}")
    most = max_length - MAX_SPECIAL_TOKENS - 1  # at least one tail token stays
    if truncation == "head+tail" and not 0 < head_tokens <= most:
        raise ValueError(
            f"{prefix}head_tokens must be between 1 and {prefix}max_length - "
            f"{MAX_SPECIAL_TOKENS + 1} ({most}) for head+tail truncation, got {head_tokens}: "
            f"lower {prefix}head_tokens or raise {prefix}max_length"
        )


@dataclass(frozen=True)
class EncoderConfig:
    """How text becomes ids; stored in the bundle manifest so serving encodes like training."""

    max_length: int = DEFAULT_MAX_LENGTH
    truncation: Truncation = DEFAULT_TRUNCATION
    head_tokens: int = DEFAULT_HEAD_TOKENS

    def __post_init__(self) -> None:
        check_encoder_settings(self.max_length, self.truncation, self.head_tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        return cls(
            max_length=int(data["max_length"]),
            truncation=data["truncation"],
            head_tokens=int(data.get("head_tokens", DEFAULT_HEAD_TOKENS)),
        )


@dataclass(frozen=True)
class Encoded:
    """One encoded text: ids with special tokens, and what truncation did."""

    ids: list[int]
    num_tokens: int  # content tokens before truncation (specials excluded)
    truncated: bool


@dataclass(frozen=True)
class Reading:
    """One text as the model reads it under a strategy: one window, or several (chunks)."""

    windows: list[list[int]]  # ids with special tokens, one list per model window
    num_tokens: int  # content tokens of the whole text (specials excluded, nothing cut)
    strategy: Strategy
    truncated: bool  # whether some tokens of the text were never read


class TextEncoder:
    """Encodes text with a `tokenizers.Tokenizer` under an `EncoderConfig`."""

    def __init__(self, tokenizer: Tokenizer, config: EncoderConfig, *, copy: bool = True) -> None:
        # Our own truncation replaces the tokenizer's: work on a private copy of a caller's
        # tokenizer (`from_file` owns the one it loads; a copy would be a second parse, ~20 ms
        # of a cold start).
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str()) if copy else tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.config = config
        self._prefix, self._suffix = self._special_frame()
        specials = len(self._prefix) + len(self._suffix)
        if specials > MAX_SPECIAL_TOKENS:
            raise ValueError(
                f"this tokenizer frames a text with {specials} special tokens; the encoder "
                f"reserves {MAX_SPECIAL_TOKENS} (contract/encoder.py MAX_SPECIAL_TOKENS)"
            )
        self.budget = config.max_length - specials  # content tokens per window
        self.pad_id = self._find_pad_id()

    @functools.cached_property
    def entities(self) -> Entities:
        """The character entities this tokenizer reads as one character (none without markup
        rules). Read on the first explained text, not at load: off the cold start."""
        return Entities.of(self.tokenizer)

    def words(
        self, text: str, offsets: Sequence[tuple[int, int]]
    ) -> tuple[Words, list[tuple[int, int]]]:
        """The words of `text` over its content tokens' `offsets` (contract/words.py), and the
        offsets in characters as sent, each token read from an entity over the whole entity
        (`&amp;`, not its `;`): what evidence is weighed in and points at."""
        masked, widened = self.entities.read(text, offsets)
        return split_words(masked, widened), widened

    @classmethod
    def from_file(cls, path: str | Path, config: EncoderConfig) -> TextEncoder:
        return cls(Tokenizer.from_file(str(path)), config, copy=False)

    def _special_frame(self) -> tuple[list[int], list[int]]:
        """The special ids the post-processor puts before and after one sequence."""
        probe = self.tokenizer.encode("a", add_special_tokens=True)
        mask = probe.special_tokens_mask
        content = [i for i, special in enumerate(mask) if not special]
        if not content:
            return [], []
        return probe.ids[: content[0]], probe.ids[content[-1] + 1 :]

    def _find_pad_id(self) -> int:
        for token in _PAD_CANDIDATES:
            token_id = self.tokenizer.token_to_id(token)
            if token_id is not None:
                return token_id
        return 0

    def kept(self, num_tokens: int, strategy: str) -> list[tuple[int, int]]:
        """The [start, end) ranges of content tokens one window keeps under a one-window
        strategy (one range, or two for head+tail)."""
        n, budget = num_tokens, self.budget
        if n <= budget:
            return [(0, n)]
        if strategy == "head":
            return [(0, budget)]
        if strategy == "tail":
            return [(n - budget, n)]
        head = self.config.head_tokens
        if head >= budget:  # a model trained "head" may carry a head_tokens its window lacks
            head = budget // 4  # Sun et al.'s share: 128 of 512
        return [(0, head), (n - (budget - head), n)]

    def window_ranges(self, num_tokens: int, strategy: str) -> list[list[tuple[int, int]]]:
        """For each window the model reads under `strategy`, the ranges of content tokens it
        holds: what `read` cuts, and what evidence maps back to characters."""
        if strategy == "chunks":
            return [[(s, min(s + self.budget, num_tokens))] for s in self.chunk_starts(num_tokens)]
        return [self.kept(num_tokens, strategy)]

    @property
    def frame_start(self) -> int:
        """Where a window's content starts: after the special tokens in front of it."""
        return len(self._prefix)

    def framed(self, content: list[int]) -> list[int]:
        """Content ids as one model window: the special tokens around them."""
        return self._prefix + content + self._suffix

    def _cut(self, content: list[int], ranges: list[tuple[int, int]]) -> list[int]:
        kept: list[int] = []
        for start, end in ranges:
            kept += content[start:end]
        return kept

    def _frame(self, content: list[int]) -> Encoded:
        kept = self.kept(len(content), self.config.truncation)
        ids = self._prefix + self._cut(content, kept) + self._suffix
        return Encoded(ids=ids, num_tokens=len(content), truncated=len(content) > self.budget)

    def encode(self, text: str) -> Encoded:
        return self._frame(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: Sequence[str]) -> list[Encoded]:
        # encode_batch runs in parallel in Rust; the framing is cheap list slicing.
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [self._frame(e.ids) for e in encodings]

    def chunk_starts(self, num_tokens: int) -> list[int]:
        """Where each chunk window starts. Every window is full: the last one ends at the
        text's end (overlapping its neighbour more), so no window is a short scrap that the
        mean of logits would weigh like a whole window."""
        budget = self.budget
        if num_tokens <= budget:
            return [0]
        step = max(1, budget - int(budget * CHUNK_OVERLAP))
        return [*range(0, num_tokens - budget, step), num_tokens - budget]

    def windows_needed(self, num_tokens: int, strategy: str) -> int:
        if strategy != "chunks" or num_tokens <= self.budget:
            return 1
        step = max(1, self.budget - int(self.budget * CHUNK_OVERLAP))
        return math.ceil((num_tokens - self.budget) / step) + 1

    def read(self, content: list[int], strategy: str) -> Reading:
        """Content ids (no specials) -> the windows the model reads under `strategy`."""
        if not is_strategy(strategy):
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        n = len(content)
        windows = [self.framed(self._cut(content, r)) for r in self.window_ranges(n, strategy)]
        truncated = strategy != "chunks" and n > self.budget
        return Reading(windows=windows, num_tokens=n, strategy=strategy, truncated=truncated)

    def read_batch(
        self, texts: Sequence[str], strategy: str, max_windows: int | None = None
    ) -> list[Reading]:
        """Every text under `strategy`; raises WindowLimitError before any model work when the
        batch needs more than `max_windows` windows in all."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        if max_windows is not None:
            needed = sum(self.windows_needed(len(e.ids), strategy) for e in encodings)
            if needed > max_windows:
                raise WindowLimitError(needed, max_windows)
        return [self.read(e.ids, strategy) for e in encodings]

    def pad(self, batch: Sequence[Encoded | list[int]]) -> dict[str, np.ndarray]:
        """Pads to the longest sequence in the batch (dynamic padding)."""
        seqs = [b.ids if isinstance(b, Encoded) else b for b in batch]
        width = max((len(s) for s in seqs), default=0)
        input_ids = np.full((len(seqs), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(seqs), width), dtype=np.int64)
        for row, seq in enumerate(seqs):
            input_ids[row, : len(seq)] = seq
            attention_mask[row, : len(seq)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
