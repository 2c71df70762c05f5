"""Fixtures for the served app: settings on the tiny bundle, an in-process client, and a real
uvicorn server on a free loopback port."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from function.config import Settings
from function.main import create_app
from tests.conftest import free_port


@contextmanager
def log_records(
    name: str, convert: Callable[[logging.LogRecord], object] = lambda record: record
) -> Iterator[list]:
    """What logger `name` emits meanwhile, each record through `convert`, as it is emitted (the
    function's loggers do not propagate to the root logger that caplog listens on)."""
    records: list = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(convert(record))  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="session")
def settings(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        model_uri=str(tiny_bundle),
        model_cache_dir=tmp_path_factory.mktemp("model-cache"),
        max_texts=8,
        max_chars=4000,
        max_request_bytes=128 * 1024,
        log_level="INFO",
    )


@pytest.fixture(scope="session")
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug must show up as the 500 users would get, not pass
    # silently as a raised exception the status assertions never see.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@contextmanager
def serve(app) -> Iterator[str]:
    """`app` under a real uvicorn server in a thread (what `make serve` runs); yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server_url(app) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as c:
        yield c


@pytest.fixture
def tampered_bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A copy of the tiny bundle with one byte of model.onnx flipped."""
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy, copy_function=os.link)  # hard links: no 100 MB copy
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.unlink()  # break the link before writing, or the shared bundle would change too
    model.write_bytes(bytes(data))
    return copy
