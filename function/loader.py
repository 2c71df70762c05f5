"""Loads the bundle once, at start: in Lambda that is the init phase, outside the handler.

A bundle that cannot be fetched or fails verification, or an environment the settings refuse, is
never served: the app still starts, `/health` reports the reason and predictions answer 503 with it.
A failed fetch or bundle is tried again while the environment lives (`reload_if_due`): S3 that
timed out at init, or a run published after it, is served without waiting for Lambda to replace
the environment. A refused environment is not: its settings cannot change under it.

Torch-free on purpose: onnxruntime + tokenizers start several times faster than torch +
transformers (README, "Measured"), and a Lambda cold start pays that on every new container.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path

from contract.bundle import BundleError, Manifest, read_manifest
from contract.encoder import Reading, WindowLimitError
from contract.evidence import Explainer, Explanation
from contract.predictor import Classified, OnnxClassifier
from contract.storage import StorageError, fetch_bundle
from function.config import Settings

log = logging.getLogger(__name__)

NO_MODEL_URI = "MODEL_URI is not set; point it at a bundle directory or an s3:// run or latest.json"
# A failed load is tried again by the first request (or /health) that comes RETRY_FIRST_S after
# it, then after twice as long each time, up to RETRY_MAX_S apart: a transient S3 error heals
# within seconds, and a bundle that stays broken costs an environment at most 4 fetches an hour.
RETRY_FIRST_S = 15.0
RETRY_MAX_S = 900.0


@dataclass(frozen=True)
class Explained(Classified):
    """A classification and each text's evidence. Everything `Classified` holds is the plain
    pass's, timings included, so monitoring and a shadow copy see what a plain request would."""

    evidence: list[Explanation]
    explain_ms: float  # the evidence's own model passes, after inference_ms


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
    """A verified bundle as requests see it: its `OnnxClassifier` (the code the training job's
    parity gate checks, one run at a time) and what the manifest says about it."""

    def __init__(self, bundle_dir: Path, manifest: Manifest, threads: int) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.threads = threads
        self.classifier = OnnxClassifier.from_bundle(bundle_dir, manifest, threads=threads)
        self.labels = self.classifier.labels
        self.explainer = Explainer(self.classifier)

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
    ) -> Classified:
        """`strategy` None reads as the bundle says; raises contract.encoder.WindowLimitError,
        before any model work, when the texts need more than `max_windows` windows (explained,
        the evidence's passes count too). With `explain_top_k`, an `Explained`: the same
        classification, then each text's evidence from the readings it made."""
        if explain_top_k is None:
            return self.classifier.classify(texts, strategy, max_windows=max_windows)

        def bound(readings: list[Reading]) -> None:
            if max_windows is None:
                return
            needed = sum(len(r.windows) for r in readings) + self.explainer.passes(readings)
            if needed > max_windows:
                raise ExplainLimitError(math.ceil(needed), max_windows)

        output = self.classifier.classify(texts, strategy, max_windows=max_windows, check=bound)
        start = time.perf_counter()
        labels = [int(i) for i in output.logits.argmax(axis=1)]
        # Its passes go through the classifier's lock like any prediction's windows.
        evidence = self.explainer.explain(texts, output.readings, labels, explain_top_k)
        explain_ms = (time.perf_counter() - start) * 1e3
        plain = {f.name: getattr(output, f.name) for f in fields(output)}
        return Explained(**plain, evidence=evidence, explain_ms=explain_ms)


@dataclass(frozen=True)
class ModelState:
    """Either a ready predictor or the reason there is none, and whether to try again."""

    source: str
    predictor: Predictor | None = None
    error: str | None = None
    retryable: bool = False  # the fetch or the bundle failed (not the environment)
    attempts: int = 1
    failed_at: float = 0.0  # time.monotonic() when the last attempt failed

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    def retry_in(self, now: float | None = None) -> float | None:
        """Seconds until a failed load may be tried again (0: now); None if it never is."""
        if self.predictor is not None or not self.retryable:
            return None
        wait = min(RETRY_FIRST_S * 2 ** (self.attempts - 1), RETRY_MAX_S)
        now = time.monotonic() if now is None else now
        return max(0.0, self.failed_at + wait - now)


_reloading = threading.Lock()


def reload_if_due(settings: Settings, state: ModelState) -> ModelState:
    """`state`, or a fresh `load_model` when `state` failed and its next try is due. One try at a
    time: a request that finds another one under way goes on with `state` (and its 503)."""
    due = state.retry_in()
    if due is None or due > 0 or not _reloading.acquire(blocking=False):
        return state
    try:
        log.info(
            "model load retried", extra={"model_uri": state.source, "attempt": state.attempts + 1}
        )
        fresh = load_model(settings)
        if fresh.ready:
            return fresh
        return replace(fresh, attempts=state.attempts + 1)
    finally:
        _reloading.release()


def load_model(settings: Settings, *, refused: str | None = None) -> ModelState:
    """`refused` is why the environment was refused (see `config.load_settings`): then no model
    is loaded at all, since `settings` are only the defaults, not what the deployment asked for."""
    if refused:
        log.error("model not loaded", extra={"reason": refused})
        return ModelState(source="", error=refused)
    uri = settings.model_uri.strip()
    if not uri:
        log.error("model not loaded", extra={"reason": NO_MODEL_URI})
        return ModelState(source="", error=NO_MODEL_URI)
    start = time.perf_counter()
    try:
        # Verifies the sha256 of every file it serves from; hf/ (training checkpoint) is skipped.
        bundle_dir = fetch_bundle(uri, settings.model_cache_dir, serving_only=True)
        predictor = Predictor(bundle_dir, read_manifest(bundle_dir), settings.threads)
    except (BundleError, StorageError) as exc:
        reason = f"bundle refused: {exc}"
    except Exception as exc:  # an unreadable model must not take the whole API down
        log.exception("model load failed", extra={"model_uri": uri})
        reason = f"model load failed: {type(exc).__name__}: {exc}"
    else:
        load_ms = (time.perf_counter() - start) * 1e3
        log.info(
            "model loaded",
            extra={
                "model_uri": uri,
                "model_version": predictor.version,
                "threads": predictor.threads,
                "load_ms": round(load_ms, 1),
            },
        )
        return ModelState(source=uri, predictor=predictor)
    log.error("model not loaded", extra={"model_uri": uri, "reason": reason})
    return ModelState(source=uri, error=reason, retryable=True, failed_at=time.monotonic())


def load_model_in_background(
    settings: Settings, *, refused: str | None = None
) -> Future[ModelState]:
    """Starts `load_model` on a thread. The Lambda handler calls this before it imports FastAPI:
    sha256 hashing and ONNX Runtime's native work release the GIL, so on a multi-vCPU function
    they overlap the pure-Python imports of the web stack and shorten the cold start."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
    future = pool.submit(load_model, settings, refused=refused)
    pool.shutdown(wait=False)
    return future
