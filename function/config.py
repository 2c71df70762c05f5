"""Settings: the only place the function reads its environment.

Every environment variable the app understands is a field here (names are the upper-cased field
names: MODEL_URI, MAX_TEXTS, ...). Lambda sets them on the function; locally `make serve` does.
The bounds live in `function/setting_bounds.py`, which infra/ checks context against at synth.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.predictor import available_cpus
from function.setting_bounds import (
    CONFIDENCE_FLOOR_DEFAULT,
    CONFIDENCE_FLOOR_MAX,
    CONFIDENCE_FLOOR_MIN,
    DRIFT_MIN_PREDICTIONS_DEFAULT,
    DRIFT_MIN_PREDICTIONS_MIN,
    DRIFT_WINDOW_DEFAULT,
    DRIFT_WINDOW_MAX,
    DRIFT_WINDOW_MIN,
    MAX_CHARS_DEFAULT,
    MAX_CHARS_MIN,
    MAX_EXPLAIN_TOP_K_DEFAULT,
    MAX_EXPLAIN_TOP_K_MAX,
    MAX_EXPLAIN_TOP_K_MIN,
    MAX_TEXTS_DEFAULT,
    MAX_TEXTS_MAX,
    MAX_TEXTS_MIN,
    MAX_WINDOWS_DEFAULT,
    MAX_WINDOWS_MAX,
    MAX_WINDOWS_MIN,
    SHADOW_SAMPLE_DEFAULT,
    SHADOW_SAMPLE_MAX,
    SHADOW_SAMPLE_MIN,
    LogLevel,
    LongTextStrategy,
)

# An environment value is quoted in the refusal; a long one (a pasted review) is cut.
_MAX_QUOTED = 80
REFUSED = "the function's environment was refused: "
FIX = " (fix the variable on the function: the stack's context, or sam's --env-vars)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    model_uri: str = Field(
        default="",
        description="The bundle to serve: a bundle directory, a runs root holding latest.json, "
        "an s3://bucket/prefix/<run-id> run prefix, or an s3://.../latest.json pointer.",
    )
    model_cache_dir: Path = Field(
        default=Path("/tmp/model-cache"),
        description="Where s3:// bundles are downloaded (Lambda can only write under /tmp).",
    )
    max_texts: int = Field(
        default=MAX_TEXTS_DEFAULT,
        ge=MAX_TEXTS_MIN,
        le=MAX_TEXTS_MAX,
        description="Texts per request.",
    )
    max_chars: int = Field(
        default=MAX_CHARS_DEFAULT,
        ge=MAX_CHARS_MIN,
        description="Characters per text (the longest IMDB review has ~14k).",
    )
    max_request_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="Request body size; API Gateway itself stops at 10 MB, Lambda at 6 MB.",
    )
    long_text_strategy: LongTextStrategy = Field(
        default="auto",
        description="How a text longer than the model's window is read when a request does not "
        "say: 'head+tail' (as trained), 'head', 'tail', 'chunks' (overlapping windows over the "
        "whole text), or 'auto', the one the bundle's training report measured best.",
    )
    max_windows: int = Field(
        default=MAX_WINDOWS_DEFAULT,
        ge=MAX_WINDOWS_MIN,
        le=MAX_WINDOWS_MAX,
        description="Model windows per request (a text read as 'chunks' takes several); "
        "a request needing more answers 413.",
    )
    max_explain_top_k: int = Field(
        default=MAX_EXPLAIN_TOP_K_DEFAULT,
        ge=MAX_EXPLAIN_TOP_K_MIN,
        le=MAX_EXPLAIN_TOP_K_MAX,
        description="Evidence words or phrases an explained prediction may ask for "
        "(explain_top_k); a request asking more answers 413.",
    )
    confidence_floor: float = Field(
        default=CONFIDENCE_FLOOR_DEFAULT,
        ge=CONFIDENCE_FLOOR_MIN,
        le=CONFIDENCE_FLOOR_MAX,
        description="Predictions whose top (calibrated) score is below this are counted in the "
        "request log's low_confidence, which the stack's low-confidence alarm watches; 0 counts "
        "none. Unlike a request's min_confidence it changes no response.",
    )
    monitoring_namespace: str = Field(
        default="",
        description="CloudWatch namespace of the label-free aggregates each prediction request "
        "writes into its log line (embedded metric format: predictions per bucket of each "
        "monitored dimension, contract/profile.py); empty writes none. The shadow receiver "
        "writes its comparisons there too.",
    )
    aws_xray_daemon_address: str = Field(
        default="",
        description="Where tokenize and inference subsegments go (UDP; Lambda sets it when "
        "tracing is active); empty sends none.",
    )
    shadow_function: str = Field(
        default="",
        description="The shadow receiver (function name or ARN) a sample of prediction "
        "requests is copied to after the answer, to compare a candidate run; empty: none.",
    )
    shadow_sample: float = Field(
        default=SHADOW_SAMPLE_DEFAULT,
        ge=SHADOW_SAMPLE_MIN,
        le=SHADOW_SAMPLE_MAX,
        description="Share of prediction requests copied to SHADOW_FUNCTION.",
    )
    drift_window_minutes: int = Field(
        default=DRIFT_WINDOW_DEFAULT,
        ge=DRIFT_WINDOW_MIN,
        le=DRIFT_WINDOW_MAX,
        description="The drift check's window: the last this many minutes of predictions.",
    )
    drift_min_predictions: int = Field(
        default=DRIFT_MIN_PREDICTIONS_DEFAULT,
        ge=DRIFT_MIN_PREDICTIONS_MIN,
        description="Fewer predictions in the window than this: the check reports not enough "
        "traffic instead of a PSI that would be mostly sampling noise.",
    )
    inference_threads: int = Field(
        default=0,
        ge=0,
        description="ONNX Runtime intra-op threads; 0 matches the CPUs this process may use.",
    )
    log_level: LogLevel = "INFO"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS; empty disables CORS headers.",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port for local uvicorn runs.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @property
    def threads(self) -> int:
        return self.inference_threads or available_cpus()


@lru_cache
def get_settings() -> Settings:
    return Settings()


def load_settings() -> tuple[Settings, str | None]:
    """The settings from the environment, or the defaults and why the environment was refused.

    For the Lambda init phase: an exception there crashes init, and then every route, /health
    included, fails with nothing that names the bad variable. The caller serves the reason."""
    try:
        return get_settings(), None
    except ValidationError as exc:
        # model_construct: the field defaults, without reading the environment again.
        return Settings.model_construct(), describe_refusal(exc)


def describe_refusal(exc: ValidationError) -> str:
    """`MAX_TEXTS='abc': Input should be a valid integer; ...`: the variable, its value, why."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error.get("loc", ())).upper() or "environment"
        value = repr(error.get("input"))
        if len(value) > _MAX_QUOTED:
            value = value[: _MAX_QUOTED - 3] + "..."
        parts.append(f"{name}={value}: {error.get('msg', 'invalid')}")
    return REFUSED + "; ".join(parts) + FIX
