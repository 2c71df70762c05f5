"""The app's OpenAPI document, with the limits of the Settings it runs under.

FastAPI builds the document from the routes and schemas once, on the first request for it; this
writes the running app's limits where the schemas name a Settings field (`schemas.LIMIT`), so a
client reading `/openapi.json` sees MAX_TEXTS and MAX_CHARS as deployed, not the defaults.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from function.config import Settings
from function.schemas import LIMIT

# The JSON Schema keyword that bounds each type a LIMIT may sit on.
_BOUND = {"array": "maxItems", "string": "maxLength", "integer": "maximum"}


def install_openapi(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi  # FastAPI's own builder; it caches in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = with_limits(generate(), settings)
            _describe_body_limit(document, settings.max_request_bytes, settings.max_windows)
            app.openapi_schema = document
        return app.openapi_schema

    # FastAPI's documented hook for a custom document is replacing this method on the app.
    app.openapi = openapi  # type: ignore[method-assign]


def with_limits(node: Any, settings: Settings) -> Any:
    """A copy of `node` in which every `LIMIT` marker is replaced by its bound's keyword."""
    if isinstance(node, list):
        return [with_limits(item, settings) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: with_limits(value, settings) for key, value in node.items() if key != LIMIT}
    if LIMIT in node:
        copy[_BOUND[node["type"]]] = getattr(settings, node[LIMIT])
    return copy


def _describe_body_limit(document: dict[str, Any], max_bytes: int, max_windows: int) -> None:
    """A body's size in bytes has no JSON Schema keyword: the 413 answer states it."""
    for item in document["paths"].values():
        for operation in item.values():
            too_large = operation.get("responses", {}).get("413")
            if too_large is not None:
                too_large["description"] = (
                    f"Over a limit: a body over {max_bytes} bytes (MAX_REQUEST_BYTES), more "
                    "texts than maxItems (MAX_TEXTS), a text over maxLength characters "
                    f"(MAX_CHARS), texts needing over {max_windows} model windows in all "
                    "(MAX_WINDOWS: 'chunks' reads a long text in several, and an explained "
                    "window counts several times), or explain_top_k over its maximum "
                    "(MAX_EXPLAIN_TOP_K)."
                )
