"""POST /predict: one review or a list of reviews -> label, scores, tokens, truncation."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from function.deps import JsonBody, PredictorDep, SettingsDep, check_limits
from function.routes.common import ERROR_RESPONSES, run_timed
from function.schemas import Prediction, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])


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
                strategy=reading.strategy,
                windows=len(reading.windows),
            )
        )
    return PredictResponse(model_version=predictor.version, predictions=predictions)
