"""The function under the real Lambda runtime, without Docker: the task root assembled for the
image's platform by function/image/assemble.py (the script the Dockerfile runs), run by Python 3.12
under the AWS Lambda Runtime Interface Emulator and awslambdaric, the bundle fetched from an s3://
MODEL_URI on a moto server on loopback. Every event in events/ goes through it, and bad ones.
The task root and the runtime (python312, rie, lambda_dirs) are tests/conftest.py's: the
emulator benchmark's smoke run reuses them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench.lambda_emulator import Emulator
from contract.bundle import read_manifest
from contract.storage import publish_bundle
from function.image.assemble import AssembleError, bake_bundle
from function.logs import (
    LOW_CONFIDENCE_FIELD,
    PREDICTIONS_FIELD,
    REQUEST_LOGGER,
    VERSION_FIELD,
)
from tests.events import EVENTS, api_response, check_event

REPO = Path(__file__).resolve().parents[2]
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_model_uri(s3_server: str, tiny_bundle: Path) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket="lambda-runtime-models")
    run_id = read_manifest(tiny_bundle).run_id
    publish_bundle(
        tiny_bundle, "s3://lambda-runtime-models/models", run_id, update_latest=True, client=client
    )
    return "s3://lambda-runtime-models/models/latest.json"


@pytest.fixture(scope="module")
def emulator(
    rie: Path,
    python312: Path,
    lambda_dirs: tuple[Path, Path],
    s3_model_uri: str,
    s3_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Emulator]:
    task_root, runtime = lambda_dirs
    env = {
        **AWS,
        "MODEL_URI": s3_model_uri,
        "MODEL_CACHE_DIR": str(tmp_path_factory.mktemp("model-cache")),
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with Emulator(rie, python312, task_root, runtime, env) as emu:
        yield emu


def response_body(payload: dict[str, Any]) -> Any:
    return api_response(payload)[1]


def headers_of(payload: dict[str, Any]) -> dict[str, str]:
    return api_response(payload)[2]


def event(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((EVENTS[0].parent / name).read_text()), **changes}


@pytest.mark.parametrize("event_file", EVENTS, ids=[p.stem for p in EVENTS])
def test_event(emulator: Emulator, event_file: Path, tiny_bundle: Path) -> None:
    status, payload = emulator.invoke(json.loads(event_file.read_text()))
    assert status == 200 and "statusCode" in payload, (payload, emulator.log()[-3000:])
    # Lambda's request id, as the emulator's REPORT line names it, in the response header.
    assert headers_of(payload)["x-request-id"] == emulator.reports[-1].request_id
    body = check_event(event_file.stem, payload, read_manifest(tiny_bundle).run_id)
    if "predictions" in body:
        assert all(p["label"] in ("negative", "positive") for p in body["predictions"])


def test_malformed_body_is_a_4xx_with_a_message(emulator: Emulator) -> None:
    status, payload = emulator.invoke(event("apigw-v2-predict.json", body='{"text": "unclosed'))
    assert status == 200
    assert 400 <= payload["statusCode"] < 500
    assert response_body(payload)["error"]


def test_the_docs_assets_are_in_the_task_root(lambda_dirs: tuple[Path, Path]) -> None:
    """The files /docs and /redoc load are assembled into the image's task root, unchanged."""
    task_root, _ = lambda_dirs
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        shipped = task_root / "function" / "static" / "vendor" / asset
        assert (
            shipped.read_bytes() == (REPO / "function" / "static" / "vendor" / asset).read_bytes()
        )
    assert (task_root / "function" / "pages" / "index.html").is_file()


def test_unknown_route_is_404(emulator: Emulator) -> None:
    unknown = event("apigw-v2-health.json")
    unknown["rawPath"] = "/no-such-route"
    unknown["requestContext"] = {
        **unknown["requestContext"],
        "http": {**unknown["requestContext"]["http"], "path": "/no-such-route"},
    }
    status, payload = emulator.invoke(unknown)
    assert status == 200 and payload["statusCode"] == 404
    assert response_body(payload)["error"]


def test_not_an_api_gateway_event_is_an_error_not_a_crash(emulator: Emulator) -> None:
    """An S3 notification or a hand-written test event: the runtime reports the handler's error
    and keeps the same process for the next invocation (no crash, no second init)."""
    emulator.invoke(event("apigw-v2-health.json"))
    inits = emulator.init_count
    status, payload = emulator.invoke({"Records": [{"eventSource": "aws:s3"}]})
    assert status == 200
    assert payload["errorType"] == "RuntimeError"
    assert "unable to infer a handler" in payload["errorMessage"]
    status, payload = emulator.invoke(b"this is not JSON")
    assert payload["errorType"] == "Runtime.UnmarshalError"
    status, payload = emulator.invoke(event("apigw-v1-health.json"))
    assert payload["statusCode"] == 200
    assert emulator.init_count == inits == 1


def test_init_and_invoke_reports_are_read(emulator: Emulator) -> None:
    emulator.invoke(event("apigw-v2-predict.json"))
    assert emulator.init_ms is not None and emulator.init_ms > 0
    reports = emulator.reports
    assert reports and all(r.duration_ms > 0 for r in reports)
    assert len({r.request_id for r in reports}) == len(reports)


def test_baked_bundle_serves_without_s3(
    rie: Path,
    python312: Path,
    lambda_dirs: tuple[Path, Path],
    tiny_bundle: Path,
) -> None:
    """What `--build-arg BUNDLE_DIR=...` bakes: MODEL_URI is the task root's model/ and no AWS
    endpoint or credentials exist."""
    task_root, runtime = lambda_dirs
    assert not (task_root / "model" / "hf").exists()  # serving never reads the checkpoint
    env = {"MODEL_URI": str(task_root / "model"), "MODEL_CACHE_DIR": "/nonexistent"}
    with Emulator(rie, python312, task_root, runtime, env) as emu:
        status, payload = emu.invoke(event("apigw-v1-health.json"))
    assert status == 200 and payload["statusCode"] == 200, emu.log()[-3000:]
    assert response_body(payload)["model_version"] == read_manifest(tiny_bundle).run_id


def test_a_tampered_bundle_fails_the_bake(
    python312: Path, lambda_dirs: tuple[Path, Path], tampered_bundle: Path, tmp_path: Path
) -> None:
    with pytest.raises(AssembleError, match=r"model\.onnx: sha256"):
        bake_bundle(tampered_bundle, lambda_dirs[0], str(python312), dest=tmp_path / "model")


def test_the_request_log_line_has_what_the_metric_filters_read(emulator: Emulator) -> None:
    """The stack's metric filters (infra/confidence_alarm.py) read the request log's JSON line
    as the runtime prints it: the logger, the two numeric sums, and, as the per-version
    dimension, the Lambda version the runtime set (the emulator, like Lambda's $LATEST)."""
    before = len(emulator.log().splitlines())
    status, payload = emulator.invoke(event("apigw-v2-predict.json"))
    assert status == 200 and payload["statusCode"] == 200
    request_id = emulator.reports[-1].request_id
    lines = [json.loads(x) for x in emulator.log().splitlines()[before:] if x.startswith("{")]
    (line,) = [x for x in lines if x.get("logger") == REQUEST_LOGGER]
    assert line["request_id"] == request_id
    predicted = len(response_body(payload)["predictions"])
    assert line[PREDICTIONS_FIELD] == predicted
    assert isinstance(line[LOW_CONFIDENCE_FIELD], int) and line[LOW_CONFIDENCE_FIELD] >= 0
    assert line[VERSION_FIELD] == "$LATEST"


def test_a_run_published_after_init_is_served_by_the_same_environment(
    rie: Path,
    python312: Path,
    lambda_dirs: tuple[Path, Path],
    s3_server: str,
    tiny_bundle: Path,
    tmp_path: Path,
) -> None:
    """A dev stack deployed before its first run (runbook step 2), then the run published: the
    warm environment that answered 503 serves it once its next try is due (Retry-After), with no
    second init, under the real runtime and the function's own retry timing."""
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **_KEYS)
    client.create_bucket(Bucket="lambda-runtime-late")
    task_root, runtime = lambda_dirs
    env = {
        **AWS,
        "MODEL_URI": "s3://lambda-runtime-late/models/latest.json",
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with Emulator(rie, python312, task_root, runtime, env) as emu:
        _, payload = emu.invoke(event("apigw-v2-health.json"))
        assert payload["statusCode"] == 503, emu.log()[-3000:]
        wait = int(headers_of(payload)["retry-after"])
        assert 1 <= wait <= 15  # RETRY_FIRST_S after the failed load at init
        run_id = read_manifest(tiny_bundle).run_id
        publish_bundle(
            tiny_bundle,
            "s3://lambda-runtime-late/models",
            run_id,
            update_latest=True,
            client=client,
        )
        time.sleep(wait + 0.5)
        _, payload = emu.invoke(event("apigw-v2-health.json"))
        assert payload["statusCode"] == 200, (payload, emu.log()[-3000:])
        assert response_body(payload)["model_version"] == run_id
        assert emu.init_count == 1
