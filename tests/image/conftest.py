"""Fixtures for the image tests: a Docker engine (or a loud skip), the stand-in Lambda base, the
plain and the baked image built from function/Dockerfile, and a container under the emulator.

`make test-image` starts the engine (tests/image/docker-engine.sh) and runs `pytest -m image`.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.image import commands

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SAM_BIN = REPO / ".venv-sam" / "bin"


def docker_env(tmp: Path) -> dict[str, str]:
    """The environment every docker/sam command runs in: the classic builder (Debian's engine has
    no buildx), sam from .venv-sam, and nothing that may reach a network: no telemetry, no version
    check (sam skips it for a week after the stamp below), no instance-metadata credential lookup."""
    app_dir = tmp / "sam-app"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "metadata.json").write_text(
        json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()})
    )
    return {
        **os.environ,
        # The project's python first (the CDK app runs under it); sam comes from its own venv.
        "PATH": os.pathsep.join([str(REPO / ".venv" / "bin"), str(SAM_BIN), os.environ["PATH"]]),
        "DOCKER_BUILDKIT": "0",
        "SAM_CLI_TELEMETRY": "0",
        "__SAM_CLI_APP_DIR": str(app_dir),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }


def sh(
    cmd: str | list[str], *, env: dict[str, str], cwd: Path = REPO, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs a command line as a user types it; a failure shows the tail of its output."""
    args = shlex.split(cmd) if isinstance(cmd, str) else cmd
    log.info("$ %s  (in %s)", shlex.join(args), cwd)
    started = time.monotonic()
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.info("  %.1f s, exit %d", time.monotonic() - started, done.returncode)
    assert done.returncode == 0, (
        f"`{shlex.join(args)}` exited {done.returncode}\n"
        f"--- stdout (tail)\n{done.stdout[-4000:]}\n--- stderr (tail)\n{done.stderr[-4000:]}"
    )
    return done


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The command environment, once a Docker engine answers. Without one: under CI=true a
    failure, elsewhere a loud skip."""
    environment = docker_env(tmp_path_factory.mktemp("docker"))
    found = shutil.which("docker", path=environment["PATH"])
    probe = (
        subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if found
        else None
    )
    if probe is None or probe.returncode != 0:
        why = (
            "no Docker engine answers (docker CLI "
            + ("found" if found else "missing")
            + "): `make test-image` installs and starts one as root (tests/image/docker-engine.sh)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        log.warning("SKIPPING THE IMAGE TESTS: %s", why)
        pytest.skip(f"IMAGE TESTS NOT RUN: {why}")
    for tool, fix in ((SAM_BIN / "sam", "make sam"),):
        assert tool.exists(), f"{tool} is missing: run `{fix}`"
    return environment


@pytest.fixture(scope="session")
def lambda_base(env: dict[str, str]) -> str:
    """The Lambda Python base image in this daemon: the real one if present, else the stand-in."""
    sh([str(HERE / "lambda-base" / "build.sh")], env=env)
    return "public.ecr.aws/lambda/python:3.12"


@pytest.fixture(scope="session")
def plain_image(env: dict[str, str], lambda_base: str) -> str:
    """function/Dockerfile built as the docs say, from the repository root."""
    sh(commands.BUILD, env=env)
    return "sentiment-api"


@pytest.fixture(scope="session")
def baked_context(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository root's build context with the tiny runs root at artifacts/models,
    where the docs put a bundle (the real tree's artifacts/ is the user's and stays untouched)."""
    root = tmp_path_factory.mktemp("context")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("contract", "function"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    shutil.copy2(REPO / ".dockerignore", root / ".dockerignore")
    shutil.copytree(tiny_run, root / "artifacts" / "models")
    return root


@pytest.fixture(scope="session")
def baked_image(env: dict[str, str], plain_image: str, baked_context: Path) -> str:
    sh(commands.BUILD_BAKED, env=env, cwd=baked_context)
    return "sentiment-api:baked"


def run_id_of(tiny_run: Path) -> str:
    return json.loads((tiny_run / "latest.json").read_text())["run_id"]


def image_mb(env: dict[str, str], image: str) -> float:
    out = sh(["docker", "image", "inspect", image, "--format", "{{.Size}}"], env=env).stdout
    return round(int(out.strip()) / 1e6, 1)


def is_stand_in(env: dict[str, str], image: str) -> bool:
    """Whether the image carries the stand-in base's label (tests/image/lambda-base/build.sh)."""
    labels = sh(
        ["docker", "image", "inspect", image, "--format", "{{json .Config.Labels}}"], env=env
    )
    return "sentiment-api.stand-in" in (json.loads(labels.stdout) or {})


class Container:
    """A running container; `invoke` posts an event to its emulator on a loopback port."""

    def __init__(self, env: dict[str, str], args: list[str], url: str) -> None:
        self.env, self.url = env, url
        self.id = sh(args, env=env).stdout.strip()

    def invoke(self, event: bytes, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            request = urllib.request.Request(self.url, data=event, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return json.loads(response.read())
            except (ConnectionError, urllib.error.URLError) as exc:
                # Until the emulator listens; a container that died says why in its logs.
                if time.monotonic() > deadline or not self.running():
                    raise AssertionError(f"no answer from {self.url}:\n{self.logs()}") from exc
                time.sleep(0.2)

    def running(self) -> bool:
        state = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", self.id],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        done = subprocess.run(
            ["docker", "logs", self.id], env=self.env, capture_output=True, text=True, check=False
        )
        return done.stdout + done.stderr

    def stop(self) -> None:
        subprocess.run(
            ["docker", "rm", "-f", self.id], env=self.env, capture_output=True, check=False
        )


@pytest.fixture
def container(env: dict[str, str]) -> Iterator[list[Container]]:
    """Started containers, removed after the test whatever happened."""
    started: list[Container] = []
    yield started
    for running in started:
        log.info("container %s log (tail):\n%s", running.id[:12], running.logs()[-3000:])
        running.stop()
