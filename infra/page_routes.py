"""The page's GET routes, open under every auth mode: `/` (the page), `/docs` and `/redoc` (Swagger
UI and ReDoc), `/openapi.json` (what they render) and `/static/{proxy+}` (their scripts and
styles). A browser that opens a page sends no API key and no SigV4 signature, so under
authMode=apiKey or iam these would answer 403 before the page could ask for either. They hold no
data and run no model. Every other path (`/predict`, `/hf`, `/health`, `/model`) and any other
method on `/` stays behind the mode's key or IAM through the `ANY` methods; the page's other paths
have GET alone, so API Gateway refuses any other method there (403) before the function.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from cdk_nag import NagPackSuppression, NagSuppressions

# Below the API's root; the root's own GET is the page.
PAGE_PATHS = ("docs", "redoc", "openapi.json", "static/{proxy+}")


def add_page_routes(
    api: apigw.RestApi, integration: apigw.Integration, auth_mode: str
) -> list[apigw.Method]:
    """GET on the page's paths with no key and no authorizer, whatever the API's default.
    API Gateway routes a request to the most specific resource and method, so these take GET
    from the `ANY` on `/` and from `/{proxy+}` for their paths only."""
    resources = [api.root, *(api.root.resource_for_path(path) for path in PAGE_PATHS)]
    methods = [
        resource.add_method(
            "GET",
            integration,
            api_key_required=False,
            authorization_type=apigw.AuthorizationType.NONE,
        )
        for resource in resources
    ]
    if auth_mode == "iam":  # the other modes' APIG4 reason covers the whole API
        for method in methods:
            NagSuppressions.add_resource_suppressions(
                method,
                [
                    NagPackSuppression(
                        id="AwsSolutions-APIG4",
                        reason="The page and the API's documents (GET /, /docs, /redoc, "
                        "/openapi.json, /static/*) are open so that a browser can load them; "
                        "they hold no data and run no model. Every model route keeps IAM.",
                    )
                ],
            )
    return methods
