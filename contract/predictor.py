"""ONNX Runtime inference over the shared encoder: the path serving answers with, and the one
the training job's parity gate checks, so the gate measures what users get. Torch-free."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.bundle import TOKENIZER_FILE, Manifest
from contract.encoder import COMBINES, STRATEGIES, Encoded, Reading, TextEncoder

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


def length_batches(
    lengths: Sequence[int],
    max_batch_tokens: int = MAX_BATCH_TOKENS,
    max_batch_size: int = 64,
) -> Iterator[list[int]]:
    """Indices of sequences in the batches they run in: sorted by length, each batch at most
    `max_batch_tokens` padded tokens, so short texts share a run and a long review runs alone.
    int8 dynamic quantization scales activations per batch, so the same batches give the same
    scores: whatever must match a prediction runs its windows through this."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    start = 0
    while start < len(order):
        end = start + 1
        # Sorted ascending, so the last member sets the padded width of the batch.
        while (
            end < len(order)
            and end - start < max_batch_size
            and (end - start + 1) * lengths[order[end]] <= max_batch_tokens
        ):
            end += 1
        yield order[start:end]
        start = end


@dataclass(frozen=True)
class Classified:
    """Texts classified under a reading strategy: one row of logits per text."""

    logits: np.ndarray  # [n, labels], raw (windows combined, before the temperature)
    probs: np.ndarray  # [n, labels], softmax(logits / temperature)
    readings: list[Reading]  # how each text was read: its tokens and windows


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

    @classmethod
    def from_bundle(
        cls,
        bundle_dir: str | Path,
        manifest: Manifest,
        threads: int | None = None,
        model_file: str | None = None,
    ) -> OnnxClassifier:
        """Loads the model file the manifest names (model.onnx for bundles that name none), with
        the manifest's temperature and long-text reading (1.0 and the trained truncation for
        bundles written before them)."""
        bundle_dir = Path(bundle_dir)
        encoder = TextEncoder.from_file(bundle_dir / TOKENIZER_FILE, manifest.encoder_config)
        reading = manifest.long_text
        return cls(bundle_dir / (model_file or manifest.model_file), encoder, manifest.labels,
                   threads, temperature=manifest.temperature, strategy=reading.get("strategy"),
                   combine=reading.get("combine", "mean"))  # fmt: skip

    def logits(self, encoded: Sequence[Encoded | list[int]],
               max_batch_tokens: int = MAX_BATCH_TOKENS,
               max_batch_size: int = 64) -> np.ndarray:  # fmt: skip
        """Logits in input order. Inputs run sorted by length, in batches of at most
        `max_batch_tokens` padded tokens: short texts share a run, a long review runs alone."""
        seqs = [e.ids if isinstance(e, Encoded) else e for e in encoded]
        out = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        for idx in length_batches([len(s) for s in seqs], max_batch_tokens, max_batch_size):
            out[idx] = self.session.run(["logits"], self.feed([seqs[i] for i in idx]))[0]
        return out

    def feed(self, seqs: Sequence[list[int]]) -> dict[str, np.ndarray]:
        """The session's inputs for one batch of id sequences, padded to the longest."""
        return {k: v for k, v in self.encoder.pad(seqs).items() if k in self.input_names}

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits / self.temperature)

    def run_readings(self, readings: Sequence[Reading], combine: str | None = None) -> np.ndarray:
        """Logits [n, labels] of already-read texts: every window of every text goes through
        the session in one call (batched by length), then each text's windows are combined."""
        windows = [w for r in readings for w in r.windows]
        return self.combine_readings(readings, self.logits(windows), combine)

    def combine_readings(
        self, readings: Sequence[Reading], flat: np.ndarray, combine: str | None = None
    ) -> np.ndarray:
        """Logits [n, labels] of texts from the logits of all their windows, in order."""
        combine = combine or self.combine
        out = np.zeros((len(readings), len(self.labels)), dtype=np.float32)
        at = 0
        for row, reading in enumerate(readings):
            n = len(reading.windows)
            out[row] = flat[at] if n == 1 else combine_windows(flat[at : at + n], combine)
            at += n
        return out

    def classify(
        self,
        texts: Sequence[str],
        strategy: str | None = None,
        combine: str | None = None,
        max_windows: int | None = None,
    ) -> Classified:
        """Texts under `strategy` (default: the bundle's), windows combined by `combine`;
        raises contract.encoder.WindowLimitError past `max_windows` windows in all."""
        readings = self.encoder.read_batch(texts, strategy or self.strategy, max_windows)
        logits = self.run_readings(readings, combine)
        return Classified(logits=logits, probs=self.probabilities(logits), readings=readings)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of texts encoded as trained (the trained truncation, one window each):
        what the parity gate compares with torch."""
        return self.probabilities(self.logits(self.encoder.encode_batch(texts)))
