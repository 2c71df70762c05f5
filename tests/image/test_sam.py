"""`sam build` and `sam local` on the template the CDK app synthesizes, with the lines the docs give
(tests/image/commands.py). SAM runs a CDK image function from the local image named after its
logical id (`sentimentfunction`): `sam build` makes it from the CDK asset, or a baked image is
tagged with that name, which needs no S3.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.events import check_event
from tests.image import commands
from tests.image.conftest import run_id_of, sh

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def template(env: dict[str, str]) -> Path:
    # What `make synth` runs (mk/infra.mk), without its cfn-lint pass.
    sh("npx --no-install cdk synth --no-notices --quiet", env=env)
    return REPO / commands.TEMPLATE


@pytest.fixture(scope="module")
def sam_built(env: dict[str, str], template: Path, lambda_base: str) -> str:
    sh(commands.SAM_BUILD, env=env)
    return commands.SAM_IMAGE


@pytest.fixture(scope="module")
def sam_baked(env: dict[str, str], sam_built: str, baked_image: str) -> str:
    """The baked image under SAM's name (after `sam build`, which would replace it)."""
    sh(commands.TAG_BAKED_FOR_SAM, env=env)
    sh(["bash", "-c", commands.WRITE_SAM_ENV], env=env)
    return commands.SAM_IMAGE


def test_sam_build_builds_the_cdk_asset(env: dict[str, str], sam_built: str) -> None:
    """The asset CDK stages (contract/ and function/ only) builds, and the task root is complete."""
    sh(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/var/lang/bin/python3.12",
            sam_built,
            "-c",
            "import importlib.util as u, onnxruntime, tokenizers, mangum;"
            "assert u.find_spec('function.handler') and u.find_spec('contract.bundle')",
        ],
        env=env,
    )


@pytest.mark.parametrize("event", commands.SAM_INVOKED_EVENTS)
def test_sam_local_invoke(env: dict[str, str], sam_baked: str, tiny_run: Path, event: str) -> None:
    done = sh(commands.SAM_INVOKE.format(event=event), env=env)
    # sam prints the function's response as the last line of stdout; logs go to stderr.
    result = json.loads(done.stdout.strip().splitlines()[-1])
    check_event(event, result, run_id_of(tiny_run))


def test_sam_local_start_api(env: dict[str, str], sam_baked: str, tiny_run: Path) -> None:
    port = free_port()
    args = shlex.split(commands.SAM_START_API.replace("--port 3000", f"--port {port}"))
    server = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"sam local start-api exited:\n{server.stdout.read()}"
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=120) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "sam local start-api never answered"
                time.sleep(0.5)
        assert health["ready"] is True and health["model_version"] == run_id_of(tiny_run)
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps({"text": "Great film."}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert json.loads(response.read())["predictions"][0]["label"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
