"""The batch Lambda entry point: `function.batch.handler.handler`, the serving image run with
another CMD. The state machine calls it with {"step": "plan" | "score" | "summarize", ...}.

The model loads on the first score step, not at init: plan and summarize never need it. It is the
API's loader and Predictor, from the same MODEL_URI (the pinned run), verified the same way.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from function.batch.errors import BatchError
from function.batch.layout import ROWS_PER_CHUNK
from function.config import Settings, load_settings
from function.loader import Predictor, load_model
from function.logs import configure_logging

log = logging.getLogger(__name__)
STEPS = ("plan", "score", "summarize")


@lru_cache(maxsize=1)
def _settings() -> Settings:
    settings, refused = load_settings()
    if refused:
        raise BatchError(refused)
    configure_logging(settings.log_level)
    return settings


@lru_cache(maxsize=1)
def _predictor() -> Predictor:
    state = load_model(_settings())
    if state.predictor is None:
        raise BatchError(f"no verified model to score with: {state.error}")
    return state.predictor


@lru_cache(maxsize=1)
def _s3() -> Any:
    from contract.storage import s3_client

    return s3_client()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    step = event.get("step") if isinstance(event, dict) else None
    settings = _settings()
    if step == "plan":
        from function.batch.planner import plan_job

        return plan_job(
            _s3(), event.get("input") or {}, event.get("rows_per_chunk") or ROWS_PER_CHUNK
        )
    if step == "score":
        from function.batch.scorer import score_chunk

        return score_chunk(_s3(), event["chunk"], _predictor(), settings.max_chars)
    if step == "summarize":
        from function.batch.summary import summarize_job

        return summarize_job(_s3(), event["plan"], settings.monitoring_namespace or None)
    raise BatchError(
        f"step {step!r}: expected one of {', '.join(STEPS)} (the state machine's payload)"
    )
