"""Bad input: a clear error naming the fix, exit code 2, and nothing published."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import TINY_ARGS, run_cli


def reviews(n: int = 40, labels=("negative", "positive")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"review number {i} with some words" for i in range(n)],
            "sentiment": [labels[i % len(labels)] for i in range(n)],
        }
    )


def run_on(tmp_path, dataset, *extra) -> int:
    return run_cli(
        *TINY_ARGS,
        "--dataset",
        str(dataset),
        "--text_column",
        "review",
        "--label_column",
        "sentiment",
        "--output",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "work"),
        *extra,
    )


def assert_nothing_published(tmp_path):
    models = tmp_path / "models"
    assert not models.exists() or not any(models.iterdir())


@pytest.mark.parametrize(
    ("frame", "suffix", "extra", "message"),
    [
        (reviews().drop(columns="review"), ".csv", (), "no column 'review'"),
        (
            reviews().drop(columns="sentiment"),
            ".jsonl",
            (),
            "name the right one with --label_column",
        ),
        (reviews(labels=("positive",)), ".csv", (), "only one class"),
        (reviews().iloc[:0], ".csv", (), "the dataset is empty"),
        (reviews(labels=("negative", "meh")), ".parquet", (), "unknown labels ['meh']"),
        (reviews(labels=(0, 7)), ".csv", (), "unknown labels ['7']"),
        (reviews(n=3), ".csv", (), "cannot split off a stratified"),
    ],
    ids=[
        "no-text-column",
        "no-label-column",
        "one-class",
        "empty",
        "unknown-label",
        "label-out-of-range",
        "too-few-rows",
    ],
)
def test_bad_data_is_refused(tmp_path, caplog, frame, suffix, extra, message):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    assert run_on(tmp_path, path, *extra) == 2
    assert message in caplog.text
    assert_nothing_published(tmp_path)


def test_string_labels_and_custom_columns_are_mapped(tmp_path):
    from training.args import DataArguments
    from training.data import map_labels

    frame = pd.DataFrame({"review": ["a", "b", "c", "d"], "sentiment": ["POS", "neg", 1, "0"]})
    args = DataArguments(text_column="review", label_column="sentiment")
    assert map_labels(frame, args, "t")["label"].tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"\x00\x01garbage", "data.parquet", "cannot read it as parquet"),
        (b"text,label\n", "data.txt", "unsupported file type"),
        (None, "missing.csv", "does not exist"),
    ],
)
def test_unreadable_files_are_refused(tmp_path, caplog, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert run_on(tmp_path, path) == 2
    assert message in caplog.text
    assert_nothing_published(tmp_path)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://Not_A_Bucket/models", "not a valid S3 bucket name"),
        ("s3://ab/models", "not a valid S3 bucket name"),
        ("s3://bucket-ok/models//x", "empty or relative path parts"),
    ],
)
def test_malformed_s3_uri_fails_before_training(tmp_path, caplog, uri, message):
    assert run_cli(*TINY_ARGS, "--output", uri, "--output_dir", str(tmp_path / "w")) == 2
    assert message in caplog.text
    assert not (tmp_path / "w").exists()  # refused before any work


def test_unwritable_s3_destination_fails_before_training(tmp_path, caplog, s3):
    _, bucket = s3
    uri = f"s3://{bucket}-does-not-exist/models"
    assert run_cli(*TINY_ARGS, "--output", uri, "--output_dir", str(tmp_path / "w")) == 2
    assert f"cannot write to {uri}" in caplog.text
    assert not (tmp_path / "w").exists()


def test_model_that_cannot_be_loaded_offline_names_the_embedded_default(tmp_path, caplog):
    code = run_cli(
        *TINY_ARGS,
        "--model_name_or_path",
        "some-org/model-that-is-not-here",
        "--output",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "w"),
    )
    assert code == 2
    assert "--model_name_or_path embedded" in caplog.text
    assert_nothing_published(tmp_path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--resume", "--overwrite"], "contradict each other"),
        (["--resume", "--compare_truncation"], "cannot be resumed"),
        (["--test_fraction", "1.5"], "--test_fraction must be between 0 and 1"),
        (["--validation_fraction", "0.5", "--test_fraction", "0.45"], "under 10%"),
        (["--head_tokens", "60"], "--head_tokens must be between 1 and --max_length - 5"),
        (["--label_names", "good"], "two or more distinct names"),
        (["--min_accuracy", "85"], "a share between 0 and 1"),
        (["--run_id", "a/b"], "plain name"),
        (["--resume"], "holds no earlier run"),
        (
            ["--time_budget_minutes", "5"],
            "--time_budget_minutes sizes the training and --max_steps",
        ),
        (["--time_budget_minutes", "0"], "--time_budget_minutes must be positive"),
        (["--parity_alpha", "1.5"], "--parity_alpha is a probability"),
        (["--train_max_length", "96"], "would train on windows serving never reads"),
        (["--train_max_length", "4"], "--train_max_length must be at least 8"),
    ],
)
def test_conflicting_or_invalid_flags(tmp_path, caplog, flags, message):
    code = run_cli(
        *TINY_ARGS,
        *flags,
        "--output",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "w"),
    )
    assert code == 2
    assert message in caplog.text
    assert_nothing_published(tmp_path)


def test_unknown_key_in_config_file(tmp_path, caplog):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"learning_rate": 1e-4, "learnin_rate": 2}))
    assert run_cli(str(path)) == 2
    assert "learnin_rate" in caplog.text
