"""An environment that started without a model tries again while it lives: a run published after
its init (or S3 answering again) is served by the same warm app, over real HTTP and a real S3
endpoint on loopback, with the 503s meanwhile saying when the next try is (Retry-After). A
refused environment is never tried again; a bundle that stays broken is tried ever less often."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from contract.bundle import read_manifest
from contract.storage import publish_bundle
from function import loader
from function.config import Settings
from function.loader import RETRY_MAX_S, ModelState, load_model
from function.main import create_app
from tests.function.conftest import log_records, serve

FIRST = 0.4  # RETRY_FIRST_S for these tests (15 s in the function): the backoff, scaled down


@pytest.mark.parametrize(("attempts", "wait"), [(1, 15), (2, 30), (3, 60), (7, 900), (30, 900)])
def test_the_wait_doubles_up_to_its_cap(attempts: int, wait: float) -> None:
    state = ModelState(source="s3://b/models", error="x", retryable=True, attempts=attempts)
    assert state.retry_in(now=0.0) == wait
    assert state.retry_in(now=wait + 1) == 0.0  # due
    assert RETRY_MAX_S == 900


def test_a_ready_or_refused_state_is_never_tried_again() -> None:
    assert ModelState(source="", error="MAX_TEXTS='abc': …").retry_in(now=1e9) is None
    assert load_model(Settings(model_uri=""), refused="MAX_TEXTS='abc'").retry_in() is None
    assert load_model(Settings(model_uri=" ")).retry_in() is None  # no MODEL_URI at all


@contextmanager
def _retries_logged() -> Iterator[list[logging.LogRecord]]:
    """The loader's "model load retried" records."""
    with log_records("function.loader") as records:
        yield records
    records[:] = [r for r in records if r.getMessage() == "model load retried"]


def _wait_ready(http: httpx.Client, within: float) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        r = http.get("/health")
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_a_run_published_after_init_is_served_by_the_same_app(
    s3: tuple[object, str],
    tiny_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, bucket = s3
    monkeypatch.setattr(loader, "RETRY_FIRST_S", FIRST)
    settings = Settings(
        model_uri=f"s3://{bucket}/models/latest.json", model_cache_dir=tmp_path / "cache"
    )
    app = create_app(settings)
    assert not app.state.model.ready and app.state.model.retryable
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        health = http.get("/health")
        assert health.status_code == 503
        assert "latest.json" in health.json()["error"]
        assert health.headers["retry-after"] == "1"  # 0.4 s, in whole seconds, at least 1
        r = http.post("/predict", json={"text": "Loved it."})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"].startswith("no verified model is loaded: ")

        run_id = read_manifest(tiny_bundle).run_id
        publish_bundle(
            tiny_bundle, f"s3://{bucket}/models", run_id, update_latest=True, client=client
        )
        with _retries_logged() as retried:
            ready = _wait_ready(http, within=20 * FIRST)
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_version"] == run_id
        assert "retry-after" not in ready.headers
        r = http.post("/predict", json={"text": ["Loved it.", "Dreadful."]})
        assert r.status_code == 200 and r.json()["model_version"] == run_id
    assert retried and all(getattr(r, "attempt", 0) >= 2 for r in retried)


def test_a_bundle_that_stays_broken_is_tried_ever_less_often(
    s3: tuple[object, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bucket = s3
    monkeypatch.setattr(loader, "RETRY_FIRST_S", FIRST)
    settings = Settings(model_uri=f"s3://{bucket}/models/run-1", model_cache_dir=tmp_path)
    app = create_app(settings)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        # Requests every 50 ms for 3 s: without the backoff that would be ~60 fetches; with it,
        # tries at 0.4, 1.2, 2.8 s after init (waits of 0.4, 0.8, 1.6 s), so at most 4 attempts.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert http.get("/health").status_code == 503
            time.sleep(0.05)
        state = app.state.model
    assert 2 <= state.attempts <= 4
    wait = FIRST * 2 ** (state.attempts - 1)
    assert 0 < state.retry_in() <= wait


def test_a_refused_environment_answers_503_without_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "RETRY_FIRST_S", 0.0)  # any try would be due at once
    settings = Settings(model_uri=str(tmp_path / "nothing-here"), model_cache_dir=tmp_path)
    refused = "the function's environment was refused: MAX_TEXTS='abc'"
    app = create_app(settings, state=load_model(settings, refused=refused))
    with (
        serve(app) as url,
        httpx.Client(base_url=url, timeout=30) as http,
        _retries_logged() as retried,
    ):
        for _ in range(3):
            r = http.get("/health")
            assert r.status_code == 503 and "retry-after" not in r.headers
            assert json.loads(r.text)["error"] == refused
    assert retried == []
