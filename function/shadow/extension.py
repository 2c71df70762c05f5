"""An internal Lambda extension (a thread of the runtime process registered with the Extensions
API) that sends the invocation's shadow copies after the response.

Lambda returns a synchronous invocation's response as soon as the runtime posts it, and starts
the next invocation only when the runtime and every extension have asked for it (`event/next`).
So this thread, woken with each INVOKE event, waits for the handler to finish that invocation,
sends what it queued, and only then asks for the next event: the copy leaves before the
environment freezes, and the client never waits for it. (A plain background thread would be
frozen with the environment after the handler returns and resume, if ever, at the next
invocation.) The time spent here is billed as the function's post-runtime duration.

Registration must happen during init (the handler module's import), before the runtime first
asks for an invocation; outside Lambda (no AWS_LAMBDA_RUNTIME_API) there is nothing to register.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from typing import Any

from function.shadow.forward import Forwarder

log = logging.getLogger(__name__)

RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"  # set by Lambda (and the emulator), not a setting
EXTENSION_NAME = "sentiment-shadow"
API = "2020-01-01/extension"
# The handler normally finishes within the invocation's own timeout; past this the copies of a
# stuck invocation are sent anyway rather than holding the environment.
WAIT_FOR_HANDLER_S = 900


def _call(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    # No timeout: event/next blocks until the next invocation, however long that is.
    with urllib.request.urlopen(request) as response:
        return response.headers, json.loads(response.read() or b"{}")


def start_extension(forwarder: Forwarder) -> bool:
    """Registers for INVOKE events and starts the thread; False when not in Lambda or when
    registration fails (the caller then sends from a worker thread, best effort)."""
    api = os.environ.get(RUNTIME_API_ENV)
    if not api:
        return False
    base = f"http://{api}/{API}"
    try:
        headers, _ = _call(f"{base}/register", "POST", {"Lambda-Extension-Name": EXTENSION_NAME},
                           json.dumps({"events": ["INVOKE"]}).encode())  # fmt: skip
        identifier = headers["Lambda-Extension-Identifier"]
    except Exception as exc:  # an API that refuses us must not stop the function's init
        log.warning(
            "shadow extension not registered", extra={"error": f"{type(exc).__name__}: {exc}"}
        )
        return False
    threading.Thread(target=_loop, args=(base, identifier, forwarder), daemon=True,
                     name="shadow-extension").start()  # fmt: skip
    return True


def _loop(base: str, identifier: str, forwarder: Forwarder) -> None:
    headers = {"Lambda-Extension-Identifier": identifier}
    invocations = 0
    try:
        forwarder.client()  # during init, beside the model load: not after the first answer
    except Exception as exc:
        log.warning("shadow client not created", extra={"error": f"{type(exc).__name__}: {exc}"})
    while True:
        try:
            _, event = _call(f"{base}/event/next", "GET", headers)
        except Exception as exc:  # the Runtime API went away: the environment is ending
            log.warning("shadow extension stopped", extra={"error": f"{type(exc).__name__}: {exc}"})
            return
        if event.get("eventType") != "INVOKE":
            return
        invocations += 1
        forwarder.wait_for_invocation(invocations, WAIT_FOR_HANDLER_S)
        forwarder.drain()
