"""The training job, top to bottom: data -> encode -> train -> evaluate -> export -> report ->
publish. `python -m training [flags]` runs it (training/cli.py parses the flags and maps its
failures to exit codes).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from contract.bundle import TOKENIZER_FILE, is_run_id
from contract.encoder import Truncation
from contract.exit_codes import CommandExit, ExitCode
from contract.profile import write_profile
from contract.storage import check_writable, publish_bundle
from training.args import ArgumentError, DataArguments, JobArguments, ModelArguments
from training.calibration import calibrate, validation_logits
from training.data import load_splits
from training.long_text_eval import evaluate_long_text, serving_reading
from training.metrics import classification_metrics
from training.ranks import is_main_process, on_main_process
from training.reference import reference_profile
from training.report import tfidf_baseline, write_plots
from training.ship import Shipped, export_and_gate
from training.train_and_predict import Trained, train_and_predict
from training.write_bundle import check_reload, write_bundle

log = logging.getLogger("training")
RUN_FILE = "run.json"


class QualityGateError(CommandExit):
    """The served model missed --min_accuracy: the run is published, latest.json not moved."""

    code = ExitCode.QUALITY_GATE


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
    if not is_run_id(run_id):
        raise ArgumentError(
            f"--resume: {run_file} names no usable run id ({run_id!r}); restore it, or start "
            "over with --overwrite (or another --output_dir)"
        )
    return run_id


@dataclass
class Evaluated:
    """What the bundle records about the served model, measured on the held-out splits."""

    shipped: Shipped
    metrics: dict[str, Any]
    temperature: float
    long_text: dict[str, str]  # the manifest's reading of long texts


def run(
    model_args: ModelArguments,
    data_args: DataArguments,
    job: JobArguments,
    started: float | None = None,
) -> None:
    """`started`: the command's start (time.monotonic()), which --time_budget_minutes counts from.
    Raises QualityGateError (after publishing the run) when the served model misses the gate."""
    if is_main_process():
        check_writable(job.output)  # before hours of training, not after
    splits = load_splits(data_args, job.seed)  # bad data fails before anything is written
    run_id = prepare_output_dir(job)
    work = Path(job.output_dir)
    started = time.monotonic() if started is None else started
    trained = train_and_predict(model_args, data_args, job, splits, work, started=started)
    other_probs = None
    if job.compare_truncation:  # before the main-only part: every process takes part in training
        other_probs = train_and_predict(
            model_args,
            replace(data_args, truncation=_other_truncation(data_args)),
            replace(job, resume=False),
            trained.splits,
            work / f"compare-{_other_truncation(data_args).replace('+', '-')}",
            started=started,
            save=False,
        ).torch_probs
    # The temperature is fitted on these (training/calibration.py); trainer.predict is collective
    # under torchrun, so every process computes them before the main-only part below.
    calibration_logits = validation_logits(
        trained.trainer, trained.encoder, trained.splits.validation
    )
    if not trained.trainer.is_world_process_zero():
        return  # only the main process exports and publishes; nothing below is collective

    bundle = work / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    evaluated = export_and_evaluate(
        data_args, job, trained, other_probs, calibration_logits, bundle
    )
    test_texts = trained.splits.test["text"].tolist()
    write_bundle(
        bundle,
        run_id=run_id,
        model_args=model_args,
        data_args=data_args,
        job=job,
        trainer=trained.trainer,
        encoder=trained.encoder,
        shipped=evaluated.shipped,
        metrics=evaluated.metrics,
        temperature=evaluated.temperature,
        long_text=evaluated.long_text,
        data_summary=trained.splits.summary(),
    )
    check_reload(bundle, evaluated.shipped, test_texts)
    publish(bundle, run_id, job, evaluated)
    if trained.plan is not None:
        now, plan = time.monotonic(), trained.plan
        log.info(
            "command took %.1f min of its %g min budget (planned %.1f); after training "
            "%.1f min (planned %.1f)",
            (now - started) / 60,
            job.time_budget_minutes,
            plan.total_minutes,
            (now - trained.trained_at) / 60,
            plan.after_minutes,
        )


def _other_truncation(data_args: DataArguments) -> Truncation:
    return "head" if data_args.truncation == "head+tail" else "head+tail"


def export_and_evaluate(
    data_args: DataArguments,
    job: JobArguments,
    trained: Trained,
    other_probs: np.ndarray | None,
    calibration_logits: np.ndarray,
    bundle: Path,
) -> Evaluated:
    """Exports the model into `bundle` through the parity gate, then measures the served model:
    test metrics, the baseline, plots, calibration, long texts, the reference profile."""
    splits, labels = trained.splits, data_args.labels
    test_labels = splits.test["label"].to_numpy()
    test_texts = splits.test["text"].tolist()
    metrics: dict[str, Any] = {"torch": classification_metrics(test_labels, trained.torch_probs)}
    log.info("test metrics (torch fp32): %s", metrics["torch"])
    if trained.plan is not None:
        metrics["time_budget"] = (
            trained.plan.to_dict()
            | {"train_minutes_measured": trained.train_seconds / 60}
            | (trained.kept or {})
        )
    trained.encoder.tokenizer.save(str(bundle / TOKENIZER_FILE))
    shipped = export_and_gate(
        trained.trainer.model,
        trained.encoder,
        labels,
        test_texts,
        test_labels,
        trained.torch_probs,
        job,
        bundle,
    )
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
            _other_truncation(data_args): classification_metrics(test_labels, other_probs),
        }
    write_plots(bundle / "plots", test_labels, shipped.probs, labels)
    # Calibrated scores, and how long reviews are read by default: both measured on the served
    # model (training/calibration.py, training/long_text_eval.py).
    calibration = calibrate(
        calibration_logits,
        splits.validation["label"].to_numpy(),
        shipped.probs,
        test_labels,
        bundle / "plots",
    )
    metrics["calibration"] = calibration.metrics
    metrics["long_text"] = evaluate_long_text(
        shipped.classifier, test_texts, test_labels, shipped.probs, job.long_text_eval_samples
    )
    long_text = serving_reading(metrics["long_text"])
    shipped.classifier.temperature = calibration.temperature  # as the bundle will serve
    shipped.classifier.strategy = long_text["strategy"]
    shipped.classifier.combine = long_text["combine"]
    # What live traffic is compared with (contract/profile.py); the manifest covers the file.
    write_profile(
        bundle, reference_profile(shipped.classifier, test_texts, shipped.probs, test_labels)
    )
    return Evaluated(shipped, metrics, calibration.temperature, long_text)


def publish(bundle: Path, run_id: str, job: JobArguments, evaluated: Evaluated) -> None:
    """Publishes the run; latest.json moves only when the served model meets --min_accuracy."""
    accuracy = evaluated.metrics["served"]["metrics"]["accuracy"]
    passed = accuracy >= job.min_accuracy
    location = publish_bundle(
        bundle,
        job.output,
        run_id,
        update_latest=passed,
        progress=_upload_progress(bundle) if job.progress else None,
    )
    log.info("published %s (%s, accuracy %.4f)", location, evaluated.shipped.precision, accuracy)
    if not passed:
        raise QualityGateError(
            f"quality gate: accuracy {accuracy:.4f} < --min_accuracy {job.min_accuracy:.4f}; "
            f"the run is kept at {location} but latest.json was not moved to it"
        )
    log.info("latest.json now points at %s", run_id)


def _upload_progress(bundle: Path) -> Any:
    total = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="publish", leave=False)
    return bar.update
