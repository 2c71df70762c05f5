"""The image a SageMaker training job runs on, and what the job installs on top of it.

The job always trains on the image's own torch: that build matches the image's CUDA and drivers,
and a torch from PyPI would be a multi-GB download built for some other CUDA. So the job's
requirements name torch only by its floor, and sagemaker_entry.py installs them with the image's
torch pinned as a pip constraint: pip keeps it, or stops at once with the conflict. Standard
library only: sagemaker_entry.py imports it before the requirements are installed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The file the job installs, at the top of sourcedir.tar.gz. Not requirements.txt: the image's
# training toolkit runs `pip install -r requirements.txt` by itself before the entry point,
# without the constraint, free to replace the image's torch.
JOB_REQUIREMENTS = "job-requirements.txt"

# The documented image (docs/gpu-training.md, `launch --help`) and the versions it ships, from
# aws/deep-learning-containers: huggingface/pytorch/training/docker/2.9/py3/cu130/Dockerfile.gpu
# (FROM pytorch-training:2.9.0-gpu-py312-cu130-ubuntu22.04-sagemaker) and the release notes of
# v1.0-hf-5.3.0-pt-2.9.0-tr-gpu-py312. tests/training/test_job_requirements.py resolves the
# job's requirements against these versions.
DLC_ACCOUNT = "763104351884"
DLC_REPOSITORY = "huggingface-pytorch-training"
DLC_TAG = "2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04"
DLC_SHIPS = {
    "python": "3.12",
    "torch": "2.9.0",
    "transformers": "5.3.0",
    "accelerate": "1.12.0",
    "datasets": "4.5.0",
    "huggingface-hub": "1.10.0",
    "numpy": "1.26.4",
}
# The plain PyTorch DLC it is built on: the job installs transformers 5 itself.
PLAIN_DLC_REPOSITORY = "pytorch-training"
PLAIN_DLC_TAG = "2.9.0-gpu-py312-cu130-ubuntu22.04-sagemaker"

# transformers 5 turns PyTorch off below 2.6 (transformers.utils.import_utils.is_torch_available:
# "PyTorch >= 2.6 is required"), and accelerate 1.16 requires torch>=2.6.0.
MIN_TORCH = (2, 6)
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
_DLC_TAG_RE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?-.*?-py3(\d+)(?:-|$)")


def dlc_uri(region: str, repository: str = DLC_REPOSITORY, tag: str = DLC_TAG) -> str:
    return f"{DLC_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


def torch_floor() -> str:
    return "torch>={}.{}".format(*MIN_TORCH)


def image_refusal(image_uri: str) -> str | None:
    """Why an AWS PyTorch training DLC cannot run the job, read from its tag (which starts with
    its torch version and names its Python, e.g. `2.5.1-...-py311-...`); None when it can, or
    when the image is not one whose tags say so (the job's own install checks those)."""
    repository, _, tag = image_uri.rpartition("/")[2].partition(":")
    if repository not in (DLC_REPOSITORY, PLAIN_DLC_REPOSITORY):
        return None
    match = _DLC_TAG_RE.match(tag)
    if not match:
        return None
    torch, python = (int(match[1]), int(match[2])), (3, int(match[3]))
    if torch >= MIN_TORCH and python >= MIN_PYTHON:
        return None
    return (
        f"--image_uri {image_uri!r} ships torch {torch[0]}.{torch[1]} and Python "
        f"{python[0]}.{python[1]}; the job needs {torch_floor()} (transformers 5 turns older "
        "torch off, and pip would replace the image's CUDA build with a multi-GB download) and "
        "Python >= {}.{}. Use a newer image, e.g. {}".format(
            *MIN_PYTHON, dlc_uri(_region(image_uri))
        )
    )


def _region(image_uri: str) -> str:
    host = image_uri.split("/", 1)[0].split(".")
    return host[3] if len(host) > 3 else "<region>"


def job_requirements() -> str:
    """What the job installs: the shared contract's dependencies and the training extra of
    pyproject.toml, with the training extra's torch pin (a CPU wheel here) replaced by the floor:
    the image's torch satisfies it and stays."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["training"]]
    kept = [r for r in wanted if re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0] != "torch"]
    return "\n".join([torch_floor(), *kept]) + "\n"
