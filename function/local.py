"""Serves the app on localhost: `make serve MODEL_URI=<bundle dir> [PORT=8000]`, i.e.
`MODEL_URI=... PORT=... python -m function.local`."""

from __future__ import annotations

import logging
import sys

import uvicorn

from function.config import get_settings
from function.main import create_app

log = logging.getLogger("function.local")
HOST = "127.0.0.1"
EXAMPLE = """\
Sentiment API on {base} (docs: {base}/docs), model {version}. Try:

  curl -s {base}/predict -H 'content-type: application/json' \\
    -d '{{"text": ["A moving, beautifully shot film.", "Two hours I will never get back."]}}'
"""


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
        log.info(EXAMPLE.format(base=base, version=state.predictor.version))
    else:
        log.error("Serving on %s WITHOUT a model (every prediction answers 503): %s",
                  base, state.error)  # fmt: skip
    # Our middleware logs each request as JSON; uvicorn's access log would repeat it as text.
    uvicorn.run(app, host=HOST, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
