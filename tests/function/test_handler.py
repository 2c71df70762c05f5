"""The Lambda handler with every event file in events/ (what `sam local invoke -e` sends):
API Gateway REST (v1), HTTP API (v2) and function URL events, base64 bodies included."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from function.config import get_settings
from tests.events import EVENTS, api_response, check_event


@pytest.fixture(scope="module")
def handler_module(
    tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """function.handler imported the way Lambda does: settings from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_URI", str(tiny_bundle))
        mp.setenv("MODEL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        get_settings.cache_clear()
        sys.modules.pop("function.handler", None)
        module = importlib.import_module("function.handler")
        yield module
        get_settings.cache_clear()


def context() -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id="0f0e0d0c-test",
        function_name="sentiment",
        memory_limit_in_mb=2048,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sentiment",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def test_there_are_events_for_every_gateway_and_route() -> None:
    names = {p.stem for p in EVENTS}
    for version in ("apigw-v1", "apigw-v2"):
        for case in ("predict", "batch", "hf", "health", "bad-input"):
            assert f"{version}-{case}" in names
    assert any(json.loads(p.read_text()).get("isBase64Encoded") for p in EVENTS)


@pytest.mark.parametrize("event_file", EVENTS, ids=[p.stem for p in EVENTS])
def test_event(handler_module: ModuleType, event_file: Path) -> None:
    event = json.loads(event_file.read_text())
    response = handler_module.handler(event, context())
    _, _, headers = api_response(response)
    assert headers.get("x-request-id") == "0f0e0d0c-test"  # Lambda's id, in logs and headers
    check_event(event_file.stem, response)


def test_docs_behind_a_rest_api_stage(handler_module: ModuleType) -> None:
    event = json.loads((EVENTS[0].parent / "apigw-v1-health.json").read_text())
    event["path"] = "/docs"
    event["requestContext"]["path"] = "/prod/docs"
    response = handler_module.handler(event, context())
    assert response["statusCode"] == 200
    # Relative URLs only: from https://…/prod/docs they resolve under /prod, offline assets
    # included (function/static), and the start script is a file, not inline.
    body = response["body"]
    assert 'src="static/vendor/swagger-ui-bundle.js"' in body and 'src="static/docs.js"' in body
    assert "<script>" not in body and "//" not in body.replace("<!doctype", "")
    assert "script-src 'self'" in response["headers"]["content-security-policy"]
    event["path"] = "/openapi.json"
    event["requestContext"]["path"] = "/prod/openapi.json"
    response = handler_module.handler(event, context())
    assert response["statusCode"] == 200 and '"/predict"' in response["body"]


def test_the_stage_root_without_a_slash_moves_to_the_page(handler_module: ModuleType) -> None:
    """https://…/prod reaches the app as "/", where the page's relative URLs would lose the
    stage: it answers a redirect to "prod/" (relative: https://…/prod/), which serves it."""
    event = json.loads((EVENTS[0].parent / "apigw-v1-page.json").read_text())
    event["requestContext"]["path"] = "/prod"
    response = handler_module.handler(event, context())
    assert response["statusCode"] == 308
    assert response["headers"]["location"] == "prod/"
