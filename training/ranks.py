"""Which process of a torchrun job this is, and running a step on the main one only.

Imports nothing heavy at module level: the CLI asks `is_main_process` before torch is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from training.args import ArgumentError

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def ddp_backend() -> str | None:
    """The torchrun process group's backend: NCCL on GPUs, gloo on CPUs; None on one process."""
    if world_size() == 1:
        return None
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def on_main_process(work: Callable[[], T]) -> T:
    """Runs `work` on the main process only and hands its result to every process of a torchrun
    job; an ArgumentError there is raised in every process, so none waits for one that quit."""
    if world_size() == 1:
        return work()
    import torch.distributed as dist
    from accelerate import PartialState

    # The Trainer starts the process group only when it builds its arguments, which is too late
    # here; it reuses this one (same backend: NCCL on GPUs, gloo on CPUs).
    backend = ddp_backend()
    PartialState(cpu=backend == "gloo", backend=backend)
    outcome: list[Any] = [None]
    if is_main_process():
        try:
            outcome = [("ok", work())]
        except ArgumentError as exc:
            outcome = [("error", str(exc))]
    dist.broadcast_object_list(outcome, src=0)
    kind, value = outcome[0]
    if kind == "error":
        raise ArgumentError(value)
    return value
