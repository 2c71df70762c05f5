"""--time_budget_minutes: measure how fast this machine trains, then size the training set so
the whole command (training, evaluation, export, report) ends inside the budget. Without a
budget, the same measurement estimates how long the run will take, before it starts.

Sized before the Trainer is built, so its learning-rate schedule (warm-up, linear decay) is made
for the steps that will really run and ends where it should; stopping a run early at a deadline
would cut the schedule half way. Speed is measured, not assumed: the CPU kind and a busy
neighbour each change it severalfold. When the machine slows after the plan was made,
BudgetKeeper (below) ends training earlier and re-fits the decay to end there. The figures
behind the constants below are in README ("Where the code's numbers come from").
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import PreTrainedModel, TrainerCallback, TrainerControl, TrainerState

from training.finetune import Collator

log = logging.getLogger(__name__)

# Export, fusions, int8, baseline, plots, calibration, checkpoint and publish: what the plan
# does not price in tokens; set below what a quiet machine measured, as SAFETY covers the rest.
FIXED_SECONDS = 45.0
# The int8 ONNX model evaluates the test split in this share of torch's forward time; the CPU
# kind where int8 gains least sets it.
ONNX_FORWARD_SHARE = 0.6
# What the plan leaves unspent, for what it cannot see coming (a neighbour's build starting).
SAFETY = 0.07
# Fewer reviews than this do not train in one epoch (fewer left the head at chance). A budget
# too small for this many warns and trains this many anyway.
MIN_TRAIN_SAMPLES = 800
# Where the timed probe batches sit in the length distribution: three steps, since two
# overstated the speed the Trainer then ran at.
PROBE_QUANTILES = (0.3, 0.6, 0.9)
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
    probe_seconds: float

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


def _probe_batches(train: Dataset, batch_size: int) -> list[list[int]]:
    """A warm-up batch of the longest reviews, then batches of length neighbours from the middle
    and the long end of the distribution, as length-grouped training batches are: the speed
    measured is the speed training will see. The warm-up is the longest because the first step
    at each new, larger shape pays for its buffers: warmed up on the shortest batch, the timed
    steps understated the Trainer's speed and the plan trained too few reviews."""
    order = np.argsort(np.asarray(train["length"]), kind="stable")
    batch_size = min(batch_size, len(order))
    last = len(order) - batch_size
    starts = [last, *(int(q * last) for q in PROBE_QUANTILES)]
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
    batches = (_estimate_batches if quick else _probe_batches)(train, batch_size)
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
        probe_seconds=time.perf_counter() - start,
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
        probe_seconds=speed.probe_seconds,
    )


# The keeper judges the machine's speed on its last this many steps, spanning at least this long
# (~13 s at 128 tokens on 2 vCPUs): a slowdown shows fully within ten steps. A cut made while
# the window still holds steps from before it is too shallow, and a run can reach that end before
# the next judgement deepens it (tests/training/test_budget_keeper.py).
KEEPER_WINDOW_STEPS = 10
KEEPER_WINDOW_SECONDS = 15.0


@dataclass(frozen=True)
class Cut:
    """Where BudgetKeeper ended training earlier than planned, and why."""

    at_step: int
    end_step: int  # the new last step
    slowdown: float  # recent seconds per token over the speed the plan was made with
    projected_minutes: float  # the command's projected end before the cut


class _DecayTo:
    """The learning-rate factor of a linear decay from its value at `start` to zero at `end`,
    `before` it unchanged: the old schedule re-fitted to a shorter run. A class, not a closure:
    LambdaLR checkpoints the state of callable objects."""

    def __init__(self, before: Any, start: int, end: int):
        self.before, self.start, self.end = before, start, end

    def __call__(self, step: int) -> float:
        if step < self.start:
            return float(self.before(step))
        return float(self.before(self.start)) * max(self.end - step, 0) / (self.end - self.start)


class BudgetKeeper(TrainerCallback):
    """Holds a planned run to its budget when the machine slows after the plan was made (a
    neighbour's job starting): at every step it projects the command's end from the speed of its
    recent steps (seconds per token, as the plan's probe measured them, over the last ten steps
    but the slowest); when the projection passes the budget, training ends earlier, where the
    projection meets the plan's margin, and the learning rate's linear decay is re-fitted from
    its current value to zero at the new end, so the shortened schedule still ends as a schedule
    should. What comes after training
    (evaluation, export) is projected at the same slowdown. Never lengthens training; never cuts
    below `min_steps` (MIN_TRAIN_SAMPLES' worth), where it warns that the budget will overrun.
    A no-op while the plan holds. Needs TrainingArguments(include_num_input_tokens_seen="all")."""

    def __init__(
        self,
        plan: Plan,
        speed: Speed,
        *,
        started: float,
        min_steps: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.plan, self.speed, self.started, self.clock = plan, speed, started, clock
        self.budget = plan.budget_minutes * 60
        self.end = plan.steps
        self.min_steps = min(min_steps, plan.steps)
        # the plan's tokens a step, counted as its probe counted them
        self.tokens_per_step = plan.train_minutes * 60 / plan.steps / speed.train_seconds_per_token
        self.window: deque[tuple[float, int]] = deque()
        self.cuts: list[Cut] = []
        self.judged: list[float] = []  # every slowdown judged: its range is the reading's noise
        self._warned = False

    @property
    def slowdown(self) -> float | None:
        """The last slowdown judged; None before the window was long enough to judge."""
        return self.judged[-1] if self.judged else None

    def on_epoch_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.window.clear()  # evaluation and checkpoints between epochs are not training speed

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        now, step = self.clock(), state.global_step
        rate = self._recent_rate(now, state.num_input_tokens_seen)
        if rate is not None and step < self.end:
            self._judge(now, step, rate, kwargs.get("lr_scheduler"))
        if step >= self.end:
            control.should_training_stop = True
        return control

    def _recent_rate(self, now: float, tokens: int) -> float | None:
        """Seconds per token over the window without its slowest step, or None while the window
        is too short to judge. A one-off stall (a garbage collection, a page-cache miss) is time
        already spent, which `elapsed` counts, not a slower machine; but on a shared CPU slow
        steps recur, and the window's total counts them: its median read 2.4x on a run whose
        steps averaged 2.9x (README, "A neighbour arriving after the plan")."""
        window = self.window
        window.append((now, tokens))
        while len(window) > KEEPER_WINDOW_STEPS + 1 and (
            now - window[1][0] >= KEEPER_WINDOW_SECONDS
        ):
            window.popleft()
        if len(window) <= KEEPER_WINDOW_STEPS or now - window[0][0] < KEEPER_WINDOW_SECONDS:
            return None
        steps = [(t1 - t0, n1 - n0) for (t0, n0), (t1, n1) in itertools.pairwise(window)]
        slowest = max(steps, key=lambda s: s[0] / s[1] if s[1] else 0.0)
        seconds = sum(s for s, _ in steps) - slowest[0]
        tokens_in = sum(n for _, n in steps) - slowest[1]
        return seconds / tokens_in if tokens_in > 0 else None

    def _judge(self, now: float, step: int, rate: float, scheduler: Any) -> None:
        slowdown = rate / self.speed.train_seconds_per_token
        self.judged.append(slowdown)
        step_seconds = self.tokens_per_step * rate
        after = self.plan.after_minutes * 60 * max(slowdown, 1.0)
        elapsed = now - self.started
        projected = elapsed + (self.end - step) * step_seconds + after
        if projected <= self.budget:
            return
        allowed = self.budget * (1 - SAFETY) - elapsed - after
        end = max(step + max(int(allowed // step_seconds), 0), self.min_steps)
        if end >= self.end:
            self._warn_overrun(projected)
            return
        if end > step and scheduler is not None and hasattr(scheduler, "lr_lambdas"):
            scheduler.lr_lambdas = [_DecayTo(f, step, end) for f in scheduler.lr_lambdas]
        self.cuts.append(Cut(step, end, round(slowdown, 3), round(projected / 60, 2)))
        log.warning(
            "time budget: training runs %.1fx slower than measured before it started; to end "
            "the command inside its %g min budget (projected %.1f min), training stops after "
            "step %d instead of %d, its learning rate decaying to zero there",
            slowdown,
            self.plan.budget_minutes,
            projected / 60,
            end,
            self.end,
        )
        self.end = end
        if end == self.min_steps:
            self._warn_overrun(elapsed + (end - step) * step_seconds + after)

    def _warn_overrun(self, projected: float) -> None:
        if projected > self.budget and not self._warned:
            self._warned = True
            log.warning(
                "time budget: the minimum of %d steps ends the command at ~%.1f min, past its "
                "%g min budget (this machine slowed after the plan was made)",
                self.min_steps,
                projected / 60,
                self.plan.budget_minutes,
            )

    def summary(self, steps_trained: int) -> dict[str, Any]:
        return {
            "steps_trained": steps_trained,
            "slowdown_last": None if self.slowdown is None else round(self.slowdown, 3),
            "slowdown_range": [round(min(self.judged), 3), round(max(self.judged), 3)]
            if self.judged
            else None,
            "cuts": [asdict(c) for c in self.cuts],
        }
