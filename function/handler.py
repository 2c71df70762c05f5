"""The Lambda entry point: `function.handler.handler`.

The app, and with it the verified model, is built at import, which Lambda runs in the init
phase (outside the handler). Nothing here may raise: an exception at import crashes init, and then
every route, /health included, fails without a word on why. A refused environment or bundle is
served as the reason instead: /health answers 503 with it, and so do predictions.

Mangum turns API Gateway REST (v1), HTTP API (v2) and function URL events, base64 bodies
included, into ASGI requests.
"""

from __future__ import annotations

from typing import Any

from function.config import load_settings
from function.loader import load_model_in_background
from function.logs import configure_logging

settings, _refused = load_settings()
configure_logging(settings.log_level)
# Verify and load the bundle while the web stack below is imported (see the loader).
_loading = load_model_in_background(settings, refused=_refused)

from mangum import Mangum  # noqa: E402

from function.main import create_app  # noqa: E402

app = create_app(settings, state=_loading.result())
# lifespan="off": Mangum would otherwise run startup/shutdown around every invocation.
_asgi = Mangum(app, lifespan="off")


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        return _asgi(event, context)
    finally:
        if app.state.shadow is not None:  # its extension sends the copies once we return
            app.state.shadow.invocation_done()
