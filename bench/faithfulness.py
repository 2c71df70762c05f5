"""ERASER's faithfulness of word evidence (DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate
Rationalized NLP Models") on the served ONNX model, and the explainers ours is measured against.

Every method gives each word of the window the model read a weight toward the predicted label.
The window's tokens are ranked by their word's weight, and the top FRACTION of them are deleted
(comprehensiveness: how much the label's probability drops without them; higher is better) or
kept alone (sufficiency: how much it drops with only them; lower is better). Probabilities are
the served ones (the bundle's temperature).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from contract.encoder import Reading
from contract.evidence import TOKEN_LOGITS, Explainer, margin
from contract.predictor import OnnxClassifier
from contract.words import Words

FRACTION = 0.10


@dataclass(frozen=True)
class Case:
    """One review as the model reads it (one window), and its prediction."""

    text: str
    ids: list[int]  # every content token of the text
    offsets: list[tuple[int, int]]
    reading: Reading
    read: list[int]  # the content positions of its one window, in order
    words: Words
    label: int  # predicted
    p0: float  # the predicted label's probability


def make_case(classifier: OnnxClassifier, text: str) -> Case:
    encoder = classifier.encoder
    encoding = encoder.tokenizer.encode(text, add_special_tokens=False)
    reading = encoder.read(encoding.ids, classifier.strategy)
    words, offsets = encoder.words(text, encoding.offsets)  # the explainer's words
    (ranges,) = encoder.window_ranges(reading.num_tokens, reading.strategy)
    probs = classifier.probabilities(classifier.logits(reading.windows))[0]
    return Case(
        text=text,
        ids=encoding.ids,
        offsets=offsets,
        reading=reading,
        read=[i for a, b in ranges for i in range(a, b)],
        words=words,
        label=int(probs.argmax()),
        p0=float(probs.max()),
    )


def window(classifier: OnnxClassifier, case: Case, positions: list[int]) -> list[int]:
    return classifier.encoder.framed([case.ids[i] for i in positions])


def faithfulness(
    classifier: OnnxClassifier, case: Case, word_weights: np.ndarray, fraction: float = FRACTION
) -> tuple[float, float]:
    """(comprehensiveness, sufficiency) of the top `fraction` of the window's tokens, ranked by
    the weight of their word (ties in reading order)."""
    weights = [word_weights[case.words.of_token[i]] for i in case.read]
    order = sorted(range(len(case.read)), key=lambda j: -weights[j])
    top = set(order[: math.ceil(fraction * len(case.read))])
    without = [i for j, i in enumerate(case.read) if j not in top]
    alone = [i for j, i in enumerate(case.read) if j in top]
    logits = classifier.logits([window(classifier, case, without), window(classifier, case, alone)])
    probs = classifier.probabilities(logits)[:, case.label]
    return case.p0 - float(probs[0]), case.p0 - float(probs[1])


def _per_word(case: Case, token_scores: dict[int, float]) -> np.ndarray:
    out = np.zeros(len(case.words.spans))
    for i, score in token_scores.items():
        out[case.words.of_token[i]] += score
    return out


def ours(explainer: Explainer) -> Callable[[Case], np.ndarray]:
    def weigh(case: Case) -> np.ndarray:
        return explainer.weigh([case.text], [case.reading], [case.label])[0].weights

    return weigh


def random_words(seed: int) -> Callable[[Case], np.ndarray]:
    rng = random.Random(seed)
    return lambda case: np.array([rng.random() for _ in case.words.spans])


def split(classifier: OnnxClassifier) -> Callable[[Case], np.ndarray] | None:
    """The logit split of the whole window (W·h_i / n), the graph's second output: no extra
    pass. None when the model has no such output."""
    if TOKEN_LOGITS not in {o.name for o in classifier.session.get_outputs()}:
        return None

    def weigh(case: Case) -> np.ndarray:
        (ids,) = case.reading.windows
        token_logits = classifier.session.run([TOKEN_LOGITS], classifier.feed([ids]))[0][0]
        shares = margin(token_logits, case.label)[classifier.encoder.frame_start :]
        return _per_word(case, dict(zip(case.read, shares.tolist(), strict=False)))

    return weigh


def occlusion(classifier: OnnxClassifier) -> Callable[[Case], np.ndarray]:
    """Leave one word out: one extra pass per word of the window."""

    def weigh(case: Case) -> np.ndarray:
        read_words = sorted({case.words.of_token[i] for i in case.read})
        windows = [
            window(classifier, case, [i for i in case.read if case.words.of_token[i] != w])
            for w in read_words
        ]
        probs = classifier.probabilities(classifier.logits(windows))[:, case.label]
        out = np.zeros(len(case.words.spans))
        out[read_words] = case.p0 - probs
        return out

    return weigh


def shap_partition(classifier: OnnxClassifier, max_evals: int) -> Callable[[Case], np.ndarray]:
    """shap's Partition explainer, its default for text, with its Text masker (words split on
    non-word characters, masked with "..."), on the same ONNX model and served probabilities."""
    import shap

    def predict(texts: np.ndarray) -> np.ndarray:
        encoded = classifier.encoder.encode_batch([str(t) for t in texts])
        return classifier.probabilities(classifier.logits([e.ids for e in encoded]))

    explainer = shap.Explainer(predict, shap.maskers.Text(r"\W+"), output_names=classifier.labels)

    def weigh(case: Case) -> np.ndarray:
        explanation = explainer([case.text], max_evals=max_evals, silent=True)
        values, pieces = explanation.values[0][:, case.label], explanation.data[0]
        starts = np.cumsum([0, *(len(p) for p in pieces)])[:-1].tolist()  # pieces tile the text
        return np.array(
            [values[bisect.bisect_right(starts, start) - 1] for start, _ in case.words.spans]
        )

    return weigh
