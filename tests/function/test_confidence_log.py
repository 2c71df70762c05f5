"""The request log counts the predictions below the server's confidence floor (CONFIDENCE_FLOOR),
the figure the stack's low-confidence alarm divides by batch_size: over real HTTP, on every
prediction route, with the floor read from the environment as Lambda sets it."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from function.config import Settings
from function.logs import JsonFormatter
from function.main import create_app
from tests.function.conftest import log_records, serve

# Mixed sentiment and length, so the tiny model's top scores spread out.
TEXTS = [
    "An absolute masterpiece, moving and beautifully acted.",
    "Dreadful. I walked out after twenty minutes.",
    "It was fine, I suppose.",
    "The plot made no sense but the music was lovely and the cast tried hard.",
    "Worst film of the year, boring and far too long.",
    "A warm, funny, clever film I will watch again.",
]
ROUTES = ("/predict", "/hf", "/models/org/some-model")


def _body(route: str) -> dict[str, object]:
    return {"text": TEXTS} if route == "/predict" else {"inputs": TEXTS}


def _request_lines() -> AbstractContextManager[list[dict[str, object]]]:
    """The request log's JSON lines, as the function writes them to stdout."""
    formatter = JsonFormatter()
    return log_records("function.request", lambda record: json.loads(formatter.format(record)))


def _wait_for(lines: list[dict[str, object]], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _top_scores(http: httpx.Client) -> list[float]:
    r = http.post("/predict", json={"text": TEXTS})
    assert r.status_code == 200, r.text
    return [p["score"] for p in r.json()["predictions"]]


def _low_confidence_by_route(
    floor: str, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, object], list[float]]:
    monkeypatch.setenv("CONFIDENCE_FLOOR", floor)
    # Lambda sets it in every environment; a canary's alarm splits the counts by it.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    settings = Settings(model_uri=str(bundle), model_cache_dir=tmp_path)
    assert settings.confidence_floor == float(floor)
    with (
        serve(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
        _request_lines() as lines,
    ):
        scores = _top_scores(http)
        # Each line is written after its response is sent: wait for the server thread, so
        # that this request's line is not taken for the next ones'.
        _wait_for(lines, 1)
        lines.clear()
        for route in ROUTES:
            assert http.post(route, json=_body(route)).status_code == 200
        assert http.get("/health").status_code == 200
        _wait_for(lines, len(ROUTES) + 1)
    assert [line["route"] for line in lines] == [
        "/predict",
        "/hf",
        "/models/{model_id:path}",
        "/health",
    ]
    assert {line["function_version"] for line in lines} == {"7"}
    for line in lines[:3]:
        assert line["batch_size"] == len(TEXTS)
        assert all(text not in json.dumps(line) for text in TEXTS)
    assert lines[3]["batch_size"] is None and lines[3]["low_confidence"] is None
    counts = {line["route"]: line["low_confidence"] for line in lines[:3]}
    return counts, scores


@pytest.fixture(scope="module")
def top_scores(http: httpx.Client) -> list[float]:
    scores = _top_scores(http)
    assert min(scores) < max(scores), "the tiny model gave every text the same score"
    return scores


@pytest.mark.parametrize(("floor", "expected"), [("1.0", len(TEXTS)), ("0", 0)])
def test_the_floor_counts_all_or_none(
    floor: str,
    expected: int,
    tiny_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts, _ = _low_confidence_by_route(floor, tiny_bundle, tmp_path, monkeypatch)
    assert set(counts.values()) == {expected}


def test_a_floor_between_the_scores_counts_those_below_it(
    top_scores: list[float], tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = sorted(top_scores)
    # Halfway between two neighbouring scores near the middle: some texts fall on each side.
    middle = len(ordered) // 2
    floor = (ordered[middle - 1] + ordered[middle]) / 2
    counts, scores = _low_confidence_by_route(repr(floor), tiny_bundle, tmp_path, monkeypatch)
    expected = sum(score < floor for score in scores)
    assert 0 < expected < len(TEXTS)
    assert set(counts.values()) == {expected}
