"""The deployable artifact: function/Dockerfile, unchanged, built on the Lambda Python base and run
under the Lambda runtime in the image (emulator + awslambdaric), with every event in events/.

make test-image     # engine + stand-in base + both builds + sam
make bench-image    # the same, and its sizes and init time into bench/results/lambda.json
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from bench.machine import provenance
from tests.conftest import REPO, free_port
from tests.events import EVENTS, check_event
from tests.image import commands
from tests.image.conftest import Container, image_mb, is_stand_in, run_id_of

pytestmark = pytest.mark.image

RESULTS = REPO / "bench" / "results" / "lambda.json"
log = logging.getLogger(__name__)


def flat(text: str) -> str:
    """Shell lines as one string each: continuations joined, runs of blanks collapsed."""
    return re.sub(r"[ \t]+", " ", re.sub(r"\\\n\s*", " ", text))


def test_docs_show_the_commands_these_tests_run() -> None:
    for doc, lines in commands.documented_lines().items():
        text = flat((REPO / doc).read_text())
        missing = [line for line in lines if line not in text]
        assert not missing, f"{doc} no longer shows what tests/image runs: {missing}"


def test_baked_image_answers_every_event(
    env: dict[str, str], baked_image: str, tiny_run: Path, container: list[Container]
) -> None:
    port = free_port()
    args = shlex.split(commands.RUN_BAKED.replace("127.0.0.1:9000:", f"127.0.0.1:{port}:"))
    args[2:2] = ["-d"]  # docker run -d --rm ...
    url = commands.INVOKE_URL.replace(":9000/", f":{port}/")
    container.append(Container(env, args, url))
    run_id = run_id_of(tiny_run)
    for event in EVENTS:
        check_event(event.stem, container[0].invoke(event.read_bytes()), run_id)
    init = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", container[0].logs())
    assert init, "the emulator logged no INIT REPORT"
    record({"baked_init_ms_stand_in_base": round(float(init.group(1)), 1)})


def test_plain_image_loads_an_s3_bundle(
    env: dict[str, str],
    plain_image: str,
    tiny_run: Path,
    s3_server: str,
    container: list[Container],
) -> None:
    """No bundle inside: MODEL_URI is an s3:// runs root (its latest.json) on the loopback moto
    server. The container shares the host's network to reach it, so its emulator and runtime API
    are bound to free loopback ports instead of :8080 and :9001."""
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    bucket = "image-test"
    s3.create_bucket(Bucket=bucket)
    for path in sorted(p for p in tiny_run.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"models/{path.relative_to(tiny_run).as_posix()}")
    port = free_port()
    settings = {
        "MODEL_URI": f"s3://{bucket}/models/latest.json",
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = ["docker", "run", "-d", "--rm", "--network", "host"]
    for name, value in settings.items():
        args += ["-e", f"{name}={value}"]
    args += [
        "--entrypoint",
        "/usr/local/bin/aws-lambda-rie",
        plain_image,
        "--runtime-interface-emulator-address",
        f"127.0.0.1:{port}",
        "--runtime-api-address",
        f"127.0.0.1:{free_port()}",
        "/var/lang/bin/python3.12",
        "-m",
        "awslambdaric",
        "function.handler.handler",
    ]
    url = commands.INVOKE_URL.replace(":9000/", f":{port}/")
    container.append(Container(env, args, url))
    run_id = run_id_of(tiny_run)
    for name in ("apigw-v2-health", "apigw-v1-predict"):
        check_event(
            name, container[0].invoke((REPO / "events" / f"{name}.json").read_bytes()), run_id
        )


def test_image_sizes(
    env: dict[str, str], lambda_base: str, plain_image: str, baked_image: str
) -> None:
    """Recorded next to the torch peer's installed dependencies (bench/results/serving.json)."""
    base, plain, baked = (image_mb(env, image) for image in (lambda_base, plain_image, baked_image))
    assert base < plain < baked
    serving = json.loads((REPO / "bench" / "results" / "serving.json").read_text())
    stand_in = is_stand_in(env, lambda_base)
    record(
        {
            "base_mb": base,
            "base": "stand-in (tests/image/lambda-base)"
            if stand_in
            else "public.ecr.aws/lambda/python:3.12",
            "plain_mb": plain,
            "baked_mb": baked,
            "added_to_base_mb": round(plain - base, 1),
            "bundle_mb": round(baked - plain, 1),
            "peer_deps_mb": serving["deps"]["peer_mb"],
            "ours_deps_mb": serving["deps"]["ours_mb"],
            "note": "docker image sizes (uncompressed). The stand-in base is pyenv's CPython 3.12 "
            "plus its libraries; the real Amazon Linux 2023 base is larger, so compare "
            "added_to_base_mb with peer_deps_mb (torch+transformers installed).",
        }
    )


def record(figures: dict) -> None:
    """Read-modify-write of the "image" entry in bench/results/lambda.json (other keys kept),
    under `make bench-image` (BENCH_RECORD=1) only: a test run leaves the tracked file alone."""
    if os.environ.get("BENCH_RECORD") != "1":
        log.info("image figures (not recorded; make bench-image records them): %s", figures)
        return
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    image = data.get("image", {})
    image.update(figures, measured=datetime.now(UTC).isoformat(timespec="seconds"), **provenance())
    data["image"] = image
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
