"""The facts that say which kind of machine a figure or a test failure came from: CPU model, the
instruction sets int8 kernels dispatch on, the inference libraries' versions, how busy the
machine was, and the commit measured. The pytest header (tests/conftest.py) and every benchmark
in bench/ record the same dict, so a result file and a failure report name the same things.

int8 results differ by ISA: ONNX Runtime's MLAS picks its u8s8 kernels at run time (AVX2's
vpmaddubsw saturates int16 pairs; AVX-512 VNNI and AMX accumulate in int32), so which near-0.5
predictions an int8 model flips depends on these flags. torch is reported only when installed,
and read from package metadata: importing it would cost seconds on every pytest start.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# /proc/cpuinfo flag names; AMX counts when its int8 tile operations are there.
ISA_FLAGS = {"avx2": "avx2", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni",
             "amx": "amx_int8"}  # fmt: skip
LIBRARIES = ("onnxruntime", "torch")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "", set[str]()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux: the model from platform, the flags unknown
        return platform.processor() or "unknown", flags
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model or platform.processor() or "unknown", flags


def isa() -> dict[str, bool]:
    flags = _cpuinfo()[1]
    return {name: flag in flags for name, flag in ISA_FLAGS.items()}


def cpu_kind(facts: dict[str, Any]) -> str:
    """The kernel family int8 runs on here, in words: 'AMX', 'AVX-512 VNNI', 'AVX-512', 'AVX2'."""
    flags = facts["isa"]
    for name, words in (("amx", "AMX"), ("avx512_vnni", "AVX-512 VNNI"),
                        ("avx512f", "AVX-512"), ("avx2", "AVX2")):  # fmt: skip
        if flags.get(name):
            return words
    return "no AVX2"


def library_versions() -> dict[str, str | None]:
    """Installed versions of the inference libraries; None for one that is not installed."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def commit(repo: Path = REPO) -> str:
    """HEAD of `repo`, with '-dirty' when tracked files differ from it (the figure then measured
    code no commit holds); 'unknown' outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repo, capture_output=True, text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty.strip() else "")


def machine_facts() -> dict[str, Any]:
    model, _ = _cpuinfo()
    facts: dict[str, Any] = {
        "cpu": model,
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "isa": isa(),
        "python": platform.python_version(),
        **library_versions(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    facts["cpu_kind"] = cpu_kind(facts)
    return facts


def provenance() -> dict[str, Any]:
    """What every bench/results file records: the machine and the commit it measured."""
    return {"machine": machine_facts(), "commit": commit()}


def header_line() -> str:
    """One line for the pytest header, e.g. `machine: AMD EPYC, 2 CPUs, AVX-512 VNNI (avx2=yes
    avx512f=yes avx512_vnni=yes amx=no); onnxruntime 1.32.0, torch 2.13.0+cpu; load 1.2`."""
    f = machine_facts()
    flags = " ".join(f"{name}={'yes' if on else 'no'}" for name, on in f["isa"].items())
    libs = ", ".join(f"{name} {f[name]}" for name in LIBRARIES if f[name])
    return (
        f"machine: {f['cpu']}, {f['cpus']} CPUs, {f['cpu_kind']} ({flags}); {libs}; "
        f"load {f['load_average'][0]}"
    )
