"""GET / (the page where a person pastes reviews and sees the evidence), GET /docs and /redoc
(Swagger UI and ReDoc), and their files under /static: all from the function itself, so they
work offline and behind API Gateway's stage prefix (the HTML uses relative URLs only).

Every HTML answer carries a Content-Security-Policy: scripts only from this origin and never
inline, requests only to this origin, no plugins, no framing. The review text a page shows is
the person's own input, rendered as text (function/static/page.js); the policy is the second
line of defence if that ever slips.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

FUNCTION_DIR = Path(__file__).resolve().parents[1]
PAGES_DIR = FUNCTION_DIR / "pages"  # the HTML, answered by the routes below with the policy
STATIC_DIR = FUNCTION_DIR / "static"  # scripts, styles, vendored Swagger UI and ReDoc
# Swagger UI and ReDoc set styles from script (ReDoc through <style> elements it writes), and
# ReDoc runs its search index in a worker it builds from a blob: URL; scripts stay 'self' only.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _html(name: str) -> FileResponse:
    return FileResponse(PAGES_DIR / name, media_type="text/html; charset=utf-8", headers=HEADERS)


def _path_as_sent(request: Request) -> str | None:
    """The path the client asked for, stage included, when API Gateway passed it on."""
    event = request.scope.get("aws.event") or {}
    context = event.get("requestContext") or {}
    return context.get("path") or event.get("rawPath")


@router.get("/")
def page(request: Request) -> Response:
    # https://…/prod (no slash) reaches the app as "/": relative URLs there would resolve
    # against the host's root and lose the stage. Send the browser to https://…/prod/ first.
    sent = _path_as_sent(request)
    if sent and not sent.endswith("/"):
        return RedirectResponse(sent.rsplit("/", 1)[-1] + "/", status_code=308)
    return _html("index.html")


@router.get("/docs")
def swagger_ui() -> FileResponse:
    return _html("docs.html")


@router.get("/redoc")
def redoc() -> FileResponse:
    return _html("redoc.html")
