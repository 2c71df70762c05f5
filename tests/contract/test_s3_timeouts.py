"""S3 reads at Lambda init give up in bounded time: against a real server on loopback that accepts
connections and never answers, `fetch_bundle` fails with a StorageError that names the location,
well inside Lambda's 10 s init phase, after exactly the configured number of attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.storage import (
    FETCH_TIMEOUTS,
    PUBLISH_TIMEOUTS,
    StorageError,
    fetch_bundle,
    s3_client,
)
from tests.contract.silent_server import SilentServer

LAMBDA_INIT_LIMIT_S = 10.0


@pytest.fixture
def silent_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentServer]:
    with SilentServer() as server:
        for name, value in server.aws_environment().items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
            monkeypatch.delenv(name, raising=False)
        yield server


def test_fetch_client_is_configured_to_fit_lambda_init(silent_s3: SilentServer) -> None:
    config = s3_client(FETCH_TIMEOUTS).meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 2)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}
    # A connect that just makes it, then a read that stalls, on every attempt: still inside init.
    worst = FETCH_TIMEOUTS.attempts * (FETCH_TIMEOUTS.connect_s + FETCH_TIMEOUTS.read_s)
    assert worst < LAMBDA_INIT_LIMIT_S


def test_publish_client_waits_longer_but_not_forever(silent_s3: SilentServer) -> None:
    config = s3_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (10, 60)
    assert config.retries == {"total_max_attempts": 6, "mode": "standard"}
    assert PUBLISH_TIMEOUTS.read_s > FETCH_TIMEOUTS.read_s


def test_a_stalled_s3_fails_fetch_in_bounded_time(silent_s3: SilentServer, tmp_path: Path) -> None:
    uri = "s3://artifacts/models/latest.json"
    start = time.monotonic()
    with pytest.raises(StorageError, match=r"cannot read s3://artifacts/models/latest\.json: Read"):
        fetch_bundle(uri, tmp_path / "cache", serving_only=True)
    elapsed = time.monotonic() - start
    # Each attempt waited out its read timeout, and then it stopped.
    assert silent_s3.accepted == FETCH_TIMEOUTS.attempts
    assert elapsed >= FETCH_TIMEOUTS.attempts * FETCH_TIMEOUTS.read_s * 0.9
    assert elapsed < FETCH_TIMEOUTS.attempts * FETCH_TIMEOUTS.read_s + 2.0
