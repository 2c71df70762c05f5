"""make bench-precision   (python -m bench.precision [--model_uri DIR] [--rounds N])

Which graph serves faster on this CPU kind: int8, which the training job ships when it passes
the parity gate, or the fp32 graph it is quantized from. Both are built here from the bundle's
hf/ checkpoint by the training job's own export (training/export.py: eager export, ONNX
Runtime's offline fusions, dynamic int8), so they differ in precision alone. Each runs in a
fresh process, in alternating rounds (int8, fp32, int8, fp32, ...): ONNX Runtime's threads spin
for a while after a run, and two sessions sharing a process slow each other down. Per
precision: session load, warm p50 of the median-length IMDB review and reviews/s over batches
of 32 through `OnnxClassifier.classify` (the path serving answers on), peak RSS; and how far
the two graphs' scores are apart on those reviews.

int8 matrix products gain most where the CPU has an int8 dot product (AVX-512 VNNI, AMX);
AVX2 has none. The result file keeps one entry per CPU kind (bench/results/precision.json), so
the kinds sit side by side.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_facts
from bench.record import RESULTS as BENCH_RESULTS
from bench.record import add_smoke_flag, check_output, write_result
from bench.serving import FULL, SMOKE, write_inputs

log = logging.getLogger("bench.precision")
REPO = Path(__file__).resolve().parents[1]
RESULTS = BENCH_RESULTS / "precision.json"
PRECISIONS = ("int8", "fp32")


def build_graphs(bundle: Path, dest: Path) -> dict[str, Any]:
    """The bundle's hf/ checkpoint exported, fused and quantized as training does: the fp32 graph
    (fused when ONNX Runtime fuses this architecture) and its int8 quantization."""
    from contract.bundle import read_manifest
    from training.export import export_onnx, fuse_for_cpu, quantize_int8
    from training.finetune import load_model, model_inputs

    manifest = read_manifest(bundle)
    model = load_model(str(bundle / "hf"), manifest.labels)
    plain = export_onnx(model, dest / "plain.onnx", model_inputs(model))
    fused = dest / "fp32.onnx"
    fusions = fuse_for_cpu(plain, fused, model.config)
    if not fusions:
        plain.replace(fused)
    quantize_int8(fused, dest / "int8.onnx")
    return {"fusions": fusions, "fp32": fused, "int8": dest / "int8.onnx"}


def spawn(model: Path, bundle: Path, inputs: Path) -> dict[str, Any]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "bench.precision", "--worker", str(model), str(bundle)]
    cmd.append(str(inputs))
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("WORKER ")]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"worker for {model.name} failed:\n{run.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("WORKER "))


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries it over
    exec from the parent, which has loaded torch to export the graphs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def worker(model: str, bundle: str, inputs: str) -> dict[str, Any]:
    """One graph in this fresh process: the timings, and its positive scores on the batches."""
    from contract.bundle import read_manifest
    from contract.predictor import OnnxClassifier

    data = json.loads(Path(inputs).read_text())
    text, batches = data["median"], data["batches"]
    start = time.perf_counter()
    classifier = OnnxClassifier.from_bundle(bundle, read_manifest(bundle), model_file=model)
    load_s = time.perf_counter() - start
    for _ in range(min(5, data["warm_repeats"])):
        classifier.classify([text])
    times = []
    for _ in range(data["warm_repeats"]):
        t = time.perf_counter()
        classifier.classify([text])
        times.append((time.perf_counter() - t) * 1e3)
    classifier.classify(batches[0])  # warm-up
    scores: list[float] = []
    t = time.perf_counter()
    for batch in batches[1:]:
        scores.extend(classifier.classify(batch).probs[:, -1].tolist())
    seconds = time.perf_counter() - t
    return {
        "load_s": load_s,
        "warm_p50_ms": statistics.median(times),
        "batch_reviews_per_s": len(scores) / seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "scores": scores,
    }


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the rounds per precision; int8's speed-ups over fp32; score agreement."""
    out: dict[str, Any] = {}
    for precision in PRECISIONS:
        runs = [r[precision] for r in rounds]
        out[precision] = {
            key: round(statistics.median(run[key] for run in runs), 3)
            for key in ("load_s", "warm_p50_ms", "batch_reviews_per_s", "peak_rss_mb")
        }
    int8, fp32 = rounds[-1]["int8"]["scores"], rounds[-1]["fp32"]["scores"]
    out["int8_vs_fp32"] = {
        "warm_p50_speedup": round(out["fp32"]["warm_p50_ms"] / out["int8"]["warm_p50_ms"], 2),
        "batch_speedup": round(
            out["int8"]["batch_reviews_per_s"] / out["fp32"]["batch_reviews_per_s"], 2
        ),
        "reviews_compared": len(int8),
        "max_abs_score_diff": round(max(abs(a - b) for a, b in zip(int8, fp32, strict=True)), 4),
        "label_flips": sum((a >= 0.5) != (b >= 0.5) for a, b in zip(int8, fp32, strict=True)),
    }
    out["faster"] = {
        "warm_p50": "int8" if out["int8_vs_fp32"]["warm_p50_speedup"] >= 1 else "fp32",
        "batch": "int8" if out["int8_vs_fp32"]["batch_speedup"] >= 1 else "fp32",
    }
    return out


def table(result: dict[str, Any]) -> str:
    i, f, s = result["int8"], result["fp32"], result["int8_vs_fp32"]
    rows = [
        ("warm p50, median review (ms)", i["warm_p50_ms"], f["warm_p50_ms"], s["warm_p50_speedup"]),
        (
            f"batches of {result['setup']['batch_size']} (reviews/s)",
            i["batch_reviews_per_s"],
            f["batch_reviews_per_s"],
            s["batch_speedup"],
        ),
        ("session load (s)", i["load_s"], f["load_s"], None),
        ("peak RSS (MB)", i["peak_rss_mb"], f["peak_rss_mb"], None),
    ]
    lines = [f"{result['machine']['cpu_kind']}: {'':26} {'int8':>9} {'fp32':>9}  int8 speed-up"]
    for name, a, b, ratio in rows:
        lines.append(f"{name:40} {a:9.2f} {b:9.2f}  {'' if ratio is None else f'{ratio:.2f}x'}")
    lines.append(
        f"scores on {s['reviews_compared']} reviews: max |int8 - fp32| {s['max_abs_score_diff']}, "
        f"{s['label_flips']} labels differ"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--worker"]:
        out = worker(*sys.argv[2:5])
        sys.stdout.write("WORKER " + json.dumps(out) + "\n")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model_uri",
        default=os.environ.get("MODEL_URI") or "artifacts/models",
        help="bundle or runs root with an hf/ checkpoint (default MODEL_URI or artifacts/models)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per precision")
    parser.add_argument("--output", type=Path, default=RESULTS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from contract.bundle import verify_bundle
    from contract.storage import resolve_local

    bundle = resolve_local(args.model_uri)
    manifest = verify_bundle(bundle, serving_only=True)
    if not (bundle / "hf" / "config.json").is_file():
        parser.error(
            f"{bundle} has no hf/ checkpoint to export (train with the default --save_hf_checkpoint)"
        )
    sizes = SMOKE if args.smoke else FULL
    rounds = 1 if args.smoke else args.rounds
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        graphs = build_graphs(bundle, Path(tmp))
        inputs = write_inputs(Path(tmp) / "inputs.json", sizes)
        results: list[dict[str, dict[str, Any]]] = []
        for r in range(rounds):
            results.append({p: spawn(graphs[p], bundle, inputs) for p in PRECISIONS})
            log.info(
                "round %d: warm p50 int8 %.1f ms, fp32 %.1f ms",
                r + 1,
                results[-1]["int8"]["warm_p50_ms"],
                results[-1]["fp32"]["warm_p50_ms"],
            )
    result = summarize(results)
    result["setup"] = {
        "run_id": manifest.run_id,
        "shipped": manifest.precision,
        "fusions": graphs["fusions"],
        "rounds": rounds,
        "warm_repeats": sizes["warm"],
        "batch_size": sizes["batch"],
        "batches_timed": sizes["batches"] - 1,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    result["smoke"] = args.smoke
    kind = machine_facts()["cpu_kind"]
    result = write_result(args.output, result, key=kind)
    log.info("%s\nwrote %s [%s]", table(result), args.output, kind)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
