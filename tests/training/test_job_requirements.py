"""The SageMaker job runs on the image it names: pip's resolver, asked against the package index
(`pip install --dry-run --report`, the command sagemaker_entry.py runs, for the image's Python
and platform), installs the job's requirements with the documented image's versions and keeps
its torch; an image with an older torch is refused. Skipped, loudly, only when the index cannot
be reached, and never under CI=true.

The image's own check runs through the entry point: an image without torch, or with a torch
older than the job's floor, stops before pip with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from training.job_image import DLC_SHIPS, JOB_REQUIREMENTS, MIN_TORCH, job_requirements
from training.launch import package_source
from training.sagemaker_entry import INSTALL_FAILED, install_command

# The image's platform: Ubuntu 22.04 (glibc 2.35), x86_64. pip takes one platform tag per flag
# and does not widen manylinux_2_35 to the older tags, so each is named.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + [
    "manylinux2014_x86_64",
    "linux_x86_64",
]
# What pip prints when it cannot reach an index (urllib3 and pip's own words).
UNREACHABLE = (
    "NewConnectionError", "Failed to establish a new connection", "Max retries exceeded",
    "Temporary failure in name resolution", "Network is unreachable", "ConnectTimeoutError",
    "ProxyError", "Could not fetch URL",
)  # fmt: skip


def image_constraints(ships: dict[str, str]) -> str:
    """The image's torch, pinned as sagemaker_entry.py pins it. Nothing else is: pip keeps an
    installed package that meets every requirement and upgrades one that does not (the image's
    transformers 5.3.0 for the job's floor, its numpy 1.26 for numpy>=2), so a resolution with
    torch alone pinned exists exactly when the job's install on the image succeeds."""
    return f"torch=={ships['torch']}\n"


def resolve(tmp_path: Path, ships: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The entry point's own pip command, as a dry run for the image's Python and platform."""
    requirements = tmp_path / JOB_REQUIREMENTS
    requirements.write_text(job_requirements())
    constraints = tmp_path / "image-constraints.txt"
    constraints.write_text(image_constraints(ships))
    python = ships["python"]
    cmd = [*install_command(requirements, constraints), "--dry-run", "--ignore-installed",
           "--report", str(tmp_path / "report.json"), "--only-binary=:all:", "--implementation",
           "cp", "--python-version", python, *(f"--platform={p}" for p in PLATFORMS),
           "--retries", "1", "--timeout", "30"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode and any(marker in done.stdout + done.stderr for marker in UNREACHABLE):
        message = "the package index cannot be reached: the job's requirements were not resolved"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: this check must run)\n{done.stderr[-2000:]}")
        pytest.skip(message)
    return done


def test_the_job_installs_on_the_documented_image_and_keeps_its_torch(tmp_path):
    done = resolve(tmp_path, DLC_SHIPS)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    versions = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}
    assert versions["torch"] == DLC_SHIPS["torch"]  # the image's CUDA build, not a download
    for line in job_requirements().split():  # and everything the job asks for, in range
        requirement = Requirement(line)
        assert requirement.specifier.contains(versions[requirement.name.lower()]), line
    # the image's transformers is one the job must not run on (pyproject.toml says why)
    assert versions["transformers"] != DLC_SHIPS["transformers"]


def test_an_image_with_an_older_torch_does_not_resolve(tmp_path):
    """The image docs/gpu-training.md named before: torch 2.5.1, which transformers 5 turns off.
    pip refuses to install beside it rather than replacing the image's torch."""
    done = resolve(tmp_path, {"python": "3.11", "torch": "2.5.1", "transformers": "4.49.0"})
    assert done.returncode != 0
    assert "Cannot install torch>={}.{}".format(*MIN_TORCH) in done.stdout + done.stderr


@pytest.mark.parametrize(("torch", "message"), [
    (None, "the training image has no torch"),
    ("2.5.1", "the training image's torch 2.5.1 is too old: the job needs torch>=2.6"),
])  # fmt: skip
def test_the_entry_point_refuses_an_image_without_a_fitting_torch(tmp_path, torch, message):
    """The "image" is a fresh environment without pip, with torch as its metadata says."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "image")],
                   check=True, timeout=120)  # fmt: skip
    python = tmp_path / "image" / "bin" / "python"
    if torch:
        site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        info = Path(site) / f"torch-{torch}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {torch}\n")
    with tarfile.open(package_source(tmp_path / "sourcedir.tar.gz")) as tar:
        tar.extractall(tmp_path / "code", filter="data")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"AWS_REGION": "eu-west-1"}
    done = subprocess.run([python, "sagemaker_entry.py", "--max_steps", "1"], cwd=tmp_path / "code",
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == INSTALL_FAILED
    assert message in done.stderr
    assert (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-training" in done.stderr
    )
    assert "running" not in done.stderr  # training never started
