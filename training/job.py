"""The training job, top to bottom: data -> encode -> train -> evaluate -> export -> report ->
publish. `python -m training [flags]` runs it (training/cli.py parses the flags and maps its
failures to exit codes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from contract.bundle import Manifest, verify_bundle, write_manifest
from contract.encoder import Truncation
from contract.predictor import OnnxClassifier
from contract.profile import write_profile
from contract.storage import check_writable, publish_bundle
from training.args import ArgumentError, DataArguments, JobArguments, ModelArguments
from training.calibration import calibrate, validation_logits
from training.data import load_splits
from training.finetune import classification_metrics
from training.fit import train_and_predict
from training.long_text_eval import evaluate_long_text, serving_reading
from training.ranks import is_main_process, on_main_process
from training.reference import reference_profile
from training.report import model_card, tfidf_baseline, write_metrics, write_plots
from training.ship import export_and_gate

log = logging.getLogger("training")
RUN_FILE = "run.json"


class ReloadMismatchError(RuntimeError):
    """The bundle as written answers differently from the model that passed the gates: a bug."""


def prepare_output_dir(job: JobArguments) -> str:
    """Checks the working directory and returns the run id (kept across --resume). Under torchrun
    only the main process looks at the directory and changes it; the others get its run id."""
    return on_main_process(lambda: _prepare_output_dir(job))


def _prepare_output_dir(job: JobArguments) -> str:
    work = Path(job.output_dir)
    run_file = work / RUN_FILE
    if job.resume:
        if not run_file.is_file():
            raise ArgumentError(
                f"--resume: {work} holds no earlier run ({RUN_FILE} missing); "
                "drop --resume to start a new one"
            )
        return _earlier_run_id(run_file)
    if work.exists() and any(work.iterdir()):
        if not job.overwrite:
            raise ArgumentError(
                f"{work} is not empty: pass --overwrite to start over, --resume to "
                "continue its last checkpoint, or another --output_dir"
            )
        shutil.rmtree(work)
    run_id = job.run_id or (datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3))
    work.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"run_id": run_id}) + "\n")
    return run_id


def _earlier_run_id(run_file: Path) -> str:
    """The run id --resume continues; a damaged run.json fails with what to do about it."""
    try:
        run_id = json.loads(run_file.read_text())["run_id"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArgumentError(
            f"--resume: {run_file} is damaged ({type(exc).__name__}: {exc}); it should hold "
            '{"run_id": "<id>"}. Restore it, or start over with --overwrite (or another '
            "--output_dir)"
        ) from exc
    if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id in (".", ".."):
        raise ArgumentError(
            f"--resume: {run_file} names no usable run id ({run_id!r}); restore it, or start "
            "over with --overwrite (or another --output_dir)"
        )
    return run_id


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


def run(
    model_args: ModelArguments,
    data_args: DataArguments,
    job: JobArguments,
    started: float | None = None,
) -> int:
    """`started`: the command's start (time.monotonic()), which --time_budget_minutes counts from."""
    if is_main_process():
        check_writable(job.output)  # before hours of training, not after
    splits = load_splits(data_args, job.seed)  # bad data fails before anything is written
    run_id = prepare_output_dir(job)
    work = Path(job.output_dir)
    labels = data_args.labels
    test_labels = splits.test["label"].to_numpy()

    started = time.monotonic() if started is None else started
    trained = train_and_predict(model_args, data_args, job, splits, work, started=started)
    trainer, encoder, torch_probs, splits = (
        trained.trainer, trained.encoder, trained.torch_probs, trained.splits)  # fmt: skip
    other: Truncation = "head" if data_args.truncation == "head+tail" else "head+tail"
    other_probs = None
    if job.compare_truncation:  # before the main-only part: every process takes part in training
        other_probs = train_and_predict(
            model_args,
            replace(data_args, truncation=other),
            replace(job, resume=False),
            splits,
            work / f"compare-{other.replace('+', '-')}",
            started=started,
            save=False,
        ).torch_probs
    # The temperature is fitted on these (training/calibration.py); trainer.predict is collective
    # under torchrun, so every process computes them before the main-only part below.
    calibration_logits = validation_logits(trainer, encoder, splits.validation)
    if not trainer.is_world_process_zero():
        return 0  # only the main process exports and publishes; nothing below is collective
    metrics: dict[str, Any] = {"torch": classification_metrics(test_labels, torch_probs)}
    log.info("test metrics (torch fp32): %s", metrics["torch"])
    if trained.plan is not None:
        metrics["time_budget"] = trained.plan.to_dict() | {
            "train_minutes_measured": trained.train_seconds / 60
        }

    bundle = work / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    encoder.tokenizer.save(str(bundle / "tokenizer.json"))
    test_texts = splits.test["text"].tolist()
    shipped = export_and_gate(trainer.model, encoder, labels, test_texts, test_labels,
                              torch_probs, job, bundle)  # fmt: skip
    metrics |= shipped.metrics
    metrics["served"] = {
        "model_file": shipped.model_file,
        "precision": shipped.precision,
        "reason": shipped.reason,
        "metrics": metrics[f"onnx_{shipped.precision}"],
    }

    if job.baseline:
        metrics["baseline_tfidf"] = tfidf_baseline(
            splits.train["text"].tolist(),
            splits.train["label"].tolist(),
            test_texts,
            test_labels.tolist(),
        )
    if other_probs is not None:
        metrics["truncation_comparison"] = {
            data_args.truncation: metrics["torch"],
            other: classification_metrics(test_labels, other_probs),
        }
    write_plots(bundle / "plots", test_labels, shipped.probs, labels)
    # Calibrated scores, and how long reviews are read by default: both measured on the served
    # model (training/calibration.py, training/long_text_eval.py).
    calibration = calibrate(calibration_logits,
                            splits.validation["label"].to_numpy(), shipped.probs, test_labels,
                            bundle / "plots")  # fmt: skip
    metrics["calibration"] = calibration.metrics
    metrics["long_text"] = evaluate_long_text(shipped.classifier, test_texts, test_labels,
                                              shipped.probs, job.long_text_eval_samples)  # fmt: skip
    manifest_reading = serving_reading(metrics["long_text"])
    shipped.classifier.temperature = calibration.temperature  # as the bundle will serve
    shipped.classifier.strategy = manifest_reading["strategy"]
    shipped.classifier.combine = manifest_reading["combine"]
    # What live traffic is compared with (contract/profile.py); the manifest covers the file.
    write_profile(bundle, reference_profile(shipped.classifier, test_texts, shipped.probs))
    if job.save_hf_checkpoint:
        trainer.model.save_pretrained(bundle / "hf")
        trainer.processing_class.save_pretrained(bundle / "hf")

    data_summary = splits.summary()
    training_args = {k: v for k, v in asdict(job).items() if k not in ("output", "progress")}
    train_length, train_head = data_args.train_encoder_settings()  # the served window: encoder
    training_args |= {"train_max_length": train_length, "train_head_tokens": train_head}
    manifest = Manifest(
        run_id=run_id,
        labels=labels,
        encoder=encoder.config.to_dict(),
        files={},
        base_model=model_args.model_name_or_path
        if model_args.model_name_or_path != "embedded"
        else "sentence-transformers/all-MiniLM-L6-v2 (embedded)",
        data=data_summary,
        training_args=training_args,
        metrics=metrics,
        library_versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_file=shipped.model_file,
        precision=shipped.precision,
        precision_reason=shipped.reason,
        temperature=calibration.temperature,
        long_text=manifest_reading,
    )
    write_metrics(bundle, metrics)
    (bundle / "README.md").write_text(
        model_card(
            run_id=run_id,
            base_model=manifest.base_model,
            labels=labels,
            data=data_summary,
            encoder=manifest.encoder,
            training_args=training_args,
            metrics=metrics,
        )
    )
    write_manifest(bundle, manifest)

    # Re-load what we wrote through the reader serving uses, and check it answers the same.
    reloaded = OnnxClassifier.from_bundle(bundle, verify_bundle(bundle))
    # Same texts in the same batches: int8 dynamic quantization scales activations per batch,
    # so only identically batched inputs give identical scores.
    sample = test_texts[:64]
    if not np.allclose(
        reloaded.predict_proba(sample), shipped.classifier.predict_proba(sample), atol=1e-6
    ):
        raise ReloadMismatchError(
            f"internal failure: the bundle written to {bundle}, loaded back as serving loads it, "
            "predicts differently from the model that was exported and gated; nothing was "
            "published. This is a bug in training or contract/, not in your input: report it "
            "with this log"
        )

    accuracy = metrics["served"]["metrics"]["accuracy"]
    passed = accuracy >= job.min_accuracy
    location = publish_bundle(
        bundle,
        job.output,
        run_id,
        update_latest=passed,
        progress=_upload_progress(bundle) if job.progress else None,
    )
    log.info("published %s (%s, accuracy %.4f)", location, shipped.precision, accuracy)
    if not passed:
        log.error(
            "quality gate: accuracy %.4f < --min_accuracy %.4f; the run is kept at %s but "
            "latest.json was not moved to it",
            accuracy,
            job.min_accuracy,
            location,
        )
        return 3
    log.info("latest.json now points at %s", run_id)
    if trained.plan is not None:
        now, plan = time.monotonic(), trained.plan
        log.info("command took %.1f min of its %g min budget (planned %.1f); after training "
                 "%.1f min (planned %.1f)", (now - started) / 60, job.time_budget_minutes,
                 plan.total_minutes, (now - trained.trained_at) / 60, plan.after_minutes)  # fmt: skip
    return 0


def _upload_progress(bundle: Path) -> Any:
    total = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="publish", leave=False)
    return bar.update
