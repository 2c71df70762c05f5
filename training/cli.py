"""python -m training [flags | config.json]   fine-tune -> evaluate -> export -> publish
python -m training verify <bundle dir | s3 uri>   check a bundle's manifest and every sha256
python -m training launch --image_uri ... [--wait] [flags]   the same job on SageMaker (GPU)
"""

from __future__ import annotations

import logging
import sys
import time

from contract.bundle import BundleError
from contract.exit_codes import ErrorCodes, ExitCode, exit_code, help_text
from contract.storage import StorageError
from training.args import ArgumentError, parse

log = logging.getLogger("training")

HELP = (
    (__doc__ or "")
    + "\n"
    + help_text(
        ExitCode.OK,
        ExitCode.FAILED,
        ExitCode.BAD_INPUT,
        ExitCode.QUALITY_GATE,
        ExitCode.PARITY_FAILED,
        ExitCode.INTERNAL_FAILURE,
    )
)


def setup_logging() -> None:
    # The root logger stays at WARNING: onnxruntime's quantizer logs every node at INFO on it.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for ours in ("training", "contract"):
        logging.getLogger(ours).setLevel(logging.INFO)


def train_command(argv: list[str], started: float) -> int:
    try:
        model, data, job = parse(argv, description=HELP)
    except ArgumentError as exc:
        log.error("%s", exc)
        return ExitCode.BAD_INPUT
    try:  # torch and transformers load here: after --help and a bad flag have answered
        from training import pipeline
        from training.data import DataError
        from training.finetune import ModelLoadError
        from training.parity import ParityError
    except ModuleNotFoundError as exc:
        log.error("training needs the training extra (pip install -e '.[training]'): %s", exc)
        return ExitCode.BAD_INPUT
    # The pipeline's own errors (quality gate, reload mismatch) carry their codes.
    errors: ErrorCodes = {
        (ArgumentError, DataError, ModelLoadError, StorageError, BundleError): ExitCode.BAD_INPUT,
        ParityError: ExitCode.PARITY_FAILED,
    }
    return exit_code(lambda: pipeline.run(model, data, job, started=started), errors, log)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()  # --time_budget_minutes counts from here
    setup_logging()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        from training.verify import verify_command

        return verify_command(argv[1:])
    if argv[:1] == ["launch"]:
        from training.sagemaker.launch import launch_command

        return launch_command(argv[1:])
    return train_command(argv, started)
