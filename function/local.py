"""Serves the app on localhost: `make serve MODEL_URI=<bundle dir> [PORT=8000]`, i.e.
`MODEL_URI=... PORT=... python -m function.local`."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from function.config import get_settings
from function.loader import RETRY_FIRST_S
from function.main import create_app

log = logging.getLogger("function.local")
HOST = "127.0.0.1"
EXAMPLE = """\
Sentiment API serving on {base} (docs: {base}/docs), model {version} ({precision}). Try:

  curl -s {base}/predict -H 'content-type: application/json' \\
    -d '{{"text": ["A moving, beautifully shot film.", "Two hours I will never get back."]}}'
"""


class AnnouncingServer(uvicorn.Server):
    """Logs `message` once the socket listens, before the first request is read: a curl line
    printed earlier would be refused if pasted at once."""

    def __init__(self, config: uvicorn.Config, message: str | None) -> None:
        super().__init__(config)
        self.message = message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.message:
            log.info(self.message)


def main() -> None:
    settings = get_settings()
    app = create_app(settings)
    # The hint is for a person at a terminal: plain text, so the curl line can be pasted as is.
    hint = logging.StreamHandler(sys.stderr)
    hint.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(hint)
    log.propagate = False
    state = app.state.model
    base = f"http://{HOST}:{settings.port}"
    if state.ready:
        predictor = state.predictor
        precision = predictor.precision
        if predictor.manifest.precision_reason and precision != "int8":
            precision += f": {predictor.manifest.precision_reason}"
        message = EXAMPLE.format(base=base, version=predictor.version, precision=precision)
    else:
        again = (
            "" if state.retry_in() is None else f"; a request tries again after {RETRY_FIRST_S:g} s"
        )
        message = (
            f"Serving on {base} WITHOUT a model (predictions answer 503{again}): {state.error}"
        )
        log.error("%s", message)
    # Our middleware logs each request as JSON; uvicorn's access log would repeat it as text.
    config = uvicorn.Config(
        app, host=HOST, port=settings.port, access_log=False, log_level="warning"
    )
    AnnouncingServer(config, message if state.ready else None).run()


if __name__ == "__main__":
    main()
