"""SageMaker script-mode entry point: python sagemaker_entry.py --flag value ...

`python -m training launch` ships this file at the top of sourcedir.tar.gz; the training image runs
it with the job's hyperparameters as flags. It installs the job's requirements with the image's
torch kept (training/job_image.py says why), then runs `python -m training <flags>` on one GPU,
and `torchrun --nproc_per_node <GPUs> -m training <flags>` on an instance with several. Standard
library only: it runs before anything else is installed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

log = logging.getLogger("sagemaker_entry")
# The installer's own failure: the job stops before training, and SageMaker reports this code.
INSTALL_FAILED = 2


def command(argv: list[str], gpus: int) -> list[str]:
    if gpus > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(gpus),
            "-m",
            "training",
            *argv,
        ]
    return [sys.executable, "-m", "training", *argv]


def install_command(requirements: Path, constraints: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
        "-r", str(requirements), "-c", str(constraints),
    ]  # fmt: skip


def install_requirements(code: Path) -> int:
    """pip installs the job's requirements with the image's torch pinned: it keeps the image's
    CUDA build, or fails at once naming the conflict. 0, or INSTALL_FAILED with the reason."""
    from training.job_image import JOB_REQUIREMENTS, MIN_TORCH, dlc_uri, torch_floor

    region = os.environ.get("AWS_REGION", "<region>")
    try:
        torch = version("torch")
    except PackageNotFoundError:
        log.error("the training image has no torch; use a PyTorch training image, e.g. %s",
                  dlc_uri(region))  # fmt: skip
        return INSTALL_FAILED
    if tuple(int(p) for p in torch.split(".")[:2]) < MIN_TORCH:
        log.error("the training image's torch %s is too old: the job needs %s (transformers 5 "
                  "turns older torch off); use a newer image, e.g. %s", torch, torch_floor(),
                  dlc_uri(region))  # fmt: skip
        return INSTALL_FAILED
    constraints = code / "image-constraints.txt"
    constraints.write_text(f"torch=={torch}\n")
    cmd = install_command(code / JOB_REQUIREMENTS, constraints)
    log.info("installing %s with the image's torch %s kept: %s", JOB_REQUIREMENTS, torch,
             " ".join(cmd))  # fmt: skip
    if subprocess.run(cmd, check=False).returncode != 0:
        log.error("pip could not install %s beside the image's torch %s (its reason is above); "
                  "use an image whose torch fits them, e.g. %s", JOB_REQUIREMENTS, torch,
                  dlc_uri(region))  # fmt: skip
        return INSTALL_FAILED
    return 0


def main() -> None:
    code = Path(__file__).resolve().parent  # /opt/ml/code: contract/ and training/ live here
    os.chdir(code)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(code))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if install_requirements(code):
        sys.exit(INSTALL_FAILED)
    cmd = command(sys.argv[1:], int(os.environ.get("SM_NUM_GPUS", "0") or 0))
    log.info("running %s", " ".join(cmd))
    logging.shutdown()  # flushed before exec replaces this process
    os.execv(cmd[0], cmd)  # the job's exit status is the training CLI's


if __name__ == "__main__":
    main()
