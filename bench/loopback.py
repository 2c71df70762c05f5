"""AWS on loopback for the benchmarks: one moto server (S3, CloudWatch) with empty state, and
this process's environment pointed at it while it runs."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator

from bench.lambda_emulator import free_port

CREDS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto() -> Iterator[str]:
    """Yields the server's endpoint; the environment is restored and the server stopped after.
    moto keeps its state per process, not per server: the reset empties what an earlier
    scenario left (each bench runs in its own process; the tests spawn it)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*CREDS, "AWS_ENDPOINT_URL"]}
    try:
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=30).close()
        os.environ.update({**CREDS, "AWS_ENDPOINT_URL": endpoint})
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
