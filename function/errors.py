"""Every error is a JSON `{error, error_type}` body with a stable message; nothing answers with
a stack trace. Tests assert on these strings: change them together."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "model_unavailable",
}
MAX_DETAILS = 5
FASTAPI_BODY_ERROR = "There was an error parsing the body"
OBJECT_EXPECTED = ("model_attributes_type", "dict_type", "model_type")


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        error: str,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.error_type = error_type or ERROR_TYPES.get(status_code, "error")
        self.headers = headers


def error_response(
    status_code: int,
    error: str,
    error_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": error, "error_type": error_type or ERROR_TYPES.get(status_code, "error")}
    return JSONResponse(body, status_code=status_code, headers=headers)


def _describe(errors: list[Any]) -> str:
    if any(e.get("type") == "json_invalid" for e in errors):
        return "invalid JSON body: " + "; ".join(
            str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors
        )
    parts = []
    for e in errors[:MAX_DETAILS]:
        if tuple(e.get("loc", ())) == ("body",) and e.get("type") in OBJECT_EXPECTED:
            parts.append("the body must be a JSON object")
            continue
        # The input is never echoed: it may be a megabyte of review text.
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = len(errors) - MAX_DETAILS
    return "invalid input: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.error_type, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == FASTAPI_BODY_ERROR:
        # FastAPI's answer to bytes that are not UTF-8: invalid input like any other.
        return error_response(422, "invalid JSON body: not UTF-8 text")
    response = error_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, _describe(list(exc.errors())))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc, extra={"route": request.url.path})
    return error_response(500, "internal error; see the function's logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
