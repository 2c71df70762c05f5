"""The Hugging Face Inference API text-classification task, so existing Hugging Face clients
(`huggingface_hub.InferenceClient(model="<this url>/hf")`, plain `requests` code) work unchanged:
`{"inputs": str | [str], "parameters": {"top_k", "function_to_apply"}}` -> one list of
`{label, score}` per input, best first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from contract.predictor import sigmoid
from function.deps import JsonBody, PredictorDep, SettingsDep, check_limits
from function.routes.common import ERROR_RESPONSES, run_timed
from function.schemas import HFLabelScore, HFParameters, HFRequest

router = APIRouter(tags=["hugging face compatible"])


def classify(
    body: HFRequest,
    predictor: PredictorDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> list[list[HFLabelScore]]:
    texts = body.texts
    check_limits(texts, settings)
    params = body.parameters or HFParameters()
    # Read as the server's default; scores calibrated as /predict's ("none": the raw logits).
    output = run_timed(predictor, texts, request, response, settings)
    apply = params.function_to_apply or "softmax"
    if apply == "softmax":
        scores = output.probs
    elif apply == "sigmoid":
        scores = sigmoid(output.logits / predictor.temperature)
    else:
        scores = output.logits
    top_k = params.top_k or len(predictor.labels)
    return [
        [
            HFLabelScore(label=label, score=score)
            for label, score in sorted(
                zip(predictor.labels, row, strict=True), key=lambda pair: -pair[1]
            )[:top_k]
        ]
        for row in scores.tolist()
    ]


def classify_hub(
    model_id: Annotated[
        str,
        Path(
            description="The Hub model id the client names, e.g. `org/name`; it may hold `/`. "
            "Ignored: this function serves one model."
        ),
    ],
    body: HFRequest,
    predictor: PredictorDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> list[list[HFLabelScore]]:
    return classify(body, predictor, settings, request, response)


_route: dict[str, Any] = {
    "response_model": list[list[HFLabelScore]],
    "responses": ERROR_RESPONSES,
    "dependencies": [JsonBody],
}
router.post("/hf", summary="Hugging Face Inference API compatible", **_route)(classify)
# The Hub's own URL shape, for clients that build `<endpoint>/models/<model id>` themselves.
router.post(
    "/models/{model_id:path}",
    summary="Hugging Face Inference API compatible (Hub URL shape; the model id is ignored)",
    **_route,
)(classify_hub)
