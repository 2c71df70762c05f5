"""The predictor: a verified bundle served by ONNX Runtime and the shared text encoder.

Torch-free on purpose: onnxruntime + tokenizers start several times faster than torch +
transformers (README, "Measured"), and a Lambda cold start pays that on every new container.
Inference is `contract.predictor.OnnxClassifier`, the same code the training job's parity gate
checks; this adds the lock that keeps runs one at a time and the timings each response reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.bundle import Manifest
from contract.encoder import Reading
from contract.predictor import OnnxClassifier


@dataclass(frozen=True)
class BatchOutput:
    """Logits in input order, how each text was read, and where time went."""

    logits: np.ndarray  # [n, num_labels] float32, raw: windows combined, before the temperature
    probs: np.ndarray  # [n, num_labels] softmax(logits / the bundle's temperature)
    readings: list[Reading]
    tokenize_ms: float
    inference_ms: float


class Predictor:
    def __init__(self, bundle_dir: Path, manifest: Manifest, threads: int) -> None:
        self.manifest = manifest
        self.threads = threads
        self.classifier = OnnxClassifier.from_bundle(bundle_dir, manifest, threads=threads)
        self.labels = self.classifier.labels
        # One run at a time: concurrent runs would each want every core and thrash.
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.manifest.run_id

    @property
    def precision(self) -> str:
        """int8, or fp32 when int8 failed the parity gate (the manifest's model_file is loaded)."""
        return self.manifest.precision

    @property
    def temperature(self) -> float:
        return self.classifier.temperature

    def run(
        self, texts: Sequence[str], strategy: str | None = None, max_windows: int | None = None
    ) -> BatchOutput:
        """`strategy` None reads as the bundle says; raises contract.encoder.WindowLimitError,
        before any model work, when the texts need more than `max_windows` windows."""
        start = time.perf_counter()
        readings = self.classifier.encoder.read_batch(
            texts, strategy or self.classifier.strategy, max_windows
        )
        tokenized = time.perf_counter()
        with self._lock:
            logits = self.classifier.run_readings(readings)
        done = time.perf_counter()
        return BatchOutput(
            logits=logits,
            probs=self.classifier.probabilities(logits),
            readings=readings,
            tokenize_ms=(tokenized - start) * 1e3,
            inference_ms=(done - tokenized) * 1e3,
        )
