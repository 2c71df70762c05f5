"""The live side of a shadow: a sample of prediction requests is copied to the candidate's
function (SHADOW_FUNCTION), after the live answer is sent, by an asynchronous Lambda Invoke.

On the request path only the sampling and the copy's JSON happen (~tens of microseconds); the
Invoke call (~10-30 ms to the Lambda API) is made later. In Lambda by the internal extension
(function/shadow/extension.py), which holds the environment after the handler returned until the
copies are sent: Lambda returns the response to the client as soon as the handler does and waits
for extensions only before the next invocation. Elsewhere (uvicorn, tests) a worker thread
sends them, as nothing freezes the process there.

A copy carries the texts (in transit only: the receiver never stores or logs them) and the live
answer without them. Copies over Lambda's asynchronous payload limit are dropped, and so are
copies the API refuses: a shadow measures a sample, it must never slow or fail live traffic.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
from typing import Any

from contract.predictor import Classified
from function.config import Settings
from function.loader import Predictor

log = logging.getLogger(__name__)

# Lambda's asynchronous invocation payload limit is 256 KB; leave room for the envelope.
MAX_COPY_BYTES = 250_000


def copy_payload(predictor: Predictor, texts: list[str], output: Classified) -> bytes:
    """The copy: the texts, how live read them, and what live answered (no text in `live`)."""
    return json.dumps(
        {
            "texts": texts,
            "strategy": output.readings[0].strategy if output.readings else None,
            "live": {
                "run": predictor.version,
                "predicted": output.probs.argmax(axis=1).tolist(),
                "confidence": output.probs.max(axis=1).tolist(),
                "latency_ms": output.tokenize_ms + output.inference_ms,
            },
        }
    ).encode()


class Forwarder:
    """Queues copies and sends them with `Invoke(InvocationType=Event)`: from `drain()` (the
    extension calls it after each invocation) or from a worker thread (`start_worker`)."""

    def __init__(self, function: str, sample: float, client: Any = None) -> None:
        self.function = function
        self.sample = sample
        self._client = client
        self._queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._done = threading.Condition()
        self._invocations = 0
        self._outstanding = 0  # queued or being sent
        self._idle = threading.Condition()
        self.sent = self.failed = self.dropped = 0

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Short, since a copy is optional: an API that does not answer drops it.
            config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
            self._client = boto3.client("lambda", config=config)
        return self._client

    def offer(self, predictor: Predictor, texts: list[str], output: Classified) -> bool:
        """On the request path: maybe queue a copy; True when one was queued."""
        if random.random() >= self.sample:
            return False
        payload = copy_payload(predictor, texts, output)
        if len(payload) > MAX_COPY_BYTES:
            self.dropped += 1
            return False
        with self._idle:
            self._outstanding += 1
        self._queue.put(payload)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Until every queued copy was sent (or failed): for the bench and the tests, which
        wait the way Lambda waits for the extension before the next invocation."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def drain(self) -> None:
        """Sends every queued copy (never raises: a failed copy is counted and logged)."""
        while True:
            try:
                payload = self._queue.get_nowait()
            except queue.Empty:
                return
            self._send(payload)

    def _send(self, payload: bytes) -> None:
        try:
            self.client().invoke(
                FunctionName=self.function, InvocationType="Event", Payload=payload
            )
            self.sent += 1
        except Exception as exc:  # boto3's errors, a bad endpoint: drop the copy, never the API
            self.failed += 1
            log.warning("shadow copy not sent", extra={"shadow_function": self.function,
                                                       "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        finally:
            with self._idle:
                self._outstanding -= 1
                self._idle.notify_all()

    def start_worker(self) -> None:
        def work() -> None:
            while True:
                self._send(self._queue.get())

        threading.Thread(target=work, name="shadow-forwarder", daemon=True).start()

    # The extension waits, per invocation, for the handler to have finished it.
    def invocation_done(self) -> None:
        with self._done:
            self._invocations += 1
            self._done.notify_all()

    def wait_for_invocation(self, number: int, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self._invocations >= number, timeout)


def start_forwarder(settings: Settings) -> Forwarder | None:
    """The app's forwarder when SHADOW_FUNCTION and a sample are set: sent by the internal
    extension when running in Lambda, else by a worker thread."""
    if not settings.shadow_function or settings.shadow_sample <= 0:
        return None
    forwarder = Forwarder(settings.shadow_function, settings.shadow_sample)
    from function.shadow.extension import start_extension

    mode = "extension" if start_extension(forwarder) else "worker thread"
    if mode != "extension":
        forwarder.start_worker()
    log.info("shadowing", extra={"shadow_function": settings.shadow_function,
                                 "shadow_sample": settings.shadow_sample, "sent_by": mode})  # fmt: skip
    return forwarder
