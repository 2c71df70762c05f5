"""When the machine slows after the time budget's plan was made (a neighbour's job starting),
BudgetKeeper (training/budget.py) ends training earlier and re-fits the learning rate's linear
decay to reach zero at the new end. On a real Trainer, optimizer and scheduler; only the clock is
the test's: each step "takes" what the plan priced it at, then three times that, so the outcome
does not depend on this machine's load."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, TrainerCallback, set_seed

from contract.encoder import EncoderConfig, TextEncoder
from training import budget
from training.args import JobArguments
from training.budget import SAFETY, BudgetKeeper, Plan, Speed, plan_training
from training.finetune import build_trainer, encode_dataset, training_arguments
from training.report import _cut_sentence

BATCH = 8
TOKENS = 32  # every review is cut to this many, so every step trains BATCH x TOKENS tokens
STEP_SECONDS = 6.0  # what the plan prices a step at
ELAPSED = 60.0  # the command's seconds before training starts
BUDGET_MINUTES = 8.0
SLOW_FROM = 10  # steps after this one take SLOWDOWN times as long


class Machine(TrainerCallback):
    """The clock the keeper reads: each step moves it by what the step took on this machine.
    After `slow_from`, steps take `slowdown` times as long; with `every`, only every so many of
    them do (a shared CPU: the neighbour wins some steps, not all)."""

    def __init__(self, slowdown: float, slow_from: int = SLOW_FROM, every: int = 1):
        self.now, self.slowdown, self.slow_from, self.every = ELAPSED, slowdown, slow_from, every

    def __call__(self) -> float:
        return self.now

    def step_seconds(self, step: int) -> float:
        slow = step > self.slow_from and step % self.every == 0
        return STEP_SECONDS * (self.slowdown if slow else 1.0)

    def on_step_end(self, args, state, control, **kwargs):  # runs before the keeper's
        self.now += self.step_seconds(state.global_step)


@pytest.fixture(autouse=True)
def small_floor(monkeypatch):
    """A real run's floor (MIN_TRAIN_SAMPLES, 800 reviews) and fixed costs (FIXED_SECONDS) are
    sized for thousands of reviews; these runs plan ~470, with half a minute after training."""
    monkeypatch.setattr(budget, "MIN_TRAIN_SAMPLES", 80)
    monkeypatch.setattr(budget, "FIXED_SECONDS", 10.0)


def plan_for(pool: int) -> tuple[Plan, Speed]:
    speed = Speed(
        train_seconds_per_token=STEP_SECONDS / (BATCH * TOKENS),
        forward_seconds_per_token=STEP_SECONDS / (BATCH * TOKENS) / 3,
        probe_seconds=5.0,
    )
    plan = plan_training(
        speed,
        budget_minutes=BUDGET_MINUTES,
        elapsed_seconds=ELAPSED,
        pool_lengths=[TOKENS] * pool,
        eval_tokens=10 * BATCH * TOKENS,
        batch_size=BATCH,
        epochs=1.0,
    )
    return plan, speed


def train(
    tiny_hf_model: Path, tmp_path: Path, machine: Machine, min_steps: int = 10, kept: bool = True
):
    """Trains the planned steps under the keeper (or without one); returns (plan, keeper,
    trainer)."""
    plan, speed = plan_for(pool=800)
    assert plan.fits and plan.steps < 100  # the budget, not the pool, sized it
    set_seed(0)  # weights the checkpoint lacks are initialised at random
    model = AutoModelForSequenceClassification.from_pretrained(tiny_hf_model)
    encoder = TextEncoder.from_file(
        tiny_hf_model / "tokenizer.json", EncoderConfig(max_length=TOKENS, truncation="head")
    )
    texts = [f"review {i}: " + "a fine film, well acted and well told " * 8 for i in range(800)]
    n = plan.train_samples
    data = encode_dataset(encoder, texts[:n], [i % 2 for i in range(n)])
    assert set(data["length"]) == {TOKENS}
    job = JobArguments(
        per_device_train_batch_size=BATCH,
        num_train_epochs=1.0,
        learning_rate=1e-4,
        warmup_ratio=0.1,
        logging_steps=1,
        progress=False,
        time_budget_minutes=BUDGET_MINUTES,
    )
    keeper = BudgetKeeper(plan, speed, started=0.0, min_steps=min_steps, clock=machine)
    trainer = build_trainer(
        model,
        training_arguments(job, str(tmp_path), evaluate=False, save=False),
        encoder,
        data,
        None,
        callbacks=[machine, keeper] if kept else [machine],
    )
    trainer.train()
    return plan, keeper, trainer


def learning_rates(trainer) -> dict[int, float]:
    """The learning rate each step trained with (the Trainer logs it before its scheduler steps)."""
    return {
        e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e
    }


def test_a_run_on_plan_is_left_alone(tiny_hf_model, tmp_path):
    plan, keeper, trainer = train(tiny_hf_model, tmp_path / "kept", Machine(slowdown=1.0))
    # the same weights as the same seeded run without a keeper
    _, _, alone = train(tiny_hf_model, tmp_path / "alone", Machine(slowdown=1.0), kept=False)
    theirs = alone.model.state_dict()
    for name, weight in trainer.model.state_dict().items():
        assert torch.equal(weight, theirs[name]), name
    assert keeper.cuts == [] and trainer.state.global_step == plan.steps
    assert keeper.slowdown == pytest.approx(1.0, rel=0.01)  # it judged, and found the plan held
    assert trainer.state.num_input_tokens_seen == plan.steps * BATCH * TOKENS
    lr = learning_rates(trainer)
    # the Trainer's own linear decay, untouched: the last step trains at 1/(decay steps) of peak
    warmup = int(np.ceil(0.1 * plan.steps))
    assert lr[plan.steps] == pytest.approx(1e-4 / (plan.steps - warmup), rel=1e-6)


def test_a_slowed_machine_ends_training_inside_the_budget_with_a_refitted_decay(
    tiny_hf_model, tmp_path, caplog
):
    machine = Machine(slowdown=3.0)
    with caplog.at_level(logging.WARNING, logger="training.budget"):
        plan, keeper, trainer = train(tiny_hf_model, tmp_path, machine)
    end = trainer.state.global_step
    assert keeper.cuts and end == keeper.cuts[-1].end_step < plan.steps
    assert all(c.at_step > SLOW_FROM for c in keeper.cuts)  # not before the machine slowed
    # the last cut saw (nearly) the whole slowdown: at most one step from before it in its window
    assert 2.5 < keeper.cuts[-1].slowdown <= 3.0
    assert f"runs {keeper.cuts[-1].slowdown:.1f}x slower than measured" in caplog.text

    # The command now ends inside its budget, what follows training slowed alike...
    after = plan.after_minutes * 60 * 3.0
    budget_seconds = BUDGET_MINUTES * 60
    assert machine.now + after <= budget_seconds
    # ...and it kept every step the plan's margin allows: one more would pass it.
    margin_end = budget_seconds * (1 - SAFETY)
    assert machine.now + machine.step_seconds(end + 1) + after > margin_end
    # Without the keeper the same run would have overrun the budget.
    unkept = ELAPSED + sum(machine.step_seconds(s) for s in range(1, plan.steps + 1)) + after
    assert unkept > budget_seconds

    # After the last cut the learning rate falls in equal steps to zero one step past the end,
    # as the Trainer's own schedule does at its planned end.
    lr = learning_rates(trainer)
    cut = keeper.cuts[-1].at_step
    first = lr[cut + 1]
    for step in range(cut + 1, end + 1):
        assert lr[step] == pytest.approx(first * (end + 1 - step) / (end - cut), rel=1e-6)
    assert all(lr[s + 1] <= lr[s] for s in range(cut, end))

    # what metrics.json's time_budget records, and the model card's sentence on it
    record = plan.to_dict() | keeper.summary(trainer.state.global_step)
    assert record["steps_trained"] == end and record["cuts"][-1]["end_step"] == end
    lo, hi = record["slowdown_range"]
    assert lo == pytest.approx(1.0, rel=0.01) and hi <= 3.0
    assert f"ended after {end:,} of its {plan.steps:,} planned steps" in _cut_sentence(record)
    assert _cut_sentence(plan.to_dict() | keeper.summary(plan.steps) | {"cuts": []}) == ""


def test_recurring_slow_steps_are_a_slower_machine(tiny_hf_model, tmp_path):
    """Every third step at 4x is 2x on average, though the median step is on plan: the keeper
    counts the window's time, so it cuts, and the command still ends inside the budget."""
    machine = Machine(slowdown=4.0, every=3)
    plan, keeper, trainer = train(tiny_hf_model, tmp_path, machine)
    assert keeper.cuts and trainer.state.global_step < plan.steps
    assert 1.6 < keeper.cuts[-1].slowdown < 2.2  # 2x, less the window's slowest step
    after = plan.after_minutes * 60 * 2.0
    assert machine.now + after <= BUDGET_MINUTES * 60


def test_the_floor_holds_and_says_the_budget_will_overrun(tiny_hf_model, tmp_path, caplog):
    machine = Machine(slowdown=20.0, slow_from=5)
    with caplog.at_level(logging.WARNING, logger="training.budget"):
        plan, keeper, trainer = train(tiny_hf_model, tmp_path, machine, min_steps=30)
    assert trainer.state.global_step == keeper.cuts[-1].end_step == 30 < plan.steps
    assert "the minimum of 30 steps ends the command" in caplog.text
    assert "past its 8 min budget" in caplog.text


def test_one_slow_step_is_not_a_slow_machine():
    """A step that takes five times as long (a garbage collection, a checkpoint) costs its time,
    which the projection counts, but does not make the rest of the run look slower: the keeper
    leaves the window's slowest step out. Judged with it, the run would have been cut."""
    plan, speed = plan_for(pool=800)
    clock = [ELAPSED]
    keeper = BudgetKeeper(plan, speed, started=0.0, min_steps=10, clock=lambda: clock[0])
    state = SimpleNamespace(global_step=0, num_input_tokens_seen=0)
    for step in range(1, plan.steps + 1):
        clock[0] += STEP_SECONDS * (5 if step == 25 else 1)
        state.global_step, state.num_input_tokens_seen = step, step * BATCH * TOKENS
        keeper.on_step_end(None, state, SimpleNamespace(should_training_stop=False))
    assert keeper.cuts == [] and keeper.slowdown == pytest.approx(1.0)
    # the same window's mean would have read 1.2x at step 25 and projected past the budget
    mean = (19 * STEP_SECONDS + 5 * STEP_SECONDS) / 20 / STEP_SECONDS
    elapsed = ELAPSED + 25 * STEP_SECONDS + 4 * STEP_SECONDS
    projected = elapsed + (plan.steps - 25) * STEP_SECONDS * mean + plan.after_minutes * 60 * mean
    assert projected > BUDGET_MINUTES * 60
