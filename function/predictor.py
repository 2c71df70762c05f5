"""The predictor: a verified bundle served by ONNX Runtime and the shared text encoder.

Torch-free on purpose: onnxruntime + tokenizers start several times faster than torch +
transformers (README, "Measured"), and a Lambda cold start pays that on every new container.
Inference is `contract.predictor.OnnxClassifier`, the same code the training job's parity gate
checks; this adds the lock that keeps runs one at a time and the timings each response reports.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from contract.bundle import Manifest
from contract.encoder import Reading, WindowLimitError
from contract.evidence import Explainer, Explanation
from contract.predictor import OnnxClassifier


@dataclass(frozen=True)
class BatchOutput:
    """Logits in input order, how each text was read, and where time went."""

    logits: np.ndarray  # [n, num_labels] float32, raw: windows combined, before the temperature
    probs: np.ndarray  # [n, num_labels] softmax(logits / the bundle's temperature)
    readings: list[Reading]
    tokenize_ms: float
    inference_ms: float
    # Asked to explain: each text's evidence, its windows' own probabilities [windows, labels],
    # and the time the evidence took (inside inference_ms).
    evidence: list[Explanation] | None = None
    window_probs: list[np.ndarray] | None = None
    explain_ms: float = 0.0


class ExplainLimitError(WindowLimitError):
    def __init__(self, windows: int, limit: int) -> None:
        ValueError.__init__(
            self,
            f"explaining these texts takes {windows} windows' worth of model work (reading "
            f"them, then their passages alone); the limit is {limit} per request. Explain "
            "fewer or shorter texts per request, or read them with a one-window strategy",
        )
        self.windows = windows
        self.limit = limit


class Predictor:
    def __init__(self, bundle_dir: Path, manifest: Manifest, threads: int) -> None:
        self.manifest = manifest
        self.threads = threads
        self.classifier = OnnxClassifier.from_bundle(bundle_dir, manifest, threads=threads)
        self.labels = self.classifier.labels
        self.explainer = Explainer(self.classifier)
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
        self,
        texts: Sequence[str],
        strategy: str | None = None,
        max_windows: int | None = None,
        explain_top_k: int | None = None,
    ) -> BatchOutput:
        """`strategy` None reads as the bundle says; raises contract.encoder.WindowLimitError,
        before any model work, when the texts need more than `max_windows` windows (explained,
        each window's evidence counts too). With `explain_top_k`, each text's evidence too."""
        start = time.perf_counter()
        readings = self.classifier.encoder.read_batch(
            texts, strategy or self.classifier.strategy, max_windows
        )
        if explain_top_k is not None and max_windows is not None:
            needed = sum(len(r.windows) for r in readings) + self.explainer.passes(readings)
            if needed > max_windows:
                raise ExplainLimitError(math.ceil(needed), max_windows)
        tokenized = time.perf_counter()
        with self._lock:
            if explain_top_k is None:
                logits = self.classifier.run_readings(readings)
            else:
                # The same windows in the same batches as above: the same logits to the bit.
                flat = self.classifier.logits([w for r in readings for w in r.windows])
                logits = self.classifier.combine_readings(readings, flat)
                explaining = time.perf_counter()
                labels = [int(i) for i in logits.argmax(axis=1)]
                evidence = self.explainer.explain(texts, readings, labels, explain_top_k)
        done = time.perf_counter()
        output = BatchOutput(
            logits=logits,
            probs=self.classifier.probabilities(logits),
            readings=readings,
            tokenize_ms=(tokenized - start) * 1e3,
            inference_ms=(done - tokenized) * 1e3,
        )
        if explain_top_k is None:
            return output
        bounds = np.cumsum([0, *(len(r.windows) for r in readings)])
        window_probs = self.classifier.probabilities(flat)
        return replace(
            output,
            evidence=evidence,
            window_probs=[window_probs[a:b] for a, b in itertools.pairwise(bounds)],
            explain_ms=(done - explaining) * 1e3,
        )
