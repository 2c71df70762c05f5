"""Settings: the only place the function reads its environment.

Every environment variable the app understands is a field here (names are the upper-cased field
names: MODEL_URI, MAX_TEXTS, ...). Lambda sets them on the function; locally `make serve` does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.predictor import available_cpus

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


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
    max_texts: int = Field(default=64, ge=1, le=10_000, description="Texts per request.")
    max_chars: int = Field(
        default=20_000,
        ge=1,
        description="Characters per text (the longest IMDB review has ~14k).",
    )
    max_request_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="Request body size; API Gateway itself stops at 10 MB, Lambda at 6 MB.",
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
