"""The bundles bench/monitoring.py shadows and checks, made from one real bundle: a copy under
another run id (the identical candidate), a copy whose classifier bias is shifted toward one
label (the degraded candidate), and, for a bundle trained before reference profiles existed, a
profile added the way training writes it (training/reference.py) on a sample of IMDB reviews.
Each copy gets a fresh manifest (every sha256), so serving verifies it like any published run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from contract.bundle import read_manifest, verify_bundle, write_manifest
from contract.predictor import OnnxClassifier
from contract.profile import PROFILE_FILE, read_profile, write_profile
from training.reference import reference_profile


def copy_bundle(source: Path, target: Path, run_id: str) -> Path:
    """The served files of `source` (no hf/ checkpoint) under `run_id`, manifest rewritten."""
    verify_bundle(source, serving_only=True)
    manifest = read_manifest(source)
    target.mkdir(parents=True)
    for name in manifest.served_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)
    manifest.run_id = run_id
    write_manifest(target, manifest)
    return target


def ensure_reference(bundle: Path, texts: list[str]) -> str:
    """Adds a reference profile computed on `texts` unless the bundle has one; says which."""
    if read_profile(bundle) is not None:
        return "the bundle's own (its held-out test split, written by training)"
    manifest = read_manifest(bundle)
    classifier = OnnxClassifier.from_bundle(bundle, manifest)
    plain = classifier.temperature
    classifier.temperature = 1.0  # reference_profile takes plain-softmax probabilities
    probs = classifier.predict_proba(texts)
    classifier.temperature = plain
    write_profile(bundle, reference_profile(classifier, texts, probs))
    write_manifest(bundle, manifest)
    return f"added by the bench: {len(texts)} IMDB reviews through the served model"


def shift_bias(bundle: Path, label: int, delta: float) -> None:
    """Adds `delta` to the classifier bias of `label`: the logits node's bias initializer (the
    int8 graph ends in MatMulInteger -> Add(bias); an fp32 one in Gemm(..., bias))."""
    import onnx
    from onnx import numpy_helper

    manifest = read_manifest(bundle)
    path = bundle / manifest.model_file
    model = onnx.load(str(path))
    graph = model.graph
    output = graph.output[0].name
    node = next(n for n in graph.node if output in n.output)
    initializers = {i.name: i for i in graph.initializer}
    candidates = [name for name in node.input if name in initializers]
    if node.op_type not in ("Add", "Gemm") or not candidates:
        raise RuntimeError(f"{path}: the logits come from {node.op_type}, not a biased Add/Gemm")
    tensor = initializers[candidates[-1]]
    bias = numpy_helper.to_array(tensor).copy()
    bias[..., label] += np.asarray(delta, dtype=bias.dtype)
    tensor.CopyFrom(numpy_helper.from_array(bias, tensor.name))
    onnx.save(model, str(path))
    (bundle / PROFILE_FILE).unlink(missing_ok=True)  # the reference was the original model's
    write_manifest(bundle, manifest)
