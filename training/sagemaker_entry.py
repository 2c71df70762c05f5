"""SageMaker script-mode entry point: python sagemaker_entry.py --flag value ...

`python -m training launch` ships this file at the top of sourcedir.tar.gz; the training image runs
it with the job's hyperparameters as flags. It runs `python -m training <flags>` on one GPU, and
`torchrun --nproc_per_node <GPUs> -m training <flags>` on an instance with several. Standard
library only: it runs before anything else is imported.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


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


def main() -> None:
    code = Path(__file__).resolve().parent  # /opt/ml/code: contract/ and training/ live here
    os.chdir(code)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p
    )
    cmd = command(sys.argv[1:], int(os.environ.get("SM_NUM_GPUS", "0") or 0))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("sagemaker_entry").info("running %s", " ".join(cmd))
    logging.shutdown()  # flushed before exec replaces this process
    os.execv(cmd[0], cmd)  # the job's exit status is the training CLI's


if __name__ == "__main__":
    main()
