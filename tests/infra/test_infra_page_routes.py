"""The page's routes in the synthesized API: GET on `/`, `/docs`, `/redoc`, `/openapi.json` and
`/static/{proxy+}` is open in every auth mode (a browser opening a page sends no key and no
signature), while every other method and path keeps the mode's API key or IAM."""

from __future__ import annotations

from typing import Any

import pytest

PAGE_GETS = {
    (path, "GET") for path in ("/", "/docs", "/redoc", "/openapi.json", "/static/{proxy+}")
}
# Every resource of the API; CORS adds a preflight to each (test_infra_stack.py).
RESOURCES = {"/", "/{proxy+}", "/docs", "/redoc", "/openapi.json", "/static", "/static/{proxy+}"}


def _path(synth: Any, parent: Any) -> str:
    """A resource's full path from its ParentId chain (the root is GetAtt RootResourceId)."""
    if "Ref" not in parent:
        return ""
    props = synth.resources[parent["Ref"]]["Properties"]
    return f"{_path(synth, props['ParentId'])}/{props['PathPart']}"


def api_methods(synth: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, verb) -> the method's properties, for every method of the API."""
    out = {}
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        key = (_path(synth, props["ResourceId"]) or "/", props["HttpMethod"])
        assert key not in out, key
        out[key] = props
    return out


@pytest.mark.parametrize("variant", ["default", "full", "iam"])
def test_the_page_loads_under_every_auth_mode(variant: str, request: pytest.FixtureRequest) -> None:
    synth = request.getfixturevalue(variant)  # default: none, full: apiKey, iam: iam
    methods = api_methods(synth)
    assert set(methods) >= PAGE_GETS
    for key in PAGE_GETS:
        assert methods[key]["AuthorizationType"] == "NONE", key
        assert methods[key].get("ApiKeyRequired") is not True, key
        assert methods[key]["Integration"]["Type"] == "AWS_PROXY", key


@pytest.mark.parametrize(
    ("variant", "field", "value"),
    [("full", "ApiKeyRequired", True), ("iam", "AuthorizationType", "AWS_IAM")],
)
def test_the_model_routes_keep_their_auth(
    variant: str, field: str, value: object, request: pytest.FixtureRequest
) -> None:
    """/predict, /hf, /health, /model and any other method on / reach the function through the
    ANY methods, which keep the mode's key or IAM; nothing but the page's GETs is open."""
    methods = api_methods(request.getfixturevalue(variant))
    assert methods[("/{proxy+}", "ANY")][field] == value
    assert methods[("/", "ANY")][field] == value
    open_ = {k for k, p in methods.items() if p.get(field) != value and k[1] != "OPTIONS"}
    assert open_ == PAGE_GETS
