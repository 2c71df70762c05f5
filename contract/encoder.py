"""The one text encoder shared by training and serving: text -> token ids.

Training builds its dataset with it and serving calls it per request, so the same text always
becomes the same ids. Torch-free: it needs only `tokenizers` and numpy.

Truncation keeps either the first tokens ("head") or the first `head_tokens` plus the last
remaining ones ("head+tail", Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?"):
reviews often state the verdict at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tokenizers import Tokenizer

Truncation = Literal["head", "head+tail"]
TRUNCATIONS: tuple[str, ...] = ("head", "head+tail")
_PAD_CANDIDATES = ("[PAD]", "<pad>", "<|padding|>", "<|endoftext|>")


@dataclass(frozen=True)
class EncoderConfig:
    """How text becomes ids; stored in the bundle manifest so serving encodes like training."""

    max_length: int = 256
    truncation: Truncation = "head"
    head_tokens: int = 64

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        if self.truncation == "head+tail" and not 0 < self.head_tokens < self.max_length - 4:
            raise ValueError(
                f"head_tokens must be between 1 and max_length - 5 ({self.max_length - 5}) "
                f"for head+tail truncation, got {self.head_tokens}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        return cls(
            max_length=int(data["max_length"]),
            truncation=data["truncation"],
            head_tokens=int(data.get("head_tokens", 64)),
        )


@dataclass(frozen=True)
class Encoded:
    """One encoded text: ids with special tokens, and what truncation did."""

    ids: list[int]
    num_tokens: int  # content tokens before truncation (specials excluded)
    truncated: bool


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
        self.budget = config.max_length - len(self._prefix) - len(self._suffix)
        if config.truncation == "head+tail" and config.head_tokens >= self.budget:
            raise ValueError(
                f"head_tokens ({config.head_tokens}) leaves no room for the tail within "
                f"max_length {config.max_length}; lower head_tokens"
            )
        self.pad_id = self._find_pad_id()

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

    def _frame(self, content: list[int]) -> Encoded:
        n = len(content)
        truncated = n > self.budget
        if truncated:
            if self.config.truncation == "head":
                content = content[: self.budget]
            else:
                head = self.config.head_tokens
                content = content[:head] + content[n - (self.budget - head) :]
        return Encoded(ids=self._prefix + content + self._suffix, num_tokens=n, truncated=truncated)

    def encode(self, text: str) -> Encoded:
        return self._frame(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: Sequence[str]) -> list[Encoded]:
        # encode_batch runs in parallel in Rust; the framing is cheap list slicing.
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [self._frame(e.ids) for e in encodings]

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
