"""ASGI middleware: the request-size limit and the structured request log.

Plain ASGI rather than BaseHTTPMiddleware: it adds no task or copy per request, and it sees
the whole body stream, so a chunked upload cannot slip past the size limit.
"""

from __future__ import annotations

import logging
import os
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from function.errors import error_response
from function.logs import (
    LOW_CONFIDENCE_FIELD,
    PREDICTIONS_FIELD,
    REQUEST_LOGGER,
    VERSION_ENV,
    VERSION_FIELD,
)

log = logging.getLogger(REQUEST_LOGGER)


class BodyLimitMiddleware:
    """Reads the body up to the limit before the app sees it; one byte more answers 413. The
    limit is small (well under a megabyte), so holding the body in memory costs nothing."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refuse = error_response(
            413, f"request body is larger than the limit of {self.max_bytes} bytes"
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await refuse(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestLogMiddleware:
    """One JSON line per request: id, route, status, latency, batch size, how many predictions
    fell below the confidence floor, the Lambda version that answered, cold start. Never the
    body. The request id is Lambda's when there is one, so it matches the platform's logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cold = True
        # An environment runs one version for its whole life: read it once.
        self.version = os.environ.get(VERSION_ENV)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cold, self.cold = self.cold, False
        start = time.perf_counter()
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            route = scope.get("route")
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "route": getattr(route, "path", scope.get("path")),
                    "status": status,
                    "latency_ms": round((time.perf_counter() - start) * 1e3, 2),
                    PREDICTIONS_FIELD: state.get("batch_size"),
                    LOW_CONFIDENCE_FIELD: state.get("low_confidence"),
                    "model_version": state.get("model_version"),
                    VERSION_FIELD: self.version,
                    "cold_start": cold,
                    # Label-free aggregates in embedded metric format (function/monitoring.py).
                    **(state.get("emf") or {}),
                },
            )


def _request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and 0 < len(value) <= 128 and value.isascii():
            return value.decode()
    return uuid.uuid4().hex


class StagePrefixMiddleware:
    """Behind an API Gateway REST stage URL (https://…/prod/docs) the app sees `/docs`; setting
    root_path to `/prod` makes /docs load `/prod/openapi.json`, which exists, not `/openapi.json`,
    which does not. Custom domains (no stage in the path) and local runs are left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = (scope.get("aws.event") or {}).get("requestContext") or {}
        stage, full_path = context.get("stage"), context.get("path") or ""
        if stage and stage != "$default" and full_path.startswith(f"/{stage}/"):
            scope = {**scope, "root_path": f"/{stage}"}
        await self.app(scope, receive, send)
