"""POST /predict: one review or a list of reviews -> label, scores, tokens, truncation, and with
`explain` the evidence: the words that moved each prediction and how the model read the text."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request, Response

from contract.evidence import Explanation
from function.deps import JsonBody, PredictorDep, SettingsDep, check_limits, explain_top_k
from function.loader import Explained
from function.routes.common import ERROR_RESPONSES, run_timed
from function.schemas import (
    CharRange,
    Evidence,
    EvidenceSpan,
    Prediction,
    PredictRequest,
    PredictResponse,
    WindowVerdict,
)

router = APIRouter(tags=["predict"])


def evidence_view(
    text: str, found: Explanation, windows: np.ndarray, labels: list[str], confident: float
) -> Evidence:
    """`windows`: the text's windows' probabilities [windows, labels]. Mixed: windows sure of
    their own label (at least `confident`) name different labels."""
    best = windows.argmax(axis=1)
    sure = {int(b) for b, p in zip(best, windows.max(axis=1), strict=True) if p >= confident}
    return Evidence(
        method=found.method,
        spans=[
            EvidenceSpan(start=a, end=b, text=text[a:b], weight=round(w, 4))
            for a, b, w in found.spans
        ],
        read=[CharRange(start=a, end=b) for a, b in found.read],
        windows=[
            WindowVerdict(start=a, end=b, label=labels[int(i)], score=float(p[i]))
            for (a, b), i, p in zip(found.windows, best, windows, strict=True)
        ],
        mixed=len(sure) > 1,
    )


@router.post(
    "/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    dependencies=[JsonBody],
    summary="Sentiment of one review or a batch, and with explain the words that moved it",
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
    top_k = explain_top_k(body.explain_top_k, settings)  # bounded even when not explaining
    explained = top_k if body.explain else None
    output = run_timed(predictor, texts, request, response, settings, body.strategy, explained)
    labels = predictor.labels
    confident = settings.confidence_floor if body.min_confidence is None else body.min_confidence
    predictions = []
    for i, (row, reading) in enumerate(zip(output.probs.tolist(), output.readings, strict=True)):
        best = max(range(len(labels)), key=row.__getitem__)
        evidence = None
        if isinstance(output, Explained):
            windows = predictor.classifier.probabilities(output.window_logits[i])
            evidence = evidence_view(texts[i], output.evidence[i], windows, labels, confident)
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
                evidence=evidence,
            )
        )
    return PredictResponse(model_version=predictor.version, predictions=predictions)
