"""One fine-tuning: encode the splits with the shared encoder, size the training set for
--time_budget_minutes when given, train with the HF Trainer, predict the test split."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.args import DataArguments, JobArguments, ModelArguments

if TYPE_CHECKING:  # torch-heavy modules, imported only when a run trains
    import numpy as np
    from transformers import Trainer

    from contract.encoder import TextEncoder
    from training.budget import BudgetKeeper, Plan
    from training.data import Splits

log = logging.getLogger("training")


@dataclass
class Trained:
    trainer: Trainer
    encoder: TextEncoder
    torch_probs: np.ndarray  # test probabilities, in test-split order
    splits: Splits  # with the training set the budget chose
    plan: Plan | None = None  # the time budget's plan, when there was one
    train_seconds: float = 0.0  # trainer.train's wall time
    trained_at: float = 0.0  # time.monotonic() when it returned
    kept: dict[str, Any] | None = None  # BudgetKeeper's record: steps trained, any cut


def train_and_predict(
    model_args: ModelArguments,
    data_args: DataArguments,
    job: JobArguments,
    splits: Splits,
    work: Path,
    *,
    started: float,
    save: bool = True,
) -> Trained:
    """Fine-tunes one model and predicts the test split with it."""
    from transformers import AutoTokenizer, set_seed

    from contract.encoder import EncoderConfig, TextEncoder
    from contract.markup import install as install_markup_rules
    from training.finetune import (
        ModelLoadError,
        build_trainer,
        by_length,
        encode_dataset,
        load_model,
        predict_proba,
        resolve_model,
        training_arguments,
    )

    labels = data_args.labels
    path = resolve_model(model_args.model_name_or_path)  # its own ModelLoadError, not rewrapped
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load the tokenizer of {model_args.model_name_or_path!r}: "
            f"{exc}. Offline, use --model_name_or_path embedded"
        ) from exc
    if not getattr(hf_tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"{model_args.model_name_or_path!r} has no fast (tokenizers) "
            "tokenizer, which serving needs; pick a model that ships tokenizer.json"
        )
    if data_args.markup == "text":
        # Before the encoders copy it: the bundle's tokenizer.json is the encoder's.
        install_markup_rules(hf_tokenizer.backend_tokenizer)
    config = EncoderConfig(
        max_length=data_args.max_length,
        truncation=data_args.truncation,
        head_tokens=data_args.head_tokens,
    )
    encoder = TextEncoder(hf_tokenizer.backend_tokenizer, config)
    train_length, train_head = data_args.train_encoder_settings()
    # Training may read a shorter window than serving (--train_max_length); the rest reads
    # the served one, so validation and test measure what serving will answer.
    train_encoder = TextEncoder(
        hf_tokenizer.backend_tokenizer,
        replace(config, max_length=train_length, head_tokens=train_head),
    )
    datasets = {
        name: encode_dataset(enc, frame["text"].tolist(), frame["label"].tolist())
        for name, enc, frame in (
            ("train", train_encoder, splits.train),
            ("validation", encoder, splits.validation),
            ("test", encoder, splits.test),
        )
    }
    # Seed before the classifier head is initialised (the Trainer seeds only later), so two runs
    # with the same --seed train the same model.
    set_seed(job.seed)
    model = load_model(model_args.model_name_or_path, labels, model_args.pooling)
    args = training_arguments(job, str(work), save=save)
    plan = keeper = None
    if job.time_budget_minutes is not None:
        plan, keeper, keep = budget_training(
            job, job.time_budget_minutes, model, encoder, datasets, splits, started, args
        )
        datasets["train"] = datasets["train"].select(keep)
        splits = replace(splits, train=splits.train.iloc[keep].reset_index(drop=True))
    elif not job.resume:  # a resumed run's remaining steps are in its checkpoint
        estimate_training(job, model, encoder, datasets, splits, args)
    trainer = build_trainer(
        model,
        args,
        encoder,
        datasets["train"],
        by_length(datasets["validation"])[0],  # its metrics do not depend on order
        processing_class=hf_tokenizer,
        callbacks=[keeper] if keeper is not None else None,
    )
    train_start = time.monotonic()
    trainer.train(resume_from_checkpoint=True if job.resume else None)
    trained_at = time.monotonic()
    train_seconds = trained_at - train_start
    kept = None
    if plan is not None and keeper is not None:  # set together, by budget_training
        log.info("trained in %.1f min (planned %.1f)", train_seconds / 60, plan.train_minutes)
        kept = keeper.summary(trainer.state.global_step)
    probs = predict_proba(trainer, datasets["test"])
    return Trained(trainer, encoder, probs, splits, plan, train_seconds, trained_at, kept)


def eval_tokens(
    job: JobArguments, encoder: TextEncoder, datasets: dict[str, Any], splits: Splits
) -> int:
    """Every token evaluated after (or between) training epochs: validation once per epoch and
    once for the temperature (training/calibration.py); the test split by torch, by the int8
    ONNX model and per long-text strategy."""
    import numpy as np

    from training.budget import ONNX_FORWARD_SHARE
    from training.long_text_eval import planned_tokens

    return int(
        sum(datasets["validation"]["length"]) * (np.ceil(job.num_train_epochs) + 1)
        + (1 + ONNX_FORWARD_SHARE) * sum(datasets["test"]["length"])
        + ONNX_FORWARD_SHARE
        * planned_tokens(encoder, splits.test["text"].tolist(), job.long_text_eval_samples)
    )


def _speed(
    job: JobArguments, model: Any, encoder: TextEncoder, pool: Any, args: Any, quick: bool
) -> Any:
    from training.budget import measure_speed
    from training.finetune import Collator

    return measure_speed(
        model,
        Collator(encoder, model),
        pool,
        job.per_device_train_batch_size,
        job.learning_rate,
        device=args.device,
        bf16=args.bf16,
        quick=quick,
    )


def estimate_training(
    job: JobArguments,
    model: Any,
    encoder: TextEncoder,
    datasets: dict[str, Any],
    splits: Splits,
    args: Any,
) -> None:
    """Measures training speed (a few seconds) and logs how long the run will take before it
    starts; on a CPU, a long run is pointed at the quick profile, a budget, or a GPU."""
    from training.budget import estimate_run
    from training.ranks import is_main_process

    estimate = estimate_run(
        _speed(job, model, encoder, datasets["train"], args, quick=True),
        pool_lengths=datasets["train"]["length"],
        eval_tokens=eval_tokens(job, encoder, datasets, splits),
        batch_size=job.per_device_train_batch_size,
        epochs=job.num_train_epochs,
        max_steps=job.max_steps,
        processes=args.world_size,
        device=args.device.type,
    )
    if not is_main_process():  # the main process speaks for all
        return
    if estimate.long_on_cpu:
        log.warning(
            "estimate: %s. That is long for a CPU: `--profile quick` trains in about 10 "
            "minutes, `--time_budget_minutes N` sizes the training set to end in N minutes, "
            "and `python -m training launch` runs this recipe on a SageMaker GPU "
            "(docs/gpu-training.md)",
            estimate.describe(),
        )
    else:
        log.info("estimate: %s", estimate.describe())


def budget_training(
    job: JobArguments,
    budget_minutes: float,
    model: Any,
    encoder: TextEncoder,
    datasets: dict[str, Any],
    splits: Splits,
    started: float,
    args: Any,
) -> tuple[Plan, BudgetKeeper, list[int]]:
    """Measures training speed, plans the training set for --time_budget_minutes, logs the plan
    and returns it with the callback that holds training to it when the machine slows, and the
    pool rows to train on (a stratified, seeded subset)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from training import budget
    from training.budget import BudgetKeeper, plan_training

    pool = datasets["train"]
    speed = _speed(job, model, encoder, pool, args, quick=False)
    plan = plan_training(
        speed,
        budget_minutes=budget_minutes,
        elapsed_seconds=time.monotonic() - started,
        pool_lengths=pool["length"],
        eval_tokens=eval_tokens(job, encoder, datasets, splits),
        batch_size=job.per_device_train_batch_size,
        epochs=job.num_train_epochs,
    )
    log.info("plan: %s (speed measured in %.0f s)", plan.describe(), speed.probe_seconds)
    if not plan.fits:
        log.warning(
            "the %g min budget leaves too little for training on this machine now (measured "
            "%.1f reviews/s); training the minimum of %d reviews, which will overrun it. Raise "
            "--time_budget_minutes or lower --max_length.",
            job.time_budget_minutes,
            plan.reviews_per_second,
            plan.train_samples,
        )
    keeper = BudgetKeeper(
        plan,
        speed,
        started=started,
        min_steps=math.ceil(budget.MIN_TRAIN_SAMPLES / job.per_device_train_batch_size),
    )
    if plan.train_samples >= len(pool):
        return plan, keeper, list(range(len(pool)))
    keep, _ = train_test_split(
        np.arange(len(pool)),
        train_size=plan.train_samples,
        stratify=splits.train["label"],
        random_state=job.seed,
    )
    return plan, keeper, sorted(keep.tolist())
