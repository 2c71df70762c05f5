"""python -m training [flags | config.json]   fine-tune -> evaluate -> export -> publish
python -m training verify <bundle dir | s3 uri>   check a bundle's manifest and every sha256
python -m training launch --image_uri ... [--wait] [flags]   the same job on SageMaker (GPU)

Reads top to bottom: parse -> data -> encode -> train -> evaluate -> export -> report -> publish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from contract.bundle import BundleError, Manifest, verify_bundle, write_manifest
from contract.storage import StorageError, check_writable, fetch_bundle, publish_bundle
from training.args import (
    ArgumentError,
    DataArguments,
    JobArguments,
    ModelArguments,
    apply_profile,
    apply_sagemaker_env,
    explicit_flags,
    validate,
)
from training.data import DataError

log = logging.getLogger("training")
RUN_FILE = "run.json"
T = TypeVar("T")


def setup_logging() -> None:
    # The root logger stays at WARNING: onnxruntime's quantizer logs every node at INFO on it.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for ours in ("training", "contract"):
        logging.getLogger(ours).setLevel(logging.INFO)


def parse(argv: list[str]) -> tuple[ModelArguments, DataArguments, JobArguments]:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (ModelArguments, DataArguments, JobArguments),
        prog="python -m training",
        description=__doc__,
    )
    if len(argv) == 1 and argv[0].endswith(".json"):
        try:
            given = json.loads(Path(argv[0]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ArgumentError(f"cannot read the config file {argv[0]}: {exc}") from exc
        try:
            model, data, job = parser.parse_dict(given)
        except ValueError as exc:  # unknown keys
            raise ArgumentError(f"{argv[0]}: {exc}") from exc
        explicit = set(given)
    else:
        model, data, job = parser.parse_args_into_dataclasses(argv)
        explicit = explicit_flags(argv)
    apply_sagemaker_env(data, job, explicit)
    apply_profile(data, job, explicit)
    validate(model, data, job)
    return model, data, job


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def on_main_process(work: Callable[[], T]) -> T:
    """Runs `work` on the main process only and hands its result to every process of a torchrun
    job; an ArgumentError there is raised in every process, so none waits for one that quit."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return work()
    import torch.distributed as dist
    from accelerate import PartialState

    from training.finetune import ddp_backend

    # The Trainer starts the process group only when it builds its arguments, which is too late
    # here; it reuses this one (same backend: NCCL on GPUs, gloo on CPUs).
    backend = ddp_backend()
    PartialState(cpu=backend == "gloo", backend=backend)
    outcome: list[Any] = [None]
    if is_main_process():
        try:
            outcome = [("ok", work())]
        except ArgumentError as exc:
            outcome = [("error", str(exc))]
    dist.broadcast_object_list(outcome, src=0)
    kind, value = outcome[0]
    if kind == "error":
        raise ArgumentError(value)
    return value


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
        return json.loads(run_file.read_text())["run_id"]
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


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

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
    import numpy as np

    from contract.predictor import OnnxClassifier
    from training.data import load_splits
    from training.finetune import classification_metrics
    from training.fit import train_and_predict
    from training.report import model_card, tfidf_baseline, write_metrics, write_plots
    from training.ship import export_and_gate

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
    other = "head" if data_args.truncation == "head+tail" else "head+tail"
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
    if not trainer.is_world_process_zero():
        return 0  # only the main process exports and publishes; nothing below is collective
    metrics: dict[str, Any] = {"torch": classification_metrics(test_labels, torch_probs)}
    log.info("test metrics (torch fp32): %s", metrics["torch"])
    if trained.plan is not None:
        metrics["time_budget"] = trained.plan.to_dict()

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
    if job.save_hf_checkpoint:
        trainer.model.save_pretrained(bundle / "hf")
        trainer.processing_class.save_pretrained(bundle / "hf")

    data_summary = splits.summary()
    training_args = {k: v for k, v in asdict(job).items() if k not in ("output", "progress")}
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
        raise BundleError("the re-loaded bundle predicts differently from the exported model")

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
        log.info("command took %.1f min of its %g min budget",
                 (time.monotonic() - started) / 60, job.time_budget_minutes)  # fmt: skip
    return 0


def _upload_progress(bundle: Path) -> Any:
    from tqdm.auto import tqdm

    total = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="publish", leave=False)
    return bar.update


def verify_command(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        log.error("usage: python -m training verify <bundle dir | s3://bucket/prefix/run-id>")
        return 2
    with tempfile.TemporaryDirectory() as cache:
        try:
            path = fetch_bundle(argv[0], cache)
            manifest = verify_bundle(path)
        except (BundleError, StorageError) as exc:
            log.error("verify failed: %s", exc)
            return 1
    log.info(
        "bundle OK: run %s, %d files verified, labels %s",
        manifest.run_id,
        len(manifest.files),
        manifest.labels,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    setup_logging()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        return verify_command(argv[1:])
    if argv[:1] == ["launch"]:
        from training.launch import launch_command

        return launch_command(argv[1:])
    from training.finetune import ModelLoadError
    from training.parity import ParityError

    try:
        return run(*parse(argv), started=started)
    except (ArgumentError, DataError, ModelLoadError, StorageError, BundleError) as exc:
        log.error("%s", exc)
        return 2
    except ParityError as exc:
        log.error("%s", exc)
        return 4
