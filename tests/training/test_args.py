"""Argument handling that needs no training run: profiles, SageMaker paths, recipe defaults."""

from __future__ import annotations

from training.args import QUICK_PROFILE, SM_MODEL_DIR, SM_OUTPUT_DATA_DIR, parse


def test_recipe_defaults():
    _, data, job = parse([])
    assert (job.learning_rate, job.per_device_train_batch_size, job.num_train_epochs) == (
        2e-5,
        16,
        3.0,
    )
    assert job.weight_decay == 0.01 and job.logging_steps == 100
    assert data.dataset == "embedded" and data.truncation == "head+tail"
    assert data.markup == "text"  # contract/markup.py: markup read as the text it stands for
    assert parse(["--markup", "keep"])[1].markup == "keep"


def test_quick_profile_fills_what_was_not_given(monkeypatch):
    monkeypatch.delenv(SM_MODEL_DIR, raising=False)
    _, data, job = parse(["--profile", "quick", "--max-length", "128", "--head_tokens", "32"])
    assert data.max_length == 128 and data.head_tokens == 32  # explicit flags win
    assert data.max_train_samples == QUICK_PROFILE["max_train_samples"]
    assert job.learning_rate == QUICK_PROFILE["learning_rate"]
    assert job.num_train_epochs == QUICK_PROFILE["num_train_epochs"]
    assert job.time_budget_minutes == QUICK_PROFILE["time_budget_minutes"]


def test_quick_profile_budget_yields_to_an_explicit_size(monkeypatch):
    monkeypatch.delenv(SM_MODEL_DIR, raising=False)
    _, data, job = parse(["--profile", "quick", "--max_train_samples", "800"])
    assert data.max_train_samples == 800 and job.time_budget_minutes is None
    _, _, job = parse(["--profile", "quick", "--max_steps", "10"])
    assert job.max_steps == 10 and job.time_budget_minutes is None
    _, _, job = parse(["--profile", "quick", "--time_budget_minutes", "3"])
    assert job.time_budget_minutes == 3


def test_sagemaker_environment_sets_paths(monkeypatch, tmp_path):
    monkeypatch.setenv(SM_MODEL_DIR, str(tmp_path / "model"))
    monkeypatch.setenv(SM_OUTPUT_DATA_DIR, str(tmp_path / "out"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "data"))
    _, data, job = parse([])
    assert job.output == str(tmp_path / "model")
    assert job.output_dir == str(tmp_path / "out" / "work")
    assert data.dataset == str(tmp_path / "data")
    _, _, job = parse(["--output", "s3://bucket-x/models"])  # an explicit flag still wins
    assert job.output == "s3://bucket-x/models"


def test_train_window_scales_its_head():
    _, data, _ = parse(["--max_length", "256", "--head_tokens", "64", "--train_max_length", "128"])
    assert data.train_encoder_settings() == (128, 32)
    _, data, _ = parse(["--max_length", "256"])
    assert data.train_encoder_settings() == (256, data.head_tokens)
