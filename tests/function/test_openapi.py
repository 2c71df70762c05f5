"""The OpenAPI document says exactly what the code accepts (issue 12, part 1): it is valid, its
limits are the running Settings', and schemathesis (all checks, a fixed seed) finds nothing
against the app under uvicorn, started from the environment as Lambda starts it."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from function.config import Settings
from function.main import create_app
from function.schemas import VISIBLE
from tests.function.conftest import serve

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
# Limits unlike the defaults and the session app's, so a document that ignored them would show.
# The body limit cannot bind below them: 7 texts x 1,000 characters x 12 bytes (an escaped
# surrogate pair) is 84 KB. Windows stay out of reach too (MAX_WINDOWS, where it exists).
ENV = {
    "MAX_TEXTS": "7",
    "MAX_CHARS": "1000",
    "MAX_REQUEST_BYTES": str(128 * 1024),
    "MAX_WINDOWS": "10000",
    "LOG_LEVEL": "WARNING",
}
SEED = 12
MAX_EXAMPLES = 25  # per operation and phase


@pytest.fixture(scope="module")
def env_settings(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings read from the environment, as the deployed function reads them."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        mp.setenv("MODEL_URI", str(tiny_bundle))
        mp.setenv("MODEL_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache")))
        return Settings()


@pytest.fixture(scope="module")
def env_url(env_settings: Settings) -> Iterator[str]:
    with serve(create_app(env_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def document(env_url: str) -> dict[str, Any]:
    return httpx.get(f"{env_url}/openapi.json").json()


def request_validator(document: dict[str, Any], path: str) -> Draft202012Validator:
    """The JSON Schema the document gives the body of `POST path`, its $refs resolvable."""
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return Draft202012Validator({**body["schema"], "components": document["components"]})


def schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from schemas_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas_in(value)


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises on an invalid document, e.g. an undeclared path parameter
    (param,) = document["paths"]["/models/{model_id}"]["post"]["parameters"]
    assert param["name"] == "model_id" and param["in"] == "path" and param["required"]
    # OpenAPI 3.1 allows unknown keywords, so a bound pydantic failed to translate (`ge` where
    # `minimum` belongs) is valid and ignored by every client: none may be there.
    pydantic_words = {"ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of"}
    assert not [s for s in schemas_in(document) if pydantic_words & set(s)]


def test_limits_are_the_running_settings(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for model, field in [("PredictRequest", "text"), ("HFRequest", "inputs")]:
        one, many = schemas[model]["properties"][field]["anyOf"]
        assert one["maxLength"] == many["items"]["maxLength"] == 1000
        assert many["maxItems"] == 7 and many["minItems"] == 1 and one["minLength"] == 1
        assert one["pattern"] == VISIBLE
        assert "x-settings-limit" not in json.dumps(document)
    for path in ["/predict", "/hf", "/models/{model_id}"]:
        responses = document["paths"][path]["post"]["responses"]
        assert {"200", "413", "415", "422", "503"} <= set(responses)
        assert f"{128 * 1024} bytes" in responses["413"]["description"]


def test_another_app_publishes_its_own_limits(tmp_path: Path) -> None:
    settings = Settings(model_uri="", model_cache_dir=tmp_path, max_texts=3, max_chars=50)
    schema = create_app(settings).openapi()["components"]["schemas"]["PredictRequest"]
    one, many = schema["properties"]["text"]["anyOf"]
    assert (many["maxItems"], one["maxLength"]) == (3, 50)


def test_visible_is_every_bmp_character_but_controls_formats_and_separators() -> None:
    """The rule the check and the `pattern` share, against this Python's Unicode database."""
    visible = re.compile(VISIBLE)
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates are refused as invalid Unicode, not as blank
        ch = chr(code)
        invisible = ch.isspace() or unicodedata.category(ch) in {"Cc", "Cf", "Zs", "Zl", "Zp"}
        assert (visible.fullmatch(ch) is None) == invisible, f"U+{code:04X}"


# The issue's three findings: schema-valid then, refused by the code; now invalid in both.
FINDINGS = [
    ("/predict", "/predict", {"text": [""]}),
    ("/hf", "/hf", {"inputs": [], "parameters": None}),
    ("/models/{model_id}", "/models/our-org/sentiment", {"inputs": [], "parameters": None}),
]


@pytest.mark.parametrize(("path", "url", "body"), FINDINGS)
def test_issue_findings_are_invalid_and_refused(
    document: dict[str, Any], env_url: str, path: str, url: str, body: dict[str, Any]
) -> None:
    validator = request_validator(document, path)
    assert not validator.is_valid(body)
    r = httpx.post(env_url + url, json=body)
    assert r.status_code == 422 and r.json()["error_type"] == "validation_error", r.text
    # The control: the same body made valid is valid in the document and answered.
    fixed = {"text": ["fine"]} if "text" in body else {"inputs": ["fine"], "parameters": None}
    assert validator.is_valid(fixed)
    assert httpx.post(env_url + url, json=fixed).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"text": "ok", "surplus": 1}),  # additionalProperties: false
        ("/predict", {"text": "\u200b\u00a0\t"}),  # no visible character
        ("/predict", {"text": ["ok"] * 8}),  # over maxItems: answered 413
        ("/predict", {"text": "a" * 1001}),  # over maxLength: answered 413
        # JSON types as the schema states them: lax pydantic took these as numbers.
        ("/hf", {"inputs": "ok", "parameters": {"top_k": True}}),
        ("/hf", {"inputs": "ok", "parameters": {"top_k": "2"}}),
        ("/hf", {"inputs": "ok", "parameters": {"top_k": 1.5}}),
    ],
)
def test_what_the_document_refuses_the_code_refuses(
    document: dict[str, Any], env_url: str, path: str, body: dict[str, Any]
) -> None:
    assert not request_validator(document, path).is_valid(body)
    assert httpx.post(env_url + path, json=body).status_code in (413, 422)


def test_an_integral_number_is_an_integer(document: dict[str, Any], env_url: str) -> None:
    body = {"inputs": "ok", "parameters": {"top_k": 1.0}}  # JSON Schema: 1.0 is an integer
    assert request_validator(document, "/hf").is_valid(body)
    r = httpx.post(f"{env_url}/hf", json=body)
    assert r.status_code == 200 and len(r.json()[0]) == 1, r.text


def test_schemathesis_finds_nothing(env_url: str, tmp_path: Path) -> None:
    """Every check schemathesis has, with the repository's schemathesis.toml (413 counts as a
    rejection). A failure prints schemathesis' own report: the request and how to replay it."""
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{env_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert report.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads(report.read_text())
    figures = (result["operations"], result["test_cases"], result["running_time"])
    log.warning("schemathesis: operations %s, test cases %s, %.1f s", *figures)
    assert run.returncode == 0 and result["exit_code"] == 0, run.stdout[-8000:]
    assert result["failures"] == [] and result["errors"] == []
    assert result["operations"]["tested"] == result["operations"]["total"] == 5
    assert result["test_cases"]["generated"] >= 5 * MAX_EXAMPLES
    # A pattern schemathesis could not read would be skipped, not used: none may be.
    assert not any(result["warnings"].values()), result["warnings"]
