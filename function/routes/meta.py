"""GET /health (liveness and readiness) and GET /model (what is being served)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from function.deps import ModelStateDep, PredictorDep, retry_after
from function.routes.common import ERROR_RESPONSES, RETRY_AFTER
from function.schemas import Health, ModelInfo

router = APIRouter(tags=["model"])


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Alive, but no verified model.",
            "headers": {"Retry-After": RETRY_AFTER},
        }
    },
    summary="Liveness and readiness: 200 once a verified model is loaded, 503 with the reason",
)
def health(state: ModelStateDep) -> JSONResponse:
    if state.predictor is None:
        body = Health(
            status="unavailable", ready=False, error=state.error, error_type="model_unavailable"
        )
        return JSONResponse(body.model_dump(), status_code=503, headers=retry_after(state))
    body = Health(status="ok", ready=True, model_version=state.predictor.version)
    return JSONResponse(body.model_dump())


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={503: ERROR_RESPONSES[503]},
    summary="The served bundle: version, precision and why, base model, labels, encoder, metrics",
)
def model_info(predictor: PredictorDep, state: ModelStateDep) -> ModelInfo:
    m = predictor.manifest
    return ModelInfo(
        model_version=m.run_id,
        base_model=m.base_model,
        labels=m.labels,
        encoder=m.encoder,
        metrics=m.metrics,
        created_at=m.created_at,
        format_version=m.format_version,
        source=state.source,
        model_file=m.model_file,
        precision=m.precision,
        precision_reason=m.precision_reason,
    )
