"""The bundle's record, written after every measurement: the checkpoint (when asked),
metrics.json, the model card, then the manifest, last because it hashes every file before it;
and the check that the bundle, loaded back the way serving loads it, answers as the gated model.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.bundle import Manifest, verify_bundle, write_manifest
from contract.exit_codes import CommandExit, ExitCode
from contract.markup import reads_markup
from contract.predictor import OnnxClassifier
from training.args import DataArguments, JobArguments, ModelArguments
from training.report import model_card, write_metrics

if TYPE_CHECKING:
    from transformers import Trainer

    from contract.encoder import TextEncoder
    from training.ship import Shipped

EMBEDDED_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (embedded)"


class ReloadMismatchError(CommandExit):
    """The bundle as written answers differently from the model that passed the gates: a bug."""

    code = ExitCode.INTERNAL_FAILURE


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in (
        "torch",
        "transformers",
        "tokenizers",
        "onnx",
        "onnxruntime",
        "datasets",
        "scikit-learn",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def write_bundle(
    bundle: Path,
    *,
    run_id: str,
    model_args: ModelArguments,
    data_args: DataArguments,
    job: JobArguments,
    trainer: Trainer,
    encoder: TextEncoder,
    shipped: Shipped,
    metrics: dict[str, Any],
    temperature: float,
    long_text: dict[str, str],
    data_summary: dict[str, Any],
) -> Manifest:
    """Writes the record beside the model files already in `bundle`; returns the manifest."""
    if job.save_hf_checkpoint:
        trainer.model.save_pretrained(bundle / "hf")
        trainer.processing_class.save_pretrained(bundle / "hf")
    training_args = {k: v for k, v in asdict(job).items() if k not in ("output", "progress")}
    train_length, train_head = data_args.train_encoder_settings()  # the served window: encoder
    training_args |= {"train_max_length": train_length, "train_head_tokens": train_head}
    name = model_args.model_name_or_path
    manifest = Manifest(
        run_id=run_id,
        labels=data_args.labels,
        # What the tokenizer does with web markup, stated (its rules are in tokenizer.json).
        encoder=encoder.config.to_dict()
        | {"markup": "text" if reads_markup(encoder.tokenizer) else "keep"},
        files={},
        base_model=EMBEDDED_BASE_MODEL if name == "embedded" else name,
        data=data_summary,
        training_args=training_args,
        metrics=metrics,
        library_versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_file=shipped.model_file,
        precision=shipped.precision,
        precision_reason=shipped.reason,
        temperature=temperature,
        long_text=long_text,
    )
    write_metrics(bundle, metrics)
    (bundle / "README.md").write_text(
        model_card(
            run_id=run_id,
            base_model=manifest.base_model,
            labels=manifest.labels,
            data=data_summary,
            encoder=manifest.encoder,
            training_args=training_args,
            metrics=metrics,
        )
    )
    write_manifest(bundle, manifest)
    return manifest


def check_reload(bundle: Path, shipped: Shipped, texts: list[str]) -> None:
    """Re-loads what was written through the reader serving uses; it must answer the same."""
    reloaded = OnnxClassifier.from_bundle(bundle, verify_bundle(bundle))
    # Same texts, and each text runs without the others (OnnxClassifier.logits owners): int8
    # dynamic quantization scales each run's activations by the run's own range, so only
    # identically run inputs give identical scores.
    sample = texts[:64]
    if not np.allclose(
        reloaded.predict_proba(sample), shipped.classifier.predict_proba(sample), atol=1e-6
    ):
        raise ReloadMismatchError(
            f"internal failure: the bundle written to {bundle}, loaded back as serving loads it, "
            "predicts differently from the model that was exported and gated; nothing was "
            "published. This is a bug in training or contract/, not in your input: report it "
            "with this log"
        )
