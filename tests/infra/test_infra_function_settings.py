"""The stack and the function agree on the function's settings: every environment variable the
template sets is a `function.config.Settings` field, every value synth accepts is one `Settings()`
accepts at init (checked on the environment the template really gives the function), and a value
the function would refuse stops synth with a ConfigError instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from function.config import Settings
from function.setting_bounds import LOG_LEVELS, MAX_CHARS_MIN, MAX_TEXTS_MAX, MAX_TEXTS_MIN
from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID

BUCKET = "sentimentapi-artifacts-example"

# The edges of every bound, as `-c` strings and as cdk.json values.
LOW: dict[str, Any] = {
    "maxTexts": str(MAX_TEXTS_MIN),
    "maxChars": MAX_CHARS_MIN,
    "logLevel": "debug",
    "corsOrigins": "*",
}
HIGH: dict[str, Any] = {
    "maxTexts": MAX_TEXTS_MAX,
    "maxChars": "10000000",
    "logLevel": LOG_LEVELS[-1],
    "corsOrigins": ["https://app.example.com", "http://localhost:3000"],
    "modelUri": "s3://shared-models-bucket/models/run-1",
}
EDGES = {"low": LOW, "high": HIGH}


def _resolve(value: Any) -> str:
    """The template's MODEL_URI refers to the bucket resource; give it a deployed name."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else BUCKET for p in parts)


def function_environment(synth: Any) -> dict[str, str]:
    variables = synth.resources[FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    return {name: _resolve(value) for name, value in variables.items()}


def settings_from(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """`Settings()` as the function's init runs it, on exactly this environment."""
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.fixture(params=["default", "full", "iam", "low", "high"])
def variant(request: pytest.FixtureRequest, synth: Callable[[dict[str, Any]], Any]) -> Any:
    if request.param in EDGES:
        return synth(EDGES[request.param])
    return request.getfixturevalue(request.param)


def test_every_variable_the_stack_sets_is_a_settings_field(variant: Any) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(function_environment(variant)) <= fields


def test_the_function_accepts_the_environment_synth_gives_it(
    variant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = function_environment(variant)
    settings = settings_from(environment, monkeypatch)
    assert settings.model_uri == environment["MODEL_URI"]
    assert settings.log_level == environment["LOG_LEVEL"]
    for name in ("MAX_TEXTS", "MAX_CHARS"):
        if name in environment:
            assert getattr(settings, name.lower()) == int(environment[name])


def test_edges_reach_the_function_unchanged(
    synth: Callable[[dict[str, Any]], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    low = settings_from(function_environment(synth(LOW)), monkeypatch)
    assert (low.max_texts, low.max_chars, low.log_level) == (MAX_TEXTS_MIN, MAX_CHARS_MIN, "DEBUG")
    assert low.cors_origins == ["*"]
    high = settings_from(function_environment(synth(HIGH)), monkeypatch)
    assert (high.max_texts, high.max_chars) == (MAX_TEXTS_MAX, 10_000_000)
    assert high.log_level == LOG_LEVELS[-1]
    assert high.cors_origins == HIGH["corsOrigins"]
    assert high.model_uri == "s3://shared-models-bucket/models/run-1"


@pytest.mark.parametrize(
    ("key", "value", "variable", "message"),
    [
        ("maxTexts", MAX_TEXTS_MAX + 1, "MAX_TEXTS", "to 10000 \\(the function's limit"),
        ("maxTexts", "20000", "MAX_TEXTS", "'maxTexts' is 20000"),
        ("maxTexts", MAX_TEXTS_MIN - 1, "MAX_TEXTS", "'maxTexts' is 0"),
        ("maxChars", MAX_CHARS_MIN - 1, "MAX_CHARS", "'maxChars' is 0"),
        ("logLevel", "TRACE", "LOG_LEVEL", "'logLevel' is 'TRACE'"),
    ],
)
def test_a_value_the_function_refuses_stops_synth(
    app_builder: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    value: Any,
    variable: str,
    message: str,
) -> None:
    # The function would crash-proof itself at init, but serve nothing: refuse it before deploy.
    with pytest.raises(ValidationError):
        settings_from({"MODEL_URI": "s3://b/models/x", variable: str(value)}, monkeypatch)
    with pytest.raises(ConfigError, match=message):
        app_builder({key: value})
