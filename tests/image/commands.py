"""The `docker` and `sam` lines a user types, as function/README.md and docs/deploy.md give them.
The image tests run exactly these (a test checks the docs still show them); only the loopback
ports 9000 and 3000 become free ones, and `docker run` gains `-d --name` to be stopped after."""

from __future__ import annotations

TEMPLATE = "cdk.out/SentimentApi.template.json"
SAM_ENV_FILE = "cdk.out/sam-env.json"
# SAM runs a CDK image function from the local image named after its logical id.
SAM_IMAGE = "sentimentfunction"

BUILD = "docker build -f function/Dockerfile -t sentiment-api ."
# Run from the repository root with the bundle (a runs root or a run) under artifacts/models.
BUILD_BAKED = (
    "docker build -f function/Dockerfile --build-arg BUNDLE_DIR=artifacts/models"
    " -t sentiment-api:baked ."
)
RUN_BAKED = "docker run --rm -p 127.0.0.1:9000:8080 sentiment-api:baked"
INVOKE_URL = "http://127.0.0.1:9000/2015-03-31/functions/function/invocations"

SAM_BUILD = f"sam build -t {TEMPLATE}"
TAG_BAKED_FOR_SAM = f"docker tag sentiment-api:baked {SAM_IMAGE}"
SAM_ENV_BAKED = '{"SentimentFunction": {"MODEL_URI": "/var/task/model"}}'
WRITE_SAM_ENV = f"echo '{SAM_ENV_BAKED}' > {SAM_ENV_FILE}"
SAM_INVOKE = f"sam local invoke SentimentFunction -t {TEMPLATE} -e events/{{event}} --env-vars {SAM_ENV_FILE}"
SAM_INVOKED_EVENTS = ("apigw-v1-predict.json", "apigw-v1-health.json")
SAM_START_API = f"sam local start-api -t {TEMPLATE} --env-vars {SAM_ENV_FILE} --port 3000"


def documented_lines() -> dict[str, list[str]]:
    """Every line above as the docs must show it, by file."""
    invokes = [SAM_INVOKE.format(event=event) for event in SAM_INVOKED_EVENTS]
    sam = [SAM_BUILD, TAG_BAKED_FOR_SAM, WRITE_SAM_ENV, *invokes, SAM_START_API]
    return {
        "function/README.md": [BUILD, BUILD_BAKED, RUN_BAKED, *sam],
        "docs/deploy.md": sam,
    }
