"""A refused environment or bundle never crashes Lambda's init: `function.handler` still imports,
`/health` answers 503 with the reason, and so does every prediction.

Each case imports the handler in a fresh interpreter, since the environment must be set before
the import (as Lambda sets it), then sends every event in events/ through `handler.handler`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from function.config import Settings
from tests.contract.silent_server import SilentServer

REPO = Path(__file__).resolve().parents[2]
LAMBDA_INIT_LIMIT_S = 10.0

INVOKE_EVERY_EVENT = """
import base64, json, sys, time
from pathlib import Path
from types import SimpleNamespace

start = time.monotonic()
import function.handler as lambda_entry  # what Lambda's init runs
init_s = time.monotonic() - start

context = SimpleNamespace(
    aws_request_id="init-errors-test",
    function_name="sentiment",
    memory_limit_in_mb=2048,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sentiment",
    get_remaining_time_in_millis=lambda: 30_000,
)
responses = {}
for path in sorted(Path("events").glob("*.json")):
    response = lambda_entry.handler(json.loads(path.read_text()), context)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    html = headers.get("content-type", "").startswith("text/html")
    responses[path.stem] = {
        "status": response["statusCode"],
        "body": body if html else json.loads(body),
        "request_id": headers.get("x-request-id"),
    }
sys.stderr.write("RESULT " + json.dumps({"init_s": init_s, "responses": responses}) + "\\n")
"""


def run_init(environment: dict[str, str]) -> tuple[dict[str, Any], str]:
    """Imports the handler under `environment` (and nothing of the caller's settings), invokes
    every event; returns the results and the function's log (stdout)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in {f.upper() for f in Settings.model_fields} and not k.startswith("AWS_")
    }
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", INVOKE_EVERY_EVENT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stderr.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), result.stdout


def assert_everything_says(results: dict[str, Any], reason: str) -> None:
    responses = results["responses"]
    assert responses, "no events were sent"
    for name, response in responses.items():
        assert response["request_id"] == "init-errors-test", name  # the app really answered
        body = response["body"]
        if "health" in name:
            assert response["status"] == 503, name
            assert body["ready"] is False and body["error_type"] == "model_unavailable"
            assert reason in body["error"], body
        elif "page" in name:
            # The page needs no model: it loads, and its calls answer the 503 below.
            assert response["status"] == 200 and "static/page.js" in body, name
        elif "bad-input" in name:
            # Refused either way; what matters is that it is not a crash.
            assert response["status"] in (422, 503), (name, response)
        else:
            assert response["status"] == 503, (name, response)
            assert body["error_type"] == "model_unavailable"
            assert body["error"].startswith("no verified model is loaded: ")
            assert reason in body["error"], body


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("MAX_TEXTS", "abc", "MAX_TEXTS='abc': Input should be a valid integer"),
        ("MAX_TEXTS", "20000", "MAX_TEXTS='20000': Input should be less than or equal to 10000"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL='VERBOSE': Input should be 'DEBUG'"),
    ],
)
def test_a_refused_setting_is_served_as_the_reason(
    tiny_bundle: Path, tmp_path: Path, variable: str, value: str, reason: str
) -> None:
    # The bundle is fine: only the setting is wrong, and nothing is served on guessed settings.
    results, log = run_init(
        {"MODEL_URI": str(tiny_bundle), "MODEL_CACHE_DIR": str(tmp_path), variable: value}
    )
    assert_everything_says(results, "the function's environment was refused: " + reason)
    assert "model not loaded" in log and reason in log  # init logs why, as JSON, at ERROR


def test_a_missing_bundle_is_served_as_the_reason(tmp_path: Path) -> None:
    results, _ = run_init(
        {"MODEL_URI": str(tmp_path / "no-such-bundle"), "MODEL_CACHE_DIR": str(tmp_path)}
    )
    assert_everything_says(results, "bundle refused: ")


def test_a_stalled_s3_ends_init_in_time_with_the_reason(tmp_path: Path) -> None:
    with SilentServer() as s3:
        results, _ = run_init(
            {
                **s3.aws_environment(),
                "MODEL_URI": "s3://artifacts/models/latest.json",
                "MODEL_CACHE_DIR": str(tmp_path),
            }
        )
    assert results["init_s"] < LAMBDA_INIT_LIMIT_S
    assert_everything_says(
        results, "bundle refused: cannot read s3://artifacts/models/latest.json: Read timeout"
    )
