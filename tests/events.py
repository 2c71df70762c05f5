"""The shipped API Gateway events and what every one of them must answer, wherever the handler
runs: in-process (tests/function/test_handler.py), under the Lambda runtime emulator
(tests/function/test_lambda_runtime.py) and inside the image (tests/image)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

EVENTS = sorted((Path(__file__).resolve().parents[1] / "events").glob("*.json"))


def api_response(result: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """statusCode, parsed body and lower-cased headers of an API Gateway proxy response."""
    body = result["body"]
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    if headers.get("content-type", "").startswith("text/html"):
        return result["statusCode"], body, headers
    return result["statusCode"], json.loads(body), headers


def check_event(name: str, result: dict[str, Any], run_id: str | None = None) -> Any:
    """Asserts what the event file `name` must answer (with `run_id`: that this run answered);
    returns the parsed body for the caller's own checks."""
    status, body, headers = api_response(result)
    if "page" in name:  # GET / under the stage: the page, under its Content-Security-Policy
        assert status == 200 and 'src="static/page.js"' in body, body[:200]
        assert "script-src 'self'" in headers["content-security-policy"]
        return body
    if "bad-input" in name:
        assert status == 422 and body["error_type"] == "validation_error", body
        return body
    assert status == 200, body
    if "health" in name:
        assert body["ready"] is True, body
        assert run_id is None or body["model_version"] == run_id, body
    elif "hf" in name:
        assert isinstance(body, list) and all(isinstance(row, list) for row in body), body
    else:
        assert body["model_version"] and body["predictions"], body
        assert run_id is None or body["model_version"] == run_id, body
        assert "x-inference-time-ms" in headers
        if "explain" in name:
            for prediction in body["predictions"]:
                evidence = prediction["evidence"]
                assert evidence["spans"] and evidence["read"] and evidence["windows"], body
    return body
