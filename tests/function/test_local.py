"""`make serve`: `python -m function.local` serves the bundle on 127.0.0.1:$PORT and prints a
curl example that works as printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def test_local_server_prints_a_working_curl(tiny_bundle: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MODEL_URI": str(tiny_bundle),
        "PORT": str(port),
        "MODEL_CACHE_DIR": str(tmp_path),
    }
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "function.local"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "function.local did not become ready in 60 s"
            time.sleep(0.2)
        text = (tmp_path / "server.log").read_text()
        start = text.index("curl ")
        command = text[start : text.index("\n\n", start)]
        assert f"http://127.0.0.1:{port}/predict" in command
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert len(json.loads(out.stdout)["predictions"]) == 2
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
