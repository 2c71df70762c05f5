"""Does a text's answer depend on the other texts of its request? The int8 graph quantizes each
ONNX Runtime run's activations with that run's own range (DynamicQuantizeLinear is per tensor),
so texts that share a run move each other's scores and evidence. Ours never lets two texts share
a run (`OnnxClassifier.logits`' owners); the peer packs short windows of different texts into one
run (what a length-bucketing batcher does, and what this code did before). Each text is scored
alone first (the reference), then in random requests both ways: texts whose score or evidence
differs from alone, labels flipped, and the throughput each way. Writes
bench/results/neighbours.json.

    make bench-neighbours                              # MODEL_URI: the bundle
    python -m bench.neighbours --model_uri <bundle> [--reviews 400 --explained 40]
    python -m bench.neighbours --smoke --model_uri <bundle> --output /tmp/n.json

Workloads: held-out IMDB reviews in requests of 8; short texts (each review's first 5-40 words:
titles, one-liners, posts) in requests of 16, where packing happens most; explained reviews in
requests of 4.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, user_bundle, write_result

log = logging.getLogger("bench.neighbours")
RESULTS = BENCH_RESULTS / "neighbours.json"
REQUEST = {"reviews": 8, "short": 16, "explained": 4}
SMOKE = {"reviews": 16, "explained": 4, "rounds": 1}


class Packed:
    """The peer: the same classifier, windows of different texts packed into shared runs."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.encoder = classifier.encoder
        self.labels = classifier.labels

    def logits(self, windows: Sequence[list[int]], *args: Any, owners: Any = None) -> np.ndarray:
        return self.classifier.logits(windows, *args)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        c = self.classifier
        readings = c.encoder.read_batch(texts, c.strategy)
        assert all(len(r.windows) == 1 for r in readings)  # one window each: no combining
        return c.probabilities(self.logits([r.windows[0] for r in readings]))[:, -1]


def short_texts(reviews: Sequence[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(r.replace("<br />", " ").split()[: rng.randint(5, 40)]) for r in reviews]


def requests(n: int, size: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + size] for i in range(0, n, size)]


def _seconds(sides: dict[str, Any], rounds: int, run: Callable[[Any], Any]) -> dict[str, float]:
    """Median seconds of `run(side)` per side, over `rounds` alternating rounds."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            start = time.perf_counter()
            run(side)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _moved(alone: np.ndarray, batched: np.ndarray) -> dict[str, Any]:
    moved = np.abs(alone - batched)
    return {
        "differs_from_alone": int((moved > 0).sum()),
        "score_moved_max": round(float(moved.max()), 4),
        "score_moved_p95": round(float(np.quantile(moved, 0.95)), 4),
        "labels_flipped": int(((alone >= 0.5) != (batched >= 0.5)).sum()),
    }


def scoring(classifier: Any, texts: list[str], size: int, rounds: int) -> dict[str, Any]:
    """Scores alone, then in requests of `size` both ways, and both ways' throughput."""
    packed = Packed(classifier)

    def ours_scores(ts: list[str]) -> np.ndarray:
        return classifier.classify(ts).probs[:, -1]

    alone = np.array([ours_scores([t])[0] for t in texts])
    batches = requests(len(texts), size, seed=1)
    sides: dict[str, Callable[[list[str]], np.ndarray]] = {
        "ours": ours_scores,
        "packed": packed.scores,
    }
    out: dict[str, Any] = {"texts": len(texts), "request_size": size}
    for name, answer in sides.items():
        got = np.zeros(len(texts))
        for batch in batches:
            got[batch] = answer([texts[i] for i in batch])
        out[name] = _moved(alone, got)
    seconds = _seconds(
        sides, rounds, lambda answer: [answer([texts[i] for i in b]) for b in batches]
    )
    for name in sides:
        out[name]["texts_per_s"] = round(len(texts) / seconds[name], 1)
    out["ours_over_packed_throughput"] = round(
        out["ours"]["texts_per_s"] / out["packed"]["texts_per_s"], 3
    )
    out["tokens_per_text"] = round(
        float(np.mean([r.num_tokens for r in classifier.encoder.read_batch(texts, "head")])), 1
    )
    return out


def evidence(classifier: Any, texts: list[str], size: int, rounds: int) -> dict[str, Any]:
    """Word weights alone, then in explained requests of `size` both ways, and their time."""
    from contract.evidence import Explainer

    packed: Any = Packed(classifier)  # stands in for the classifier the explainer reads
    sides = {"ours": Explainer(classifier), "packed": Explainer(packed)}

    def weigh(explainer: Any, ts: list[str]) -> list[np.ndarray]:
        classified = classifier.classify(ts)
        labels = classified.probs.argmax(axis=1)
        return [w.weights for w in explainer.weigh(ts, classified.readings, labels)]

    alone = [weigh(sides["ours"], [t])[0] for t in texts]
    batches = requests(len(texts), size, seed=2)
    out: dict[str, Any] = {"reviews": len(texts), "request_size": size}
    for name, explainer in sides.items():
        got: list[np.ndarray] = [np.zeros(0)] * len(texts)
        for batch in batches:
            for i, weights in zip(batch, weigh(explainer, [texts[i] for i in batch]), strict=True):
                got[i] = weights
        moved = [float(np.abs(a - g).max()) for a, g in zip(alone, got, strict=True)]
        top = [
            set(np.argsort(-a)[:5].tolist()) != set(np.argsort(-g)[:5].tolist())
            for a, g in zip(alone, got, strict=True)
        ]
        out[name] = {
            "differs_from_alone": sum(m > 0 for m in moved),
            "weight_moved_max": round(max(moved), 4),
            "top5_changed": sum(top),
        }
    out["weight_abs_max_median"] = round(float(np.median([np.abs(a).max() for a in alone])), 3)
    seconds = _seconds(sides, rounds, lambda e: [weigh(e, [texts[i] for i in b]) for b in batches])
    for name in sides:
        out[name]["ms_per_request"] = round(seconds[name] / len(batches) * 1e3, 1)
    out["ours_over_packed_time"] = round(
        out["ours"]["ms_per_request"] / out["packed"]["ms_per_request"], 3
    )
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_uri", default="artifacts/models", help="a run dir or runs root")
    parser.add_argument("--reviews", type=int, default=400, help="held-out reviews (and shorts)")
    parser.add_argument("--explained", type=int, default=40, help="held-out reviews explained")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds, alternating")
    parser.add_argument("--output", type=Path, default=RESULTS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    from bench.explain_setup import held_out_reviews
    from contract.predictor import OnnxClassifier

    bundle, manifest = user_bundle(parser, args.model_uri)
    sizes = SMOKE if args.smoke else vars(args)
    rounds = SMOKE["rounds"] if args.smoke else args.rounds
    classifier = OnnxClassifier.from_bundle(bundle, manifest)
    reviews = held_out_reviews(manifest, max(sizes["reviews"], sizes["explained"]))
    result: dict[str, Any] = {
        "run_id": manifest.run_id,
        "precision": manifest.precision,
        "reviews": scoring(classifier, reviews[: sizes["reviews"]], REQUEST["reviews"], rounds),
        "short": scoring(
            classifier, short_texts(reviews[: sizes["reviews"]], 0), REQUEST["short"], rounds
        ),
        "explained": evidence(
            classifier, reviews[: sizes["explained"]], REQUEST["explained"], rounds
        ),
        "setup": {
            "bundle": str(bundle),
            "ours": "no run holds two texts (OnnxClassifier.logits owners)",
            "packed": "windows of different texts packed into runs of <= 256 padded tokens",
            "alone": "each text in a request of its own: the reference",
            "short": "each review's first 5-40 words (seeded)",
            "threads": classifier.session.get_session_options().intra_op_num_threads,
        },
    }
    result = write_result(args.output, result | {"smoke": args.smoke})
    for name in ("reviews", "short"):
        r = result[name]
        log.info(
            "%s (%d, %.0f tokens each, requests of %d): ours %d differ from alone (%d flipped), "
            "%.1f/s; packed %d differ (%d flipped, max score moved %.3f), %.1f/s; x%.3f",
            name,
            r["texts"],
            r["tokens_per_text"],
            r["request_size"],
            r["ours"]["differs_from_alone"],
            r["ours"]["labels_flipped"],
            r["ours"]["texts_per_s"],
            r["packed"]["differs_from_alone"],
            r["packed"]["labels_flipped"],
            r["packed"]["score_moved_max"],
            r["packed"]["texts_per_s"],
            r["ours_over_packed_throughput"],
        )
    e = result["explained"]
    log.info(
        "explained (%d, requests of %d): ours %d differ from alone, %.0f ms a request; packed %d "
        "differ (top 5 changed in %d, max weight moved %.3f of median max %.3f), %.0f ms; x%.3f",
        e["reviews"],
        e["request_size"],
        e["ours"]["differs_from_alone"],
        e["ours"]["ms_per_request"],
        e["packed"]["differs_from_alone"],
        e["packed"]["top5_changed"],
        e["packed"]["weight_moved_max"],
        e["weight_abs_max_median"],
        e["packed"]["ms_per_request"],
        e["ours_over_packed_time"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
