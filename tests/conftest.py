"""Shared fixtures: a real S3 server on loopback, and a tiny bundle made by the real training CLI."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests are offline: nothing may try the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def pytest_report_header() -> str:
    """Which CPU kind this ran on: int8 results (and so a flaky near-0.5 prediction) differ by
    ISA, so every failure report names it (bench/machine.py; the benchmarks record the same)."""
    from bench.machine import header_line

    return header_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """`make test` runs pytest -q, which hides the header: a failed run names the machine in its summary."""
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        from bench.machine import header_line

        terminalreporter.write_sep("-", header_line())


# A few steps on a few dozen reviews at a short max_length: seconds on a CPU, yet every stage
# (data, encoder, Trainer, export, int8, parity, report, manifest, publish) runs for real.
TINY_ARGS = [
    "--max_train_samples",
    "64",
    "--max_eval_samples",
    "16",
    "--max_test_samples",
    "48",
    "--max_length",
    "48",
    "--head_tokens",
    "12",
    "--max_steps",
    "8",
    "--per_device_train_batch_size",
    "8",
    "--learning_rate",
    "1e-4",
    "--logging_steps",
    "4",
    "--max_agreement_loss",
    "0.5",
    "--max_accuracy_drop",
    "0.5",
    "--progress",
    "false",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, str]]:
    """A boto3 client on the loopback server, a fresh bucket, and the environment pointing every
    boto3 client (the code under test included) at that server."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    bucket = f"artifacts-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket


def run_cli(*args: str) -> int:
    from training.cli import main

    return main(list(args))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs root of one tiny, real training run (holds latest.json and the run)."""
    root = tmp_path_factory.mktemp("tiny")
    code = run_cli(*TINY_ARGS, "--output", str(root / "models"), "--output_dir", str(root / "work"))
    assert code == 0, "the tiny training run failed; see the log above"
    return root / "models"


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path) -> Path:
    """A verified bundle directory produced by the real training CLI."""
    from contract.storage import resolve_local

    return resolve_local(tiny_run)


@pytest.fixture(scope="session")
def tiny_hf_model(tiny_bundle: Path) -> Path:
    """The fine-tuned Hugging Face checkpoint of the tiny run (loadable by transformers)."""
    return tiny_bundle / "hf"


# The real Lambda runtime without Docker (bench/lambda_emulator.py): shared by the runtime tests
# (tests/function/test_lambda_runtime.py) and the emulator benchmark's smoke run, which would
# otherwise each assemble a task root (a pip install for the image's platform).
@pytest.fixture(scope="session")
def python312() -> Path:
    from bench.lambda_emulator import Unavailable, find_python
    from tests.skips import skip_or_fail

    try:
        return find_python("3.12")
    except Unavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def rie() -> Path:
    from bench.lambda_emulator import Unavailable, find_rie
    from tests.skips import skip_or_fail

    try:
        return find_rie()
    except Unavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def lambda_dirs(
    python312: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(task root with the tiny bundle baked in, runtime dir): /var/task and /var/lang's
    site-packages of the image, for its platform."""
    from bench.lambda_emulator import assemble_task_root, install_runtime

    root = tmp_path_factory.mktemp("lambda")
    task_root = assemble_task_root(root / "task", python312, bundle=tiny_bundle.parent)
    return task_root, install_runtime(root / "runtime")
