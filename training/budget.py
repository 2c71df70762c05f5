"""--time_budget_minutes: measure how fast this machine trains, then size the training set so
the whole command (training, evaluation, export, report) ends inside the budget. Without a
budget, the same measurement estimates how long the run will take, before it starts.

Sized before the Trainer is built, so its learning-rate schedule (warm-up, linear decay) is made
for the steps that will really run and ends where it should; stopping a run early at a deadline
would cut the schedule half way. Speed is measured, not assumed: the same MiniLM trains 2.9
reviews/s on one 2-vCPU kind and twice that on another, and a busy neighbour halves either.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import PreTrainedModel

from training.finetune import Collator

log = logging.getLogger(__name__)

# Export, fusions, int8, baseline, plots, calibration, checkpoint and publish: what the plan
# does not price in tokens. At 73 s the plan said 2.5 min after training where 2.0 ran (quiet
# 2-vCPU AVX2 machine, 8.5-min quick profile); 45 leaves a slower machine some room, and SAFETY
# covers the rest.
FIXED_SECONDS = 45.0
# The int8 ONNX model evaluates the test split in this share of torch's forward time (served
# int8 ran 1.9x the torch pipeline on AVX2 CPUs, 3.1x on AVX-512 VNNI; the slower kind counts).
ONNX_FORWARD_SHARE = 0.6
# What the plan leaves unspent, for what it cannot see coming (a neighbour's build starting).
SAFETY = 0.07
# Fewer reviews than this do not train: 320 (20 steps at lr 1e-4) left MiniLM's [CLS] head at
# chance (50.7 % on 1,000 test reviews). A budget too small for this many warns and trains this
# many anyway.
MIN_TRAIN_SAMPLES = 800
# Where the timed calibration batches sit in the length distribution. Three steps of 16
# reviews: ~6 s on a free 2-vCPU machine at 128 tokens, ~13 s at 256; two read 12.1 reviews/s
# at 128 tokens where the Trainer then ran 10.1 (the plan overran by a minute).
CALIBRATION_QUANTILES = (0.3, 0.6, 0.9)
# The Trainer clips gradients to this norm every step (TrainingArguments.max_grad_norm); the
# timed steps do too, so that they cost what a training step costs.
MAX_GRAD_NORM = 1.0
# The estimate times one step of the median-length batch, after an untimed warm-up step on a
# few of its reviews: half the budget's probe (four full steps), and a full batch, because a
# smaller one overstates the time per token on a CPU.
ESTIMATE_QUANTILE = 0.5
ESTIMATE_WARMUP_REVIEWS = 4
# A run estimated longer than this on a CPU is pointed at the quick profile, a budget, or a GPU.
LONG_ON_CPU_MINUTES = 30.0


@dataclass(frozen=True)
class Speed:
    train_seconds_per_token: float
    forward_seconds_per_token: float
    calibration_seconds: float

    def reviews_per_second(self, mean_tokens: float) -> float:
        return 1 / (self.train_seconds_per_token * mean_tokens)


@dataclass(frozen=True)
class Plan:
    train_samples: int
    steps: int
    train_minutes: float
    after_minutes: float  # evaluation, export, report and publish, after training
    total_minutes: float
    budget_minutes: float
    reviews_per_second: float
    pool: int
    fits: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"{self.train_samples:,} reviews, ~{self.train_minutes:.1f} min of training "
            f"({self.steps} steps at {self.reviews_per_second:.1f} reviews/s, measured); the whole "
            f"command ~{self.total_minutes:.1f} of its {self.budget_minutes:g} min budget"
        )


@dataclass(frozen=True)
class Estimate:
    train_samples: int
    epochs: float
    steps: int
    train_minutes: float
    after_minutes: float  # evaluation, export and report, after training
    reviews_per_second: float
    device: str
    probe_seconds: float

    @property
    def total_minutes(self) -> float:
        return self.train_minutes + self.after_minutes

    @property
    def long_on_cpu(self) -> bool:
        return self.device == "cpu" and self.total_minutes > LONG_ON_CPU_MINUTES

    def describe(self) -> str:
        return (
            f"~{_duration(self.total_minutes)} in all on {self.device}: {self.steps:,} steps "
            f"({self.train_samples:,} reviews x {self.epochs:g} epochs) at "
            f"{self.reviews_per_second:.1f} reviews/s, ~{_duration(self.train_minutes)} of "
            f"training, then ~{_duration(self.after_minutes)} to evaluate, export and report "
            f"(speed measured in {self.probe_seconds:.0f} s)"
        )


def _duration(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _calibration_batches(train: Dataset, batch_size: int) -> list[list[int]]:
    """A warm-up batch of the longest reviews, then batches of length neighbours from the middle
    and the long end of the distribution, as length-grouped training batches are: the speed
    measured is the speed training will see. The warm-up is the longest because the first step
    at each new, larger shape pays for its buffers: warmed up on the shortest batch, the timed
    steps read 2.1-2.9 reviews/s on an AVX2 machine where the Trainer then ran 4.2 (256 tokens),
    and the plan trained half the reviews the budget had room for."""
    order = np.argsort(np.asarray(train["length"]), kind="stable")
    batch_size = min(batch_size, len(order))
    last = len(order) - batch_size
    starts = [last, *(int(q * last) for q in CALIBRATION_QUANTILES)]
    return [order[s : s + batch_size].tolist() for s in starts]


def _estimate_batches(train: Dataset, batch_size: int) -> list[list[int]]:
    """A few reviews of the median-length batch to warm up, then that batch, timed."""
    order = np.argsort(np.asarray(train["length"]), kind="stable")
    batch_size = min(batch_size, len(order))
    start = int(ESTIMATE_QUANTILE * (len(order) - batch_size))
    batch = order[start : start + batch_size].tolist()
    return [batch[:ESTIMATE_WARMUP_REVIEWS], batch]


def measure_speed(
    model: PreTrainedModel,
    collator: Collator,
    train: Dataset,
    batch_size: int,
    lr: float,
    *,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    quick: bool = False,
) -> Speed:
    """Times a few optimizer steps and one forward pass on a throwaway copy of the model, on the
    device (and in the precision) the Trainer will train on; the copy's updates are discarded,
    so the real model starts from the same weights as without it. `quick`: the estimate's two
    steps (one timed) instead of the budget's four (three timed)."""
    start = time.perf_counter()
    device = torch.device(device)
    probe = copy.deepcopy(model).to(device).train()
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr)
    batches = (_estimate_batches if quick else _calibration_batches)(train, batch_size)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    )

    def on_device(idx: list[int]) -> dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in collator([train[j] for j in idx]).items()}

    def now() -> float:  # CUDA runs asynchronously: the clock waits for the work queued
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    seconds = tokens = 0.0
    for i, idx in enumerate(batches):
        batch = on_device(idx)
        step_start = now()
        with autocast:
            loss = probe(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(probe.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first step pays for allocator and thread-pool warm-up
            seconds += now() - step_start
            tokens += batch["input_ids"].numel()
    probe.eval()
    batch = on_device(batches[1])
    with torch.inference_mode(), autocast:
        forward_start = now()
        probe(**{k: v for k, v in batch.items() if k != "labels"})
        forward = now() - forward_start
    del probe, optimizer
    return Speed(
        train_seconds_per_token=seconds / tokens,
        forward_seconds_per_token=forward / batch["input_ids"].numel(),
        calibration_seconds=time.perf_counter() - start,
    )


def plan_training(
    speed: Speed,
    *,
    budget_minutes: float,
    elapsed_seconds: float,
    pool_lengths: list[int],
    eval_tokens: int,
    batch_size: int,
    epochs: float,
) -> Plan:
    """How many reviews fit: the budget, less what has run, less what is still to come after
    training (validation, test predictions by torch and by ONNX, fixed costs), less a margin.
    `eval_tokens` counts every token evaluated after training (ONNX included)."""
    mean_tokens = float(np.mean(pool_lengths))
    after = eval_tokens * speed.forward_seconds_per_token + FIXED_SECONDS
    budget = budget_minutes * 60
    for_training = budget * (1 - SAFETY) - elapsed_seconds - after
    per_review = speed.train_seconds_per_token * mean_tokens * epochs
    fitting = int(for_training // per_review) if for_training > 0 else 0
    samples = min(fitting, len(pool_lengths))
    if samples >= batch_size:
        samples -= samples % batch_size  # full batches only
    fits = samples >= min(MIN_TRAIN_SAMPLES, len(pool_lengths))
    if not fits:
        samples = min(MIN_TRAIN_SAMPLES, len(pool_lengths))
    train_seconds = samples * per_review
    return Plan(
        train_samples=samples,
        steps=int(np.ceil(samples / batch_size) * epochs),
        train_minutes=train_seconds / 60,
        after_minutes=after / 60,
        total_minutes=(elapsed_seconds + train_seconds + after) / 60,
        budget_minutes=budget_minutes,
        reviews_per_second=speed.reviews_per_second(mean_tokens),
        pool=len(pool_lengths),
        fits=fits,
    )


def estimate_run(
    speed: Speed,
    *,
    pool_lengths: list[int],
    eval_tokens: int,
    batch_size: int,
    epochs: float,
    max_steps: int,
    processes: int,
    device: str,
) -> Estimate:
    """How long training on all of `pool_lengths` takes at the measured speed (the Trainer's
    step count: epochs x batches of batch_size x processes, or max_steps), and what comes after
    it, counted as plan_training counts it. Each process trains its own batch in each step."""
    mean_tokens = float(np.mean(pool_lengths))
    if max_steps > 0:
        steps = max_steps
    else:
        steps = math.ceil(epochs * math.ceil(len(pool_lengths) / (batch_size * processes)))
    train_seconds = steps * batch_size * mean_tokens * speed.train_seconds_per_token
    after = eval_tokens * speed.forward_seconds_per_token + FIXED_SECONDS
    return Estimate(
        train_samples=len(pool_lengths),
        epochs=epochs if max_steps <= 0 else steps * batch_size * processes / len(pool_lengths),
        steps=steps,
        train_minutes=train_seconds / 60,
        after_minutes=after / 60,
        reviews_per_second=speed.reviews_per_second(mean_tokens) * processes,
        device=device,
        probe_seconds=speed.calibration_seconds,
    )
