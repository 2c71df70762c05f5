"""Evidence for a prediction: which words moved it, on ONNX Runtime alone (torch-free), so the
training job can measure its faithfulness and serving can return it.

The text the model read is cut into short overlapping passages of a few tokens, all read alone
in one batched call (together a few passes' worth of tokens; no run mixes two texts' passages);
a word's weight is the mean logit margin toward the predicted label of the passages that read
it. Why this method, and its limits: README ("Evidence"), with the figures of `make
bench-explain` (bench/results/explain.json).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contract.encoder import Reading
from contract.predictor import OnnxClassifier
from contract.words import Words

# The graph output holding each token's share of the logits (training/pooling.py).
TOKEN_LOGITS = "token_logits"
# Words per passage read alone, and the step between passages (every word is read by
# PASSAGE_WORDS / STRIDE passages). Chosen by `make bench-explain` (README, "Evidence").
PASSAGE_WORDS = 1
STRIDE = 1


@dataclass(frozen=True)
class Explanation:
    """One text's evidence, in characters of the text."""

    method: str
    spans: list[tuple[int, int, float]]  # (start, end, weight), strongest first
    read: list[tuple[int, int]]  # what the model read, merged
    windows: list[tuple[int, int]]  # each window's first and last character


@dataclass(frozen=True)
class Weighed:
    """One text's words and their weights, before the strongest are picked."""

    words: Words
    weights: np.ndarray  # one per word; 0 for words the model did not read
    read: list[int]  # content token positions the model read, sorted
    windows: list[list[int]]  # the content token positions of each window
    offsets: list[tuple[int, int]]  # each content token's characters


def margin(logits: np.ndarray, label: int | np.ndarray) -> np.ndarray:
    """The logit of `label` minus the mean of the other labels' (last axis); `label` is one
    index, or one per row of 2-d `logits`."""
    labels = np.asarray(label, dtype=np.intp)  # integers even when empty (no passages)
    if labels.ndim == 0:
        picked = logits[..., int(labels)]
    else:
        picked = np.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return picked - (logits.sum(axis=-1) - picked) / (logits.shape[-1] - 1)


def passages(runs: Sequence[tuple[int, int]], size: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) passages of `size` units (words) every `stride` inside each run of them (a
    head+tail window reads two runs; no passage joins them), the last one ending at its run's
    end so that every unit is read."""
    out: list[tuple[int, int]] = []
    for first, last in runs:
        starts = list(range(first, max(first + 1, last - size + 1), stride))
        if starts[-1] + size < last:
            starts.append(last - size)
        out.extend((start, min(start + size, last)) for start in starts)
    return out


def top_spans(
    spans: Sequence[tuple[int, int]], weights: np.ndarray, k: int
) -> list[tuple[int, int, float]]:
    """The k strongest words, neighbours among them that push the same way joined into one
    phrase ("a boring", "waste" -> "a boring waste", weighted by their mean), strongest first."""
    order = np.argsort(-np.abs(weights), kind="stable")[:k]
    chosen = sorted(int(i) for i in order if weights[i] != 0)
    groups: list[list[int]] = []
    for i in chosen:
        if groups and i == groups[-1][-1] + 1 and (weights[i] > 0) == (weights[i - 1] > 0):
            groups[-1].append(i)
        else:
            groups.append([i])
    phrases = [(spans[g[0]][0], spans[g[-1]][1], float(weights[g].mean())) for g in groups]
    return sorted(phrases, key=lambda p: -abs(p[2]))


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted token positions as [start, end) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in positions:
        if runs and i == runs[-1][1]:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class Explainer:
    """Explains an `OnnxClassifier`'s predictions; one per loaded model."""

    def __init__(
        self, classifier: OnnxClassifier, passage_words: int = PASSAGE_WORDS, stride: int = STRIDE
    ) -> None:
        self.classifier = classifier
        self.passage_words = passage_words
        self.stride = stride
        # Named in every explained answer; README ("Evidence") says what it means.
        self.method = (
            "words read alone"
            if passage_words == stride == 1
            else f"passages of {passage_words} words every {stride}, read alone"
        )

    def passes(self, readings: Sequence[Reading]) -> float:
        """The extra model work of explaining these texts, in windows of the model: what an
        explained request counts against MAX_WINDOWS on top of its own windows. At most: as
        if every token were a word (IMDB's words average ~1.3 tokens), with the two special
        tokens around each passage."""
        budget = self.classifier.encoder.budget
        read = sum(min(r.num_tokens, len(r.windows) * budget) for r in readings)
        return read * (self.passage_words + 2) / self.stride / budget

    def weigh(
        self, texts: Sequence[str], readings: Sequence[Reading], labels: Sequence[int]
    ) -> list[Weighed]:
        """Every word's weight toward each text's predicted label (`labels`, by index): the
        mean logit margin of the passages that read it, each passage read alone."""
        encoder = self.classifier.encoder
        encodings = encoder.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        jobs: list[tuple[int, list[list[int]]]] = []  # (text, its words' read tokens) per passage
        out: list[Weighed] = []
        for t, (encoding, reading) in enumerate(zip(encodings, readings, strict=True)):
            words, offsets = encoder.words(texts[t], encoding.offsets)
            ranges = encoder.window_ranges(reading.num_tokens, reading.strategy)
            windows = [[i for a, b in window for i in range(a, b)] for window in ranges]
            read = sorted({i for window in windows for i in window})
            # The read tokens in word groups; a head+tail cut starts a new run of groups.
            groups: list[list[int]] = []
            runs: list[tuple[int, int]] = []
            for start, end in _runs(read):
                first = len(groups)
                for i in range(start, end):
                    if i > start and words.of_token[i] == words.of_token[i - 1]:
                        groups[-1].append(i)
                    else:
                        groups.append([i])
                runs.append((first, len(groups)))
            for a, b in passages(runs, self.passage_words, self.stride):
                jobs.append((t, groups[a:b]))
            out.append(Weighed(words, np.zeros(len(words.spans)), read, windows, offsets))
        ids = [
            encoder.framed([encodings[t].ids[i] for group in groups for i in group])
            for t, groups in jobs
        ]
        # Each text's passages run among themselves only (`owners`): a word's weight depends on
        # its text alone, never on the other texts of the request.
        logits = self.classifier.logits(ids, owners=[t for t, _ in jobs])
        margins = margin(logits, np.asarray([labels[t] for t, _ in jobs]))
        totals = [np.zeros(len(w.words.spans)) for w in out]
        counts = [np.zeros(len(w.words.spans)) for w in out]
        for (t, groups), value in zip(jobs, margins.tolist(), strict=True):
            for group in groups:
                totals[t][out[t].words.of_token[group[0]]] += value
                counts[t][out[t].words.of_token[group[0]]] += 1
        for t, weighed in enumerate(out):
            np.divide(totals[t], counts[t], out=weighed.weights, where=counts[t] > 0)
        return out

    def explain(
        self, texts: Sequence[str], readings: Sequence[Reading], labels: Sequence[int], k: int
    ) -> list[Explanation]:
        """The k strongest words or phrases of each text toward its predicted label."""
        out = []
        for w in self.weigh(texts, readings, labels):
            out.append(
                Explanation(
                    method=self.method,
                    spans=top_spans(w.words.spans, w.weights, k),
                    read=[(w.offsets[a][0], w.offsets[b - 1][1]) for a, b in _runs(w.read)],
                    windows=[
                        (w.offsets[p[0]][0], w.offsets[p[-1]][1]) if p else (0, 0)
                        for p in w.windows
                    ],
                )
            )
        return out
