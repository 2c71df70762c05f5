"""The FastAPI app. `create_app()` loads and verifies the bundle before it returns, so in
Lambda the model is ready at the end of the init phase, not on the first request."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from function.config import Settings, get_settings
from function.errors import install_error_handlers
from function.loader import ModelState, load_model
from function.logs import configure_logging
from function.middleware import BodyLimitMiddleware, RequestLogMiddleware, StagePrefixMiddleware
from function.openapi import install_openapi
from function.routes import hf, meta, page, predict
from function.shadow.forward import start_forwarder

DESCRIPTION = """Sentiment of movie reviews from a fine-tuned transformer, served with ONNX Runtime.

* `POST /predict` - one review or a batch: label, score, every label's score, tokens, truncation;
  with `explain`, the words that moved each prediction.
* `POST /hf` - the Hugging Face Inference API text-classification shape.
* `GET /health`, `GET /model` - readiness and the served bundle.
* `GET /` - a page to paste reviews into and see the evidence highlighted.

Errors are `{"error": ..., "error_type": ...}`: 413 over a limit, 415 not JSON, 422 invalid
input, 503 no verified model."""


def create_app(settings: Settings | None = None, state: ModelState | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    # /docs and /redoc are function/routes/page.py's: FastAPI's own load Swagger UI and ReDoc
    # from a CDN, and start them with inline script.
    app = FastAPI(
        title="Sentiment API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.model = state if state is not None else load_model(settings)
    app.state.shadow = start_forwarder(settings)  # None unless a candidate is shadowed
    install_error_handlers(app)
    install_openapi(app, settings)
    for router in (predict.router, hf.router, meta.router, page.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    # Added last = outermost: the log sees every response, 413s from the body limit included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "authorization"],
            expose_headers=["x-request-id", "x-model-version", "server-timing"],
        )
    app.add_middleware(StagePrefixMiddleware)
    app.add_middleware(RequestLogMiddleware)
    return app
