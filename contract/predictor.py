"""ONNX Runtime inference over the shared encoder: `OnnxClassifier.classify` is the one path
from texts to scores. Serving answers with it and the training job's parity gate checks it, so
the gate measures what users get. Torch-free."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.bundle import TOKENIZER_FILE, Manifest
from contract.encoder import COMBINES, STRATEGIES, Reading, TextEncoder

# Padded tokens per ONNX Runtime run. Small on purpose: bigger batches were no faster on either
# CPU kind measured and only spilled the caches and grew the memory arena (README, "Measured").
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


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Each label's score on its own (they need not sum to 1): the Hugging Face Inference API's
    `function_to_apply: "sigmoid"`."""
    return 1.0 / (1.0 + np.exp(-logits))


def combine_windows(logits: np.ndarray, rule: str) -> np.ndarray:
    """One text's window logits [windows, labels] -> its logits [labels].

    "mean": the mean of the logits; every window votes alike, and the evidence of a long review
    spread over its whole length adds up. "max": the window the model is most sure of (highest
    top probability) answers alone; a review's verdict often sits in one paragraph (the last,
    typically) while the rest retells the plot, and the mean lets those neutral windows dilute
    it. Training measures both (training/long_text_eval.py) and the bundle names its pick."""
    if rule == "mean":
        return logits.mean(axis=0)
    if rule == "max":
        return logits[int(softmax(logits).max(axis=-1).argmax())]
    raise ValueError(f"combine rule must be one of {COMBINES}, got {rule!r}")


@dataclass(frozen=True)
class Classified:
    """Texts classified under a reading strategy: everything one pass saw, so what a request
    reports (tokens, truncation, windows, each window's logits) needs no second pass."""

    logits: np.ndarray  # [n, labels], raw (windows combined, before the temperature)
    probs: np.ndarray  # [n, labels], softmax(logits / temperature)
    readings: list[Reading]  # how each text was read: its tokens and windows
    window_logits: list[np.ndarray]  # per text, [its windows, labels], raw
    tokenize_ms: float  # reading the texts into windows
    inference_ms: float  # the model runs, waiting for the lock included


class OnnxClassifier:
    """An ONNX Runtime session plus the encoder a bundle was trained with, its temperature
    (scores are softmax(logits / temperature): calibrated probabilities when training fitted
    one) and how it reads a text longer than its window unless told otherwise."""

    def __init__(
        self,
        model_path: str | Path,
        encoder: TextEncoder,
        labels: Sequence[str],
        threads: int | None = None,
        *,
        temperature: float = 1.0,
        strategy: str | None = None,
        combine: str = "mean",
    ) -> None:
        import onnxruntime as ort

        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        strategy = strategy or encoder.config.truncation  # as trained
        if strategy not in STRATEGIES or combine not in COMBINES:
            raise ValueError(
                f"strategy must be one of {STRATEGIES} and combine one of {COMBINES}, got "
                f"{strategy!r} and {combine!r}"
            )
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
        self.temperature = float(temperature)
        self.strategy = strategy
        self.combine = combine
        # One run at a time: the session's threads already take every core, and concurrent
        # runs would each want all of them and thrash.
        self._lock = threading.Lock()

    @classmethod
    def from_bundle(
        cls,
        bundle_dir: str | Path,
        manifest: Manifest,
        threads: int | None = None,
        model_file: str | None = None,
    ) -> OnnxClassifier:
        """Loads the model file the manifest names, with the manifest's temperature and long-text
        reading (a manifest without them: contract/bundle.py FORMAT_1_OPTIONAL)."""
        bundle_dir = Path(bundle_dir)
        encoder = TextEncoder.from_file(bundle_dir / TOKENIZER_FILE, manifest.encoder_config)
        reading = manifest.long_text
        return cls(
            bundle_dir / (model_file or manifest.model_file),
            encoder,
            manifest.labels,
            threads,
            temperature=manifest.temperature,
            strategy=reading.get("strategy"),
            combine=reading.get("combine", "mean"),
        )

    def logits(
        self,
        windows: Sequence[list[int]],
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        max_batch_size: int = 64,
        *,
        owners: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Logits of windows (ids with special tokens) in input order. They run sorted by
        length, in batches of at most `max_batch_tokens` padded tokens: short windows share a
        run, a long one runs alone. `owners` (one per window: the text it reads) keeps each
        text's windows out of every other text's runs: the int8 graph quantizes each run's
        activations with that run's own range (DynamicQuantizeLinear is per tensor), so a
        shared run would make a text's logits depend on the texts it shared the run with.
        Owned, a text's logits depend on the text alone, to the bit."""
        if owners is not None and len(owners) != len(windows):
            raise ValueError(f"{len(owners)} owners for {len(windows)} windows")
        out = np.zeros((len(windows), len(self.labels)), dtype=np.float32)
        owner = owners if owners is not None else [0] * len(windows)
        order = sorted(range(len(windows)), key=lambda i: (owner[i], len(windows[i])))
        with self._lock:
            start = 0
            while start < len(order):
                end = start + 1
                # Sorted ascending, so the last member sets the padded width of the batch.
                while (
                    end < len(order)
                    and end - start < max_batch_size
                    and owner[order[end]] == owner[order[start]]
                    and (end - start + 1) * len(windows[order[end]]) <= max_batch_tokens
                ):
                    end += 1
                idx = order[start:end]
                out[idx] = self.session.run(["logits"], self.feed([windows[i] for i in idx]))[0]
                start = end
        return out

    def feed(self, windows: Sequence[list[int]]) -> dict[str, np.ndarray]:
        """The session's inputs for one batch of windows, padded to the longest."""
        return {k: v for k, v in self.encoder.pad(windows).items() if k in self.input_names}

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits / self.temperature)

    def classify(
        self,
        texts: Sequence[str],
        strategy: str | None = None,
        combine: str | None = None,
        max_windows: int | None = None,
        *,
        check: Callable[[list[Reading]], None] | None = None,
    ) -> Classified:
        """Texts under `strategy` (default: the bundle's), windows combined by `combine`
        (default: the bundle's). Every window of every text goes through the session in one
        call, each text's windows batched by length. Raises contract.encoder.WindowLimitError,
        before any model work, past `max_windows` windows in all; `check` sees the readings
        then too, and refuses by raising (an explained request's bound on its extra passes).
        No run mixes two texts (`logits`' owners): a text's scores are the same alone, in any
        request and in any batch file."""
        start = time.perf_counter()
        readings = self.encoder.read_batch(texts, strategy or self.strategy, max_windows)
        if check is not None:
            check(readings)
        tokenized = time.perf_counter()
        flat = self.logits(
            [w for r in readings for w in r.windows],
            owners=[t for t, r in enumerate(readings) for _ in r.windows],
        )
        done = time.perf_counter()
        ends = np.cumsum([len(r.windows) for r in readings])
        per_text = np.split(flat, ends[:-1]) if readings else []
        rule = combine or self.combine
        logits = np.zeros((len(readings), len(self.labels)), dtype=np.float32)
        for row, windows in enumerate(per_text):
            logits[row] = windows[0] if len(windows) == 1 else combine_windows(windows, rule)
        return Classified(
            logits=logits,
            probs=self.probabilities(logits),
            readings=readings,
            window_logits=per_text,
            tokenize_ms=(tokenized - start) * 1e3,
            inference_ms=(done - tokenized) * 1e3,
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of texts read as trained (the trained truncation, one window each):
        what the parity gate compares with torch, through the same path serving answers on."""
        return self.classify(texts, self.encoder.config.truncation).probs
