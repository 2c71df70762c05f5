"""POST /predict: one review or a list of reviews -> label, scores, tokens, truncation."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from function.deps import JsonBody, PredictorDep, SettingsDep, check_limits
from function.predictor import BatchOutput, Predictor, softmax
from function.schemas import ErrorBody, Prediction, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorBody, "description": "Over a limit (bytes, texts or characters)."},
    415: {"model": ErrorBody, "description": "The body is not JSON."},
    422: {"model": ErrorBody, "description": "Invalid input."},
    503: {"model": ErrorBody, "description": "No verified model is loaded."},
}


def run_timed(
    predictor: Predictor, texts: list[str], request: Request, response: Response
) -> BatchOutput:
    """Runs the batch and reports where time went, in headers and in the request log."""
    start = time.perf_counter()
    output = predictor.run(texts)
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
    output = run_timed(predictor, texts, request, response)
    probs = softmax(output.logits).tolist()
    labels = predictor.labels
    predictions = []
    for row, enc in zip(probs, output.encoded, strict=True):
        best = max(range(len(labels)), key=row.__getitem__)
        predictions.append(
            Prediction(
                label=labels[best],
                score=row[best],
                scores=dict(zip(labels, row, strict=True)),
                num_tokens=enc.num_tokens,
                truncated=enc.truncated,
            )
        )
    return PredictResponse(model_version=predictor.version, predictions=predictions)
