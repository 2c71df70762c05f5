"""Dependencies shared by the routes, as `Annotated` aliases so signatures read like prose."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request

from function.config import Settings
from function.errors import ApiError
from function.loader import ModelState, Predictor, reload_if_due
from function.setting_bounds import EXPLAIN_TOP_K_DEFAULT


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (`create_app`), not a fresh read of the
    environment: tests and `function.local` hand the app their own."""
    return request.app.state.settings


def get_model_state(request: Request) -> ModelState:
    """The environment's model; without one, a fresh try at loading it once one is due."""
    state: ModelState = request.app.state.model
    if not state.ready:
        state = request.app.state.model = reload_if_due(request.app.state.settings, state)
    return state


def retry_after(state: ModelState) -> dict[str, str]:
    """A 503's Retry-After: when this environment tries its model again (none if it never)."""
    due = state.retry_in()
    return {} if due is None else {"retry-after": str(max(1, math.ceil(due)))}


def get_predictor(state: Annotated[ModelState, Depends(get_model_state)]) -> Predictor:
    if state.predictor is None:
        raise ApiError(
            503, f"no verified model is loaded: {state.error}", headers=retry_after(state)
        )
    return state.predictor


def require_json(request: Request) -> None:
    """A body that is not declared as JSON is refused before anything parses it."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, f"unsupported content type {media or 'none'!r}; send application/json")


SettingsDep = Annotated[Settings, Depends(app_settings)]
ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
JsonBody = Depends(require_json)


def check_limits(texts: list[str], settings: Settings) -> None:
    """413 for a request within the body-size limit that still asks too much."""
    if len(texts) > settings.max_texts:
        raise ApiError(413, f"too many texts: {len(texts)}; the limit is {settings.max_texts}")
    for i, text in enumerate(texts):
        if len(text) > settings.max_chars:
            raise ApiError(
                413, f"text {i} has {len(text)} characters; the limit is {settings.max_chars}"
            )


def explain_top_k(requested: int | None, settings: Settings) -> int:
    """The evidence count an explained request gets; 413 past MAX_EXPLAIN_TOP_K."""
    if requested is None:
        return min(EXPLAIN_TOP_K_DEFAULT, settings.max_explain_top_k)
    if requested > settings.max_explain_top_k:
        raise ApiError(
            413,
            f"explain_top_k is {requested}; the limit is {settings.max_explain_top_k}",
        )
    return requested
