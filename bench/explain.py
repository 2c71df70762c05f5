"""Faithfulness and cost of the evidence /predict returns with `explain`, side by side with its
rivals on the same ONNX model, in one run: `make bench-explain`.

    python -m bench.explain                           # MODEL_URI (artifacts/models), 200 reviews
    python -m bench.explain --model_uri <bundle or runs root> --reviews 200 --shap_evals 500
    python -m bench.explain --smoke --model_uri <bundle> --output <file>   # seconds; make test

The reviews are the bundle's own held-out test reviews, drawn again as training drew them (the
manifest's data source, seed and test size; the drawn split's size and class counts are checked
against the manifest). Methods (bench/faithfulness.py): ours as served (contract/evidence.py),
the logit split of the whole window (no extra pass), leave-one-word-out occlusion, shap's
Partition explainer (the established one), and random words. Each gets ERASER's
comprehensiveness and sufficiency at 10 % of the window's tokens, and its time per review next
to a plain prediction of the same review. Then the served path itself (function/loader.py) on
the median-length IMDB review: explained against plain, interleaved, as a ratio; and the plain
path on the exported graph against the same graph without the evidence output, which is what
the export added. Writes bench/results/explain.json with the machine, its load and the commit
(bench/record.py).

A bundle without the evidence output (older, or [CLS]-pooled) is measured as served, on its
fallback; with its hf/ checkpoint, `--reexport` exports it again with the output first.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import faithfulness as ff
from bench.explain_setup import held_out_reviews, open_bundle, plain_vs_pruned
from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, write_result
from bench.reviews import median_review
from contract.evidence import Explainer
from contract.predictor import OnnxClassifier

log = logging.getLogger("bench.explain")
RESULTS = BENCH_RESULTS / "explain.json"
TARGETS = {
    "comprehensiveness_vs_random": 3.0,  # at least this many times random's
    "comprehensiveness_vs_established": 0.9,  # within 10 % of it, or better
    "time_vs_established": 0.1,  # at least 10x less time
    "explained_vs_plain_median_review": 8.0,  # at most
}


def measure_methods(
    classifier: OnnxClassifier,
    texts: list[str],
    methods: dict[str, Callable[..., np.ndarray]],
    limits: dict[str, int],
) -> dict[str, Any]:
    cases = [ff.make_case(classifier, t) for t in texts]
    rows: dict[str, dict[str, Any]] = {
        m: {"comp": [], "suff": [], "ms": [], "ratio": []} for m in methods
    }
    for n, case in enumerate(cases):
        start = time.perf_counter()
        classifier.probabilities(classifier.logits(case.reading.windows))
        plain_ms = (time.perf_counter() - start) * 1e3
        for name, weigh in methods.items():
            if n >= limits.get(name, len(cases)):
                continue
            start = time.perf_counter()
            weights = weigh(case)
            ms = (time.perf_counter() - start) * 1e3
            comp, suff = ff.faithfulness(classifier, case, weights)
            for key, value in (
                ("comp", comp),
                ("suff", suff),
                ("ms", ms),
                ("ratio", ms / plain_ms),
            ):
                rows[name][key].append(value)
        if (n + 1) % 20 == 0:
            log.info("%d of %d reviews", n + 1, len(cases))
    out = {}
    for name, row in rows.items():
        if not row["comp"]:
            continue
        n = len(row["comp"])
        if n < len(rows["ours"]["comp"]):  # a rival measured on fewer: ours on the same ones
            same = rows["ours"]
            row["ours_on_the_same_reviews"] = {
                "comprehensiveness": round(float(np.mean(same["comp"][:n])), 4),
                "sufficiency": round(float(np.mean(same["suff"][:n])), 4),
                "ms_per_review_p50": round(statistics.median(same["ms"][:n]), 2),
            }
        out[name] = {
            "reviews": len(row["comp"]),
            "comprehensiveness": round(float(np.mean(row["comp"])), 4),
            "sufficiency": round(float(np.mean(row["suff"])), 4),
            "ms_per_review_p50": round(statistics.median(row["ms"]), 2),
            "x_plain_prediction_p50": round(statistics.median(row["ratio"]), 2),
            **(
                {"ours_on_the_same_reviews": row["ours_on_the_same_reviews"]}
                if "ours_on_the_same_reviews" in row
                else {}
            ),
        }
        log.info("%-10s %s", name, out[name])
    return out


def served_ratio(bundle: Path, repeats: int) -> dict[str, Any]:
    """The served path (function/loader.py) on the median-length review: explained vs
    plain, interleaved so that both see the same machine."""
    from contract.bundle import read_manifest
    from function.loader import Predictor

    predictor = Predictor(bundle, read_manifest(bundle), threads=None)  # type: ignore[arg-type]
    text = median_review()
    plain, explained = [], []
    for i in range(repeats + 2):
        for out, k in ((plain, None), (explained, 8)):
            start = time.perf_counter()
            predictor.run([text], explain_top_k=k)
            if i >= 2:  # warm-up
                out.append((time.perf_counter() - start) * 1e3)
    p50_plain, p50_explained = statistics.median(plain), statistics.median(explained)
    return {
        "review_tokens": predictor.classifier.encoder.encode(text).num_tokens,
        "repeats": repeats,
        "plain_p50_ms": round(p50_plain, 2),
        "explained_p50_ms": round(p50_explained, 2),
        "explained_vs_plain": round(p50_explained / p50_plain, 2),
        "method": predictor.explainer.method,
    }


def verdicts(methods: dict[str, Any], served: dict[str, Any]) -> dict[str, Any]:
    ours, rnd, est = methods["ours"], methods["random"], methods.get("shap")
    out: dict[str, Any] = {
        "comprehensiveness_vs_random": round(
            ours["comprehensiveness"] / max(rnd["comprehensiveness"], 1e-6), 2
        ),
        "explained_vs_plain_median_review": served["explained_vs_plain"],
    }
    if est:  # on the reviews both were measured on
        same = est.get("ours_on_the_same_reviews", ours)
        out["comprehensiveness_vs_established"] = round(
            same["comprehensiveness"] / max(est["comprehensiveness"], 1e-6), 2
        )
        out["time_vs_established"] = round(
            same["ms_per_review_p50"] / max(est["ms_per_review_p50"], 1e-6), 3
        )
    met = {
        "comprehensiveness_vs_random": lambda v: v >= TARGETS["comprehensiveness_vs_random"],
        "comprehensiveness_vs_established": lambda v: (
            v >= TARGETS["comprehensiveness_vs_established"]
        ),
        "time_vs_established": lambda v: v <= TARGETS["time_vs_established"],
        "explained_vs_plain_median_review": lambda v: (
            v <= TARGETS["explained_vs_plain_median_review"]
        ),
    }
    return {k: {"value": v, "target": TARGETS[k], "met": met[k](v)} for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_uri", default="artifacts/models", help="bundle or runs root")
    parser.add_argument("--reviews", type=int, default=200, help="held-out reviews measured")
    parser.add_argument(
        "--shap_evals", type=int, default=500, help="shap's max_evals a review (0: no shap)"
    )
    parser.add_argument(
        "--shap_reviews",
        type=int,
        default=200,
        help="shap costs max_evals passes a review: measure it on the first this many",
    )
    parser.add_argument(
        "--occlusion_reviews",
        type=int,
        default=200,
        help="leave-one-word-out costs a pass per word: measure it on fewer",
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of the median review")
    parser.add_argument(
        "--candidates",
        default="2/1,2/2",
        help="other passage shapes measured beside the served one, as words/stride",
    )
    parser.add_argument(
        "--reexport",
        action="store_true",
        help="export hf/ again with the evidence output when the model lacks it",
    )
    add_smoke_flag(parser)  # 3 reviews, tiny budgets
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.smoke:
        args.reviews, args.shap_evals, args.repeats = 3, 40, 2
        args.occlusion_reviews = args.shap_reviews = 3
        args.candidates = "2/1"
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        bundle, manifest, reexported = open_bundle(args.model_uri, Path(tmp), args.reexport)
        classifier = OnnxClassifier.from_bundle(bundle, manifest)
        texts = held_out_reviews(manifest, args.reviews)
        explainer = Explainer(classifier)
        methods: dict[str, Callable[..., np.ndarray]] = {
            "ours": ff.ours(explainer),
            "random": ff.random_words(seed=0),
            "occlusion": ff.occlusion(classifier),
        }
        if args.shap_evals:
            methods["shap"] = ff.shap_partition(classifier, args.shap_evals)
        for shape in filter(None, args.candidates.split(",")):
            words, stride = (int(x) for x in shape.split("/"))
            methods[f"passages {words}/{stride}"] = ff.ours(Explainer(classifier, words, stride))
        split = ff.split(classifier)
        if split is not None:
            methods["split"] = split
        limits = {"occlusion": args.occlusion_reviews, "shap": args.shap_reviews}
        results = measure_methods(classifier, texts, methods, limits)
        served = served_ratio(bundle, args.repeats)
        plain_path = plain_vs_pruned(bundle, manifest, args.repeats, 1 if args.smoke else 3)
    report = {
        "load_avg_before": load_before,  # the machine's (bench/record.py) is the load after
        "bundle": {
            "run_id": manifest.run_id,
            "precision": manifest.precision,
            "reexported_with_evidence_output": reexported,
        },
        "reviews": len(texts),
        "fraction_deleted": ff.FRACTION,
        "shap_max_evals": args.shap_evals,
        "method": explainer.method,
        "methods": results,
        "served_median_review": served,
        "plain_path": plain_path,
        "targets": verdicts(results, served),
        "smoke": args.smoke,
    }
    write_result(args.output, report)
    log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
