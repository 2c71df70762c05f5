"""Does a review read the same as HTML, as plain text and typed on a phone? The bundle's
held-out reviews as sent (IMDB's, with their `<br />`) against their plain-text copies (what a
browser's copy gives: line breaks), their HTML5 copies (`<br>`) and their phone-typed copies
(smart punctuation: ’ “ ” … —): labels flipped, scores moved, accuracy of each, tokens read,
the tokenizer's time with and without the rules (contract/markup.py), and whether a plain copy
and its HTML-escaped copy get the same evidence. Ours is a bundle trained with `--markup text`;
the peer one trained with `--markup keep` (every other serving stack: the text read as typed),
at the same size and seed. Writes bench/results/markup.json.

    make bench-markup ARGS="--peer_uri <bundle trained with --markup keep>"   # MODEL_URI: ours
    python -m bench.markup --model_uri <bundle> --peer_uri <bundle> [--reviews 1000]
    python -m bench.markup --smoke --model_uri <bundle> --peer_uri <bundle> --output /tmp/m.json

Each review is scored as it would be alone: serving never lets two texts share a model run (the
int8 graph quantizes a run's activations with the run's own range), so one call scores them
all; before 6d58df2 it did not, and this bench scored them one at a time (bench/neighbours.py).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import logging
import re
import statistics
import time
from itertools import dropwhile
from pathlib import Path
from typing import Any

import numpy as np

from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, user_bundle, write_result

log = logging.getLogger("bench.markup")
RESULTS = BENCH_RESULTS / "markup.json"
SMOKE_REVIEWS = 12
# How a page's copy turns markup into text: a line break per <br>, the other tags' text kept.
_BREAK = re.compile(r"(?i)<br\s*/?>")
_TAG = re.compile(r"(?i)</?(?:p|i|b|em|strong|hr|u|span|div)(?:\s[^<>]*)?/?>")


def plain_copy(text: str) -> str:
    return html.unescape(_TAG.sub(" ", _BREAK.sub("\n", text)))


def html5_copy(text: str) -> str:
    return _BREAK.sub("<br>", text)


def phone_copy(text: str) -> str:
    """As a phone's smart punctuation types it: ’ inside words, “ ” around quotes, … and —."""
    text = re.sub(r"(?<=\w)'(?=\w)", "\u2019", text)
    quotes = iter(["\u201c", "\u201d"] * (text.count('"') // 2 + 1))
    text = re.sub('"', lambda _: next(quotes), text)
    return text.replace("...", "\u2026").replace("--", "\u2014")


def escaped_copy(text: str) -> str:
    """The plain copy as an HTML page's source holds it: & < > " ' written as entities."""
    return html.escape(plain_copy(text))


def _evidence(explainer: Any, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Each text's k strongest words or phrases, as a person reads them (entities decoded),
    with their weights; each text explained as it would be alone."""
    classified = explainer.classifier.classify(texts)
    labels = classified.probs.argmax(axis=-1).tolist()
    found = explainer.explain(texts, classified.readings, labels, k)
    return [
        [(html.unescape(text[a:b]), w) for a, b, w in f.spans]
        for text, f in zip(texts, found, strict=True)
    ]


def evidence_agreement(bundle: Path, texts: list[str], k: int) -> dict[str, Any]:
    """Reviews whose evidence differs between the plain copy and its HTML-escaped copy, with
    words split as served (each entity whole, `TextEncoder.words`) and on the tokenizer's own
    offsets (an entity's token on its ';' alone: serving before c80c803)."""
    from contract.bundle import read_manifest
    from contract.evidence import Explainer
    from contract.markup import Entities
    from contract.predictor import OnnxClassifier

    manifest = read_manifest(bundle)
    plain = [plain_copy(t) for t in texts]
    escaped = [escaped_copy(t) for t in texts]
    out: dict[str, Any] = {
        "reviews": len(texts),
        "with_entities_in_the_escaped_copy": sum(
            a != b for a, b in zip(plain, escaped, strict=True)
        ),
        "top_k": k,
    }
    for name, entities in (("served", None), ("tokenizer_offsets", Entities())):
        classifier = OnnxClassifier.from_bundle(bundle, manifest)
        if entities is not None:
            classifier.encoder.entities = entities  # the cached property, overridden
        explainer = Explainer(classifier)
        a, b = _evidence(explainer, plain, k), _evidence(explainer, escaped, k)
        pairs = list(zip(a, b, strict=True))
        out[name] = {
            "evidence_differs": sum(x != y for x, y in pairs),
            "top_words_differ": sum({w for w, _ in x} != {w for w, _ in y} for x, y in pairs),
        }
    return out


def _scores(classifier: Any, texts: list[str]) -> np.ndarray:
    """The positive label's score of each text: as it would be read alone (no run holds two)."""
    return classifier.predict_proba(texts)[:, 1]


def _tokenize_us(tokenizer: Any, texts: list[str], rounds: int) -> float:
    """Median over rounds of the time per text, tokenizing them one at a time (as a request)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for text in texts:
            tokenizer.encode(text, add_special_tokens=False)
        times.append((time.perf_counter() - start) / len(texts) * 1e6)
    return round(statistics.median(times), 1)


def side(bundle: Path, n: int, smoke: bool) -> tuple[dict[str, Any], list[str]]:
    """The bundle's figures, and the held-out texts it read (the tokenizer is timed on them)."""
    from bench.explain_setup import drawn_test_split
    from contract.bundle import read_manifest
    from contract.markup import reads_markup
    from contract.predictor import OnnxClassifier

    manifest = read_manifest(bundle)
    classifier = OnnxClassifier.from_bundle(bundle, manifest)
    tokenizer = classifier.encoder.tokenizer
    test = drawn_test_split(manifest)
    if smoke:
        test = test.iloc[: 2 * SMOKE_REVIEWS]
    every, labels = test["text"].tolist(), test["label"].to_numpy()
    as_sent = _scores(classifier, every)
    right = (as_sent >= 0.5) == labels
    has_markup = test["text"].str.contains(_BREAK).to_numpy(copy=True)
    has_markup &= np.cumsum(has_markup) <= n  # the first n of them get copies
    texts = [t for t, m in zip(every, has_markup, strict=True) if m]
    out: dict[str, Any] = {
        "run_id": manifest.run_id,
        "held_out_sha256": hashlib.sha256("\x00".join(every).encode()).hexdigest(),
        "reads_markup_as_text": reads_markup(tokenizer),
        "held_out_reviews": len(every),
        "held_out_accuracy": round(float(right.mean()), 4),
        "held_out_accuracy_manifest": manifest.metrics["served"]["metrics"]["accuracy"],
        "reviews_with_markup": len(texts),
        "accuracy_as_sent": round(float(right[has_markup].mean()), 4),
        "right": right,  # per review, for the paired test; not written
    }
    for name, copy in (("plain_text", plain_copy), ("html5", html5_copy), ("phone", phone_copy)):
        scores = _scores(classifier, [copy(t) for t in texts])
        before = as_sent[has_markup]
        flipped = (scores >= 0.5) != (before >= 0.5)
        moved = np.abs(scores - before)
        out[name] = {
            "labels_flipped": int(flipped.sum()),
            "flip_rate": round(float(flipped.mean()), 4),
            "score_moved_mean": round(float(moved.mean()), 4),
            "score_moved_p95": round(float(np.quantile(moved, 0.95)), 4),
            "score_moved_max": round(float(moved.max()), 4),
            "accuracy": round(float(((scores >= 0.5) == labels[has_markup]).mean()), 4),
        }
    tokens = [len(e.ids) for e in tokenizer.encode_batch(every, add_special_tokens=False)]
    out["tokens_per_review"] = round(float(np.mean(tokens)), 1)
    return out, every


def tokenizer_cost(bundle: Path, texts: list[str], rounds: int) -> dict[str, Any]:
    """The rules' own cost: the bundle's tokenizer with and without them, on `texts`."""
    from tokenizers import Tokenizer

    from contract import markup
    from contract.bundle import TOKENIZER_FILE

    state = json.loads(Tokenizer.from_file(str(bundle / TOKENIZER_FILE)).to_str())
    if markup.reads_markup(Tokenizer.from_str(json.dumps(state))):
        # The rules lead the sequence (`install` puts the tokenizer's own normalizer after them,
        # as one entry): whatever set the bundle has, what follows its Replace rules is the rest.
        rest = list(dropwhile(lambda n: n["type"] == "Replace", state["normalizer"]["normalizers"]))
        state["normalizer"] = rest[0] if rest else None
    bare = Tokenizer.from_str(json.dumps(state))
    ruled = Tokenizer.from_str(bare.to_str())
    markup.install(ruled)
    for tokenizer in (bare, ruled):  # warm
        _tokenize_us(tokenizer, texts[:20], 1)
    with_rules, without = [], []
    for _ in range(rounds):  # alternating, medians
        without.append(_tokenize_us(bare, texts, 1))
        with_rules.append(_tokenize_us(ruled, texts, 1))
    a, b = statistics.median(with_rules), statistics.median(without)
    return {
        "reviews": len(texts),
        "rounds": rounds,
        "us_per_review_with_rules": a,
        "us_per_review_without": b,
        "with_over_without": round(a / b, 3),
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model_uri", default="artifacts/models", help="ours: a run dir or a runs root"
    )
    parser.add_argument(
        "--peer_uri", required=True, help="the peer: a bundle trained with --markup keep"
    )
    parser.add_argument("--reviews", type=int, default=1000, help="held-out reviews with markup")
    parser.add_argument("--rounds", type=int, default=5, help="tokenizer timing rounds")
    parser.add_argument(
        "--evidence_reviews", type=int, default=200, help="held-out reviews explained twice"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    bundles = {
        "ours": user_bundle(parser, args.model_uri)[0],
        "peer": user_bundle(parser, args.peer_uri, "--peer_uri")[0],
    }
    n = SMOKE_REVIEWS if args.smoke else args.reviews
    (ours, read), (peer, _) = (side(bundles[name], n, args.smoke) for name in ("ours", "peer"))
    result: dict[str, Any] = {"ours": ours, "peer": peer}
    result["tokenizer"] = tokenizer_cost(
        bundles["ours"], read[:n], 1 if args.smoke else args.rounds
    )
    result["evidence"] = evidence_agreement(
        bundles["ours"], read[: SMOKE_REVIEWS if args.smoke else args.evidence_reviews], 8
    )
    from training.stats import discordant, mcnemar_p

    right = {name: result[name].pop("right") for name in ("ours", "peer")}
    same = ours["held_out_sha256"] == peer["held_out_sha256"]
    # Review by review on the same held-out split (one-sided both ways): is either better?
    wins, losses = discordant(right["ours"], right["peer"]) if same else (0, 0)
    result["paired"] = {
        "same_reviews": same,
        "ours_right_peer_wrong": wins if same else None,
        "peer_right_ours_wrong": losses if same else None,
        "mcnemar_p_ours_better": round(mcnemar_p(wins, losses), 4) if same else None,
        "mcnemar_p_peer_better": round(mcnemar_p(losses, wins), 4) if same else None,
    }
    result["tokens_saved"] = round(1 - ours["tokens_per_review"] / peer["tokens_per_review"], 4)
    result["setup"] = {
        "ours": str(bundles["ours"]),
        "peer": str(bundles["peer"]),
        "peer_is": "the same training (size, seed) with --markup keep: markup read as typed",
        "plain_text": "<br /> as a line break, the other layout tags as a space, entities "
        "decoded (what a browser's copy gives)",
        "html5": "<br /> written <br>",
        "phone": "as smart punctuation types it: ’ inside words, “ ” around quotes, … for ..., "
        "— for --",
        "scored": "each review as it would be alone (no model run holds two texts)",
        "evidence": "ours: the first held-out reviews, plain copy against its HTML-escaped copy "
        "(& < > \" ' as entities), top 8 words each, words split as served and on the "
        "tokenizer's own offsets (before c80c803)",
    }
    result = write_result(args.output, result | {"smoke": args.smoke})
    for name in ("ours", "peer"):
        r = result[name]
        log.info(
            "%s (%s, markup as text: %s): held-out accuracy %.4f; %d held-out reviews with "
            "markup: plain-text copy flips %d (max score moved %.3f), <br> copy flips %d, "
            "phone-typed copy flips %d; "
            "accuracy as sent %.3f, plain %.3f; %.1f tokens per review",
            name,
            r["run_id"],
            r["reads_markup_as_text"],
            r["held_out_accuracy"],
            r["reviews_with_markup"],
            r["plain_text"]["labels_flipped"],
            r["plain_text"]["score_moved_max"],
            r["html5"]["labels_flipped"],
            r["phone"]["labels_flipped"],
            r["accuracy_as_sent"],
            r["plain_text"]["accuracy"],
            r["tokens_per_review"],
        )
    log.info("paired on the held-out split: %s", result["paired"])
    e = result["evidence"]
    log.info(
        "evidence, plain copy against its HTML-escaped copy (%d reviews, %d with entities): "
        "differs in %d as served, %d on the tokenizer's offsets (top words: %d against %d)",
        e["reviews"],
        e["with_entities_in_the_escaped_copy"],
        e["served"]["evidence_differs"],
        e["tokenizer_offsets"]["evidence_differs"],
        e["served"]["top_words_differ"],
        e["tokenizer_offsets"]["top_words_differ"],
    )
    t = result["tokenizer"]
    log.info(
        "tokens saved %.1f%%; tokenizer %.0f us per review with the rules, %.0f without (x%.3f)",
        100 * result["tokens_saved"],
        t["us_per_review_with_rules"],
        t["us_per_review_without"],
        t["with_over_without"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
