"""The real Lambda runtime without Docker: the task root assembled for the image's platform, run
by Python 3.12 under the AWS Lambda Runtime Interface Emulator and `awslambdaric`, the runtime
client the Python base image runs. Used by tests/function/test_lambda_runtime.py and
`make bench-lambda` (bench/lambda_runtime.py).

    with Emulator(rie, python, task_root, runtime_dir, env) as emu:
        status, body = emu.invoke(event)      # POST /2015-03-31/functions/function/invocations
        emu.init_ms, emu.reports              # from the emulator's INIT REPORT / REPORT lines

Nothing here is downloaded that the machine does not already have, except from PyPI: Python 3.12
comes from pyenv; the emulator binary from an `aws-sam-cli` install (.venv-sam) or its wheel.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from function.image.assemble import IMAGE_PYTHON, default_arch, pip_install_command

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"  # git-ignored: downloads kept between runs
SAM_CLI = "aws-sam-cli==1.170.0"  # the emulator binary ships inside its wheel
# What the Lambda base image has under /var/lang besides the standard library.
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
HANDLER = "function.handler.handler"

_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_REPORT = re.compile(
    r"^REPORT RequestId: (\S+)\s+(?:Init Duration: [\d.]+ ms\s+)?Duration: ([\d.]+) ms"
)


class Unavailable(Exception):
    """A prerequisite (Python 3.12, the emulator) is not on this machine; the message says which."""


def find_python(version: str = IMAGE_PYTHON) -> Path:
    """pyenv's Python `version` (not on PATH here); never downloads one."""
    candidates: list[str] = []
    try:
        prefix = subprocess.run(
            ["pyenv", "prefix", version], capture_output=True, text=True, check=False
        )
        candidates += [line for line in prefix.stdout.splitlines() if line]
    except FileNotFoundError:
        pass
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/{version}.*"), reverse=True)
    for candidate in candidates:
        python = Path(candidate) / "bin" / f"python{version}"
        if python.is_file():
            return python
    raise Unavailable(
        f"no Python {version}: install it with pyenv (`pyenv install {version}`); looked in "
        f"`pyenv prefix {version}` and {root}/versions/{version}.*"
    )


def _rie_name() -> str:
    return f"aws-lambda-rie-{'arm64' if default_arch() == 'arm64' else 'x86_64'}"


def find_rie() -> Path:
    """The emulator: from an aws-sam-cli install in .venv-sam, else from its wheel (downloaded
    once into .cache/wheels, the one binary extracted into .cache/rie)."""
    name = _rie_name()
    installed = glob.glob(str(REPO / ".venv-sam/lib/python3*/site-packages/samcli/local/rapid"))
    extracted = CACHE / "rie" / name
    for candidate in [*(Path(p) / name for p in installed), extracted]:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    wheels = CACHE / "wheels"
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    result = subprocess.run(
        [*pip, "--dest", str(wheels), SAM_CLI], capture_output=True, text=True, check=False
    )
    found = sorted(wheels.glob("aws_sam_cli-*.whl"))
    if result.returncode != 0 or not found:
        raise Unavailable(f"could not download {SAM_CLI} for the emulator: {result.stderr[-800:]}")
    extracted.parent.mkdir(parents=True, exist_ok=True)
    member = f"samcli/local/rapid/{name}"
    with zipfile.ZipFile(found[-1]) as wheel, open(f"{extracted}.part", "wb") as dst:
        shutil.copyfileobj(wheel.open(member), dst)
    os.chmod(f"{extracted}.part", 0o755)
    os.replace(f"{extracted}.part", extracted)
    return extracted


def install_runtime(target: Path, python_version: str = IMAGE_PYTHON) -> Path:
    """awslambdaric and boto3 for the image's platform, like the base image's site-packages."""
    command = pip_install_command(
        target,
        arch=default_arch(),
        python_version=python_version,
        packages=RUNTIME_PACKAGES,
        deps=True,
    )
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"installing the runtime client failed: {result.stderr[-2000:]}")
    return target


def assemble_task_root(target: Path, python: Path, bundle: Path | None = None) -> Path:
    """The task root, by the script function/Dockerfile runs."""
    command = [sys.executable, str(REPO / "function/image/assemble.py"), "--task-root", str(target)]
    command += ["--arch", default_arch(), "--target-python", str(python)]
    if bundle is not None:
        command += ["--bundle", str(bundle)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"assemble.py failed:\n{result.stderr[-3000:]}")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float  # the first invoke's includes the init (the emulator inits lazily)


class Emulator:
    """aws-lambda-rie running `python -m awslambdaric <handler>` (the API's by default) in the
    task root, with PYTHONPATH = task root : runtime dir, and nothing else of the host's
    environment but PATH and what `env` adds."""

    def __init__(
        self,
        rie: Path,
        python: Path,
        task_root: Path,
        runtime: Path,
        env: dict[str, str],
        handler: str = HANDLER,
    ) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self._changed = threading.Condition()
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": f"{task_root}{os.pathsep}{runtime}",
            "LAMBDA_TASK_ROOT": str(task_root),
            "HOME": str(task_root.parent),
            **env,
        }
        command = [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}"]
        # Its own runtime API port too: the default (9001) would clash with a second emulator.
        command += ["--runtime-api-address", f"127.0.0.1:{free_port()}"]
        # The emulator reads LOG_LEVEL too, the function's setting: at WARNING it would drop the
        # INIT REPORT line.
        command += ["--log-level", "info"]
        self.process = subprocess.Popen(
            [*command, str(python), "-m", "awslambdaric", handler],
            cwd=task_root,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_listening()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def _wait_listening(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited: {self.log()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the emulator did not listen within {timeout} s: {self.log()[-3000:]}")

    def invoke(self, event: dict[str, Any] | bytes, timeout: float = 60) -> tuple[int, Any]:
        """One invocation; returns the emulator's HTTP status and the decoded payload. Waits for
        the REPORT line, so `reports` lines up with the invocations."""
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        before = len(self.reports)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=data, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        with self._changed:
            self._changed.wait_for(lambda: len(self.reports) > before, timeout=10)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    @property
    def init_ms(self) -> float | None:
        """The init phase (importing the handler module: settings, bundle, app), as the
        emulator measures it."""
        found = _INIT_REPORT.findall(self.log())
        return float(found[-1]) if found else None

    @property
    def init_count(self) -> int:
        return len(_INIT_REPORT.findall(self.log()))

    @property
    def reports(self) -> list[Report]:
        with self._changed:
            lines = list(self.lines)
        return [Report(m.group(1), float(m.group(2))) for m in map(_REPORT.match, lines) if m]

    def close(self) -> None:
        # The emulator leads its own process group (start_new_session), with the runtime in it.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
