"""ONNX Runtime inference over the shared encoder: the path serving answers with, and the one
the training job's parity gate checks, so the gate measures what users get. Torch-free."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from contract.bundle import TOKENIZER_FILE, Manifest
from contract.encoder import Encoded, TextEncoder

# Padded tokens per ONNX Runtime run. Measured on 2 AVX2 vCPUs with the int8 MiniLM: 64 reviews
# of ~230 tokens ran at 28 reviews/s with 946 MB peak RSS in batches of 16, and at 49/s with
# 186 MB one at a time; bigger batches only spill the caches and grow the memory arena. On 2
# AVX-512 VNNI vCPUs with the fused int8 graph, budgets of 128 to 4,096 tokens all ran batches
# of 32 reviews at 44-53/s, within run-to-run noise, so the smaller arena wins.
MAX_BATCH_TOKENS = 256


def available_cpus() -> int:
    """CPUs this process may really use (affinity and cgroup quota), not the host's count."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class OnnxClassifier:
    """An ONNX Runtime session plus the encoder a bundle was trained with."""

    def __init__(
        self,
        model_path: str | Path,
        encoder: TextEncoder,
        labels: Sequence[str],
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cpus()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.encoder = encoder
        self.labels = list(labels)

    @classmethod
    def from_bundle(
        cls,
        bundle_dir: str | Path,
        manifest: Manifest,
        threads: int | None = None,
        model_file: str | None = None,
    ) -> OnnxClassifier:
        """Loads the model file the manifest names (model.onnx for bundles that name none)."""
        bundle_dir = Path(bundle_dir)
        encoder = TextEncoder.from_file(bundle_dir / TOKENIZER_FILE, manifest.encoder_config)
        return cls(bundle_dir / (model_file or manifest.model_file), encoder, manifest.labels,
                   threads)  # fmt: skip

    def logits(self, encoded: Sequence[Encoded], max_batch_tokens: int = MAX_BATCH_TOKENS,
               max_batch_size: int = 64) -> np.ndarray:  # fmt: skip
        """Logits in input order. Inputs run sorted by length, in batches of at most
        `max_batch_tokens` padded tokens: short texts share a run, a long review runs alone."""
        out = np.zeros((len(encoded), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted ascending, so the last member sets the padded width of the batch.
            while (
                end < len(order)
                and end - start < max_batch_size
                and (end - start + 1) * len(encoded[order[end]].ids) <= max_batch_tokens
            ):
                end += 1  # fmt: skip
            idx = order[start:end]
            feed = self.encoder.pad([encoded[i] for i in idx])
            feed = {k: v for k, v in feed.items() if k in self.input_names}
            out[idx] = self.session.run(["logits"], feed)[0]
            start = end
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(self.encoder.encode_batch(texts)))
