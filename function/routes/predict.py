"""POST /predict: one review or a list of reviews -> label, scores, tokens, truncation."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from contract.encoder import WindowLimitError
from function.config import Settings
from function.deps import JsonBody, PredictorDep, SettingsDep, check_limits
from function.errors import ApiError
from function.predictor import BatchOutput, Predictor
from function.schemas import ErrorBody, Prediction, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorBody, "description": "Over a limit (bytes, texts, characters or windows)."},
    415: {"model": ErrorBody, "description": "The body is not JSON."},
    422: {"model": ErrorBody, "description": "Invalid input."},
    503: {"model": ErrorBody, "description": "No verified model is loaded."},
}


def run_timed(
    predictor: Predictor,
    texts: list[str],
    request: Request,
    response: Response,
    settings: Settings,
    strategy: str | None = None,
) -> BatchOutput:
    """Runs the batch under `strategy` (None: the server's default) and reports where time
    went, in headers and in the request log."""
    default = settings.long_text_strategy
    strategy = strategy or (None if default == "auto" else default)
    start = time.perf_counter()
    try:
        output = predictor.run(texts, strategy, settings.max_windows)
    except WindowLimitError as exc:
        raise ApiError(413, str(exc)) from None
    total_ms = (time.perf_counter() - start) * 1e3
    request.state.batch_size = len(texts)
    request.state.model_version = predictor.version
    response.headers["x-model-version"] = predictor.version
    response.headers["x-tokenization-time-ms"] = f"{output.tokenize_ms:.2f}"
    response.headers["x-inference-time-ms"] = f"{output.inference_ms:.2f}"
    response.headers["x-total-time-ms"] = f"{total_ms:.2f}"
    response.headers["server-timing"] = (
        f"tokenize;dur={output.tokenize_ms:.2f}, inference;dur={output.inference_ms:.2f}, "
        f"total;dur={total_ms:.2f}"
    )
    return output


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    dependencies=[JsonBody],
    summary="Sentiment of one review or a batch",
)
def predict(
    body: PredictRequest,
    predictor: PredictorDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> PredictResponse:
    texts = body.texts
    check_limits(texts, settings)
    output = run_timed(predictor, texts, request, response, settings, body.strategy)
    labels = predictor.labels
    predictions = []
    for row, reading in zip(output.probs.tolist(), output.readings, strict=True):
        best = max(range(len(labels)), key=row.__getitem__)
        predictions.append(
            Prediction(
                label=labels[best],
                score=row[best],
                scores=dict(zip(labels, row, strict=True)),
                uncertain=body.min_confidence is not None and row[best] < body.min_confidence,
                num_tokens=reading.num_tokens,
                truncated=reading.truncated,
                strategy=reading.strategy,  # type: ignore[arg-type]
                windows=len(reading.windows),
            )
        )
    return PredictResponse(model_version=predictor.version, predictions=predictions)
