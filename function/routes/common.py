"""What the prediction routes share: the error responses their OpenAPI entries document, and
the timed predictor run whose timings every prediction response carries."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request, Response

from contract.encoder import WindowLimitError
from contract.predictor import Classified
from function import monitoring
from function.config import Settings
from function.errors import ApiError
from function.loader import Explained, Predictor
from function.schemas import ErrorBody

# Sent while the model that failed to load is to be tried again (function/loader.py).
RETRY_AFTER = {
    "description": "Seconds until this environment tries to load its model again; absent when "
    "it never will (a refused environment)",
    "schema": {"type": "integer", "minimum": 1},
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "Over a limit (bytes, texts, characters or windows)."},
    415: {"model": ErrorBody, "description": "The body is not JSON."},
    422: {"model": ErrorBody, "description": "Invalid input."},
    503: {
        "model": ErrorBody,
        "description": "No verified model is loaded.",
        "headers": {"Retry-After": RETRY_AFTER},
    },
}


def run_timed(
    predictor: Predictor,
    texts: list[str],
    request: Request,
    response: Response,
    settings: Settings,
    strategy: str | None = None,
    explain_top_k: int | None = None,
) -> Classified:
    """Runs the batch under `strategy` (None: the server's default), explained when
    `explain_top_k` is given, and reports where time went, in headers and in the request log."""
    default = settings.long_text_strategy
    strategy = strategy or (None if default == "auto" else default)
    start, wall = time.perf_counter(), time.time()
    try:
        output = predictor.run(texts, strategy, settings.max_windows, explain_top_k)
    except WindowLimitError as exc:
        raise ApiError(413, str(exc)) from None
    total_ms = (time.perf_counter() - start) * 1e3
    monitoring.record(request, settings, predictor, texts, output, started=wall)
    request.state.batch_size = len(texts)
    # Against the server's floor, not the request's min_confidence: the low-confidence alarm
    # (infra/confidence_alarm.py) reads this count over batch_size from the request log.
    request.state.low_confidence = int((output.probs.max(axis=1) < settings.confidence_floor).sum())
    request.state.model_version = predictor.version
    response.headers["x-model-version"] = predictor.version
    response.headers["x-tokenization-time-ms"] = f"{output.tokenize_ms:.2f}"
    response.headers["x-inference-time-ms"] = f"{output.inference_ms:.2f}"
    response.headers["x-total-time-ms"] = f"{total_ms:.2f}"
    response.headers["server-timing"] = (
        f"tokenize;dur={output.tokenize_ms:.2f}, inference;dur={output.inference_ms:.2f}, "
        f"total;dur={total_ms:.2f}"
    )
    if isinstance(output, Explained):  # the evidence's own model passes, after inference
        response.headers["x-explain-time-ms"] = f"{output.explain_ms:.2f}"
        response.headers["server-timing"] += f", explain;dur={output.explain_ms:.2f}"
    return output
