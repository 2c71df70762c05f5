"""What `bench/explain.py` measures on: the bundle (exported again with the evidence output when
asked), its held-out reviews, the plain path with and without that output, and where it ran."""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.bundle import Manifest, read_manifest, verify_bundle, write_manifest
from contract.evidence import TOKEN_LOGITS
from contract.storage import resolve_local

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("bench.explain")


def _outputs(path: Path) -> set[str]:
    import onnxruntime as ort

    return {o.name for o in ort.InferenceSession(str(path)).get_outputs()}


def _reexport(bundle: Path, manifest: Manifest, dest: Path) -> Path:
    """A copy of `bundle` whose served model is its hf/ checkpoint exported again by this
    code (with the evidence output), fused and quantized as the training job does."""
    from training.export import export_onnx, fuse_for_cpu, quantize_int8
    from training.finetune import load_model, model_inputs

    for name in manifest.served_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bundle / name, dest / name)
    model = load_model(str(bundle / "hf"), manifest.labels)
    plain = export_onnx(model, dest / "plain.onnx", model_inputs(model))
    fused = dest / "fused.onnx"
    graph = fused if fuse_for_cpu(plain, fused, model.config) else plain
    if manifest.precision == "int8":
        quantize_int8(graph, dest / manifest.model_file)
    else:
        shutil.copy2(graph, dest / manifest.model_file)
    for leftover in (plain, fused):
        leftover.unlink(missing_ok=True)
    write_manifest(dest, manifest)
    return dest


def open_bundle(uri: str, tmp: Path, reexport: bool) -> tuple[Path, Manifest, bool]:
    bundle = resolve_local(uri)
    manifest = verify_bundle(bundle, serving_only=True)
    if TOKEN_LOGITS in _outputs(bundle / manifest.model_file) or not reexport:
        return bundle, manifest, False
    if not (bundle / "hf").is_dir():
        raise SystemExit(f"{bundle} has no hf/ checkpoint to export again; drop --reexport")
    log.info("exporting %s/hf again, with the evidence output", bundle)
    copy = _reexport(bundle, manifest, tmp / "bundle")
    return copy, read_manifest(copy), True


def held_out_reviews(manifest: Manifest, n: int) -> list[str]:
    """The first `n` of the bundle's test reviews, drawn again as training drew them."""
    return drawn_test_split(manifest)["text"].tolist()[:n]


def drawn_test_split(manifest: Manifest, whole: bool = False) -> pd.DataFrame:
    """The bundle's test split (text, label), drawn again as training drew it and checked
    against the manifest's counts; `whole`: the split before its subsample (the rows beyond
    the bundle's own test reviews were never trained or selected on either)."""
    from training.args import DataArguments
    from training.data import load_splits

    source = manifest.data.get("source", "")
    if source.startswith("embedded:"):
        dataset = "embedded"
    elif source.startswith("hub:"):
        dataset = source
    else:
        raise SystemExit(f"bundle data {source!r}: only embedded or hub: data can be drawn again")
    sizes, counts = manifest.data["sizes"], manifest.data["class_counts"]
    seed = int(manifest.training_args.get("seed", 42))
    test = load_splits(DataArguments(dataset=dataset, max_test_samples=sizes["test"]), seed).test
    drawn = {str(k): int(v) for k, v in test["label"].value_counts().items()}
    if len(test) != sizes["test"] or drawn != {str(k): v for k, v in counts["test"].items()}:
        raise SystemExit(
            "the test split drawn again differs from the manifest's: not the same data"
        )
    if whole:
        return load_splits(DataArguments(dataset=dataset), seed).test
    return test


def _pruned(model: Path, dest: Path) -> Path:
    """The graph without the evidence output, and without the nodes only it needed."""
    import onnx

    graph_model = onnx.load(str(model))
    graph = graph_model.graph
    keep = [o for o in graph.output if o.name != TOKEN_LOGITS]
    del graph.output[:]
    graph.output.extend(keep)
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)
    onnx.save(graph_model, str(dest))
    return dest


def plain_vs_pruned(bundle: Path, manifest: Manifest, repeats: int, rounds: int) -> dict[str, Any]:
    """A plain prediction of the median review on the exported graph and on the same graph
    without the evidence output: what the output costs the plain path. Each graph runs in a
    fresh process, in alternating rounds (bench/precision.py's worker): two sessions in one
    process slow each other down (their threads spin after each run)."""
    from bench.precision import spawn
    from bench.serving import write_inputs

    model = bundle / manifest.model_file
    if TOKEN_LOGITS not in _outputs(model):
        return {"skipped": "the model has no evidence output"}
    times: dict[str, list[float]] = {"with_output": [], "without_output": []}
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        sides = {"with_output": model, "without_output": _pruned(model, Path(tmp) / "pruned.onnx")}
        # The worker's batches are not what this measures: two of two reviews, the least it runs.
        sizes = {"batch": 2, "batches": 2, "warm": repeats}
        inputs = write_inputs(Path(tmp) / "inputs.json", sizes)
        for _ in range(rounds):
            for name, graph in sides.items():
                times[name].append(spawn(graph, bundle, inputs)["warm_p50_ms"])
    p50 = {name: statistics.median(t) for name, t in times.items()}
    return {
        "with_output_p50_ms": round(p50["with_output"], 3),
        "without_output_p50_ms": round(p50["without_output"], 3),
        "ratio": round(p50["with_output"] / p50["without_output"], 3),
        "repeats": repeats,
        "rounds": rounds,
    }
