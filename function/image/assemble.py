"""Assembles the Lambda task root: the image's dependencies, contract/, function/, an optional
baked bundle and bytecode. function/Dockerfile runs it, and so do the tests, so they cannot drift.

    python3 function/image/assemble.py --task-root /var/task --bundle /tmp/bundle   # in the image
    python3 function/image/assemble.py --task-root build/task --arch arm64 \\
        --target-python "$(pyenv prefix 3.12.1)/bin/python3.12" [--bundle artifacts/models]

Standard library only: it runs under the image's python3.12 before anything is installed, and
under the host's Python (3.11 or newer) in the tests. Wherever it runs, pip picks wheels for the
image's platform (CPython <python-version>, glibc <= 2.34, the given arch), never the host's.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("assemble")

IMAGE_PYTHON = "3.12"
# The python3.12 and 3.13 Lambda bases are Amazon Linux 2023 (glibc 2.34); python3.11 was Amazon
# Linux 2 (glibc 2.26), which the pinned onnxruntime and numpy no longer publish wheels for.
IMAGE_GLIBC = (2, 34)
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's name -> the wheel tag's
# Never imported when serving: ORT's offline optimizers and quantizer, numpy's build tools and
# test suites, console scripts. Globs under the dependency root.
UNUSED = (
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "numpy/f2py",
    "numpy/distutils",
    "numpy/tests",
    "numpy/*/tests",
    "bin",
)
CODE = ("contract", "function")
# function/ entries that are build tooling, not the app (this script and the placeholder).
NOT_SHIPPED = {"image", "Dockerfile"}
# What function/image/no-bundle holds: COPY needs a source that exists, so "no bundle" is this
# directory, not an empty build argument.
PLACEHOLDER_FILES = {"README.md", ".keep"}

# Runs under the target interpreter with only the task root on its path: the bundle is copied
# (the files serving reads, not the training checkpoint) and verified by the code that serves it.
BAKE = """
import shutil, sys
from pathlib import Path
from contract.bundle import MANIFEST, read_manifest, verify_bundle
from contract.storage import resolve_local
src, dest = resolve_local(sys.argv[1]), Path(sys.argv[2])
for name in [MANIFEST, *read_manifest(src).served_files()]:
    (dest / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / name, dest / name)
print(verify_bundle(dest, serving_only=True).run_id)
"""
# The app and every module it imports at start come from the task root alone (-S: no
# site-packages), so a missing pin fails the build instead of the first cold start.
SMOKE = "import function.main, function.loader, contract.storage, function.batch.handler"


class AssembleError(Exception):
    """A bad argument or a failed step; the message says what to do."""


def manylinux_tags(arch: str, newest: tuple[int, int] = IMAGE_GLIBC) -> list[str]:
    """Every manylinux tag a glibc-`newest` system accepts, newest first, down to manylinux2014.
    pip takes one tag per --platform flag and does not widen manylinux_2_34 to older ones."""
    machine = ARCHES[arch]
    major, minor = newest
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def pip_install_command(
    target: Path,
    *,
    arch: str,
    python_version: str = IMAGE_PYTHON,
    requirements: Path | None = None,
    packages: Sequence[str] = (),
    deps: bool = False,
    newest_glibc: tuple[int, int] = IMAGE_GLIBC,
    python: str = sys.executable,
) -> list[str]:
    """`pip install --target` for the image's platform: binary wheels only (nothing is built for
    the host by mistake), CPython `python_version`, every manylinux tag the image's glibc takes."""
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile"]
    command += ["--target", str(target), "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", python_version]
    for tag in manylinux_tags(arch, newest_glibc):
        command += ["--platform", tag]
    if not deps:
        command.append("--no-deps")  # requirements.txt is the complete pinned set
    if requirements is not None:
        command += ["-r", str(requirements)]
    return [*command, *packages]


def run(
    command: Sequence[str], what: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, text=True, capture_output=True, env=env, check=False)
    if result.returncode != 0:
        raise AssembleError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def strip_unused(root: Path) -> None:
    for pattern in UNUSED:
        for path in root.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_code(source: Path, task_root: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == source / "function":
            skip |= NOT_SHIPPED & set(names)
        return skip

    for package in CODE:
        if not (source / package).is_dir():
            raise AssembleError(f"{source / package} is missing: --source is the repository root")
        shutil.copytree(source / package, task_root / package, ignore=ignore)


def find_bundle(path: Path | None) -> Path | None:
    """The bundle to bake: a run dir (manifest.json) or a runs root (latest.json) is one; None or
    the empty placeholder means none; anything else is a mistake worth failing the build for."""
    if path is None:
        return None
    if not path.is_dir():
        raise AssembleError(f"--bundle {path}: not a directory; pass a run dir or a runs root")
    names = {p.name for p in path.iterdir()}
    if {"manifest.json", "latest.json"} & names:
        return path
    if names <= PLACEHOLDER_FILES:
        return None
    raise AssembleError(
        f"--bundle {path} holds neither manifest.json nor latest.json: pass a run directory "
        "(<runs root>/<run-id>) or a runs root that holds latest.json"
    )


def bake_bundle(bundle: Path, task_root: Path, python: str, dest: Path | None = None) -> str:
    """Copies the bundle into `dest` (<task root>/model) and verifies it with the task root's own
    contract code under `python`; returns its run id. A bundle that fails fails the build."""
    dest = dest or task_root / "model"
    env = {**os.environ, "PYTHONPATH": str(task_root)}
    baked = run([python, "-S", "-c", BAKE, str(bundle), str(dest)], "baking the bundle", env=env)
    run_id = baked.stdout.strip().splitlines()[-1]
    log.info("baked bundle %s from %s into %s", run_id, bundle, dest)
    return run_id


def python_version_of(python: str) -> str:
    code = "import sys; print('.'.join(map(str, sys.version_info[:2])))"
    return run([python, "-c", code], f"{python} --version").stdout.strip()


def target_interpreter(python_version: str, given: str | None) -> str | None:
    """The interpreter bytecode is compiled with: .pyc files only load on the Python version
    that wrote them, so it is this one only when it is the image's version."""
    if given:
        found = python_version_of(given)
        if found != python_version:
            raise AssembleError(f"--target-python {given} is Python {found}, not {python_version}")
        return given
    if ".".join(map(str, sys.version_info[:2])) == python_version:
        return sys.executable
    return None


def compile_bytecode(task_root: Path, python: str) -> None:
    # unchecked-hash: /var/task is read-only, so a .pyc Python judged stale would be recompiled
    # in memory on every cold start; hash-based files never go stale when a COPY or a registry
    # changes the sources' mtimes, and the image's sources never change.
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode"]
    run([*command, "unchecked-hash", str(task_root)], "compileall")


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


STEPS = ("all", "deps", "app")


def install_dependencies(
    task_root: Path, *, source: Path, arch: str, python_version: str = IMAGE_PYTHON
) -> None:
    """The `deps` step: function/requirements.txt for the image's platform, stripped."""
    if task_root.exists() and any(task_root.iterdir()):
        raise AssembleError(f"{task_root} is not empty: assemble into a new or empty directory")
    task_root.mkdir(parents=True, exist_ok=True)
    requirements = source / "function" / "requirements.txt"
    log.info("installing %s for cp%s on %s", requirements, python_version, arch)
    command = pip_install_command(
        task_root, arch=arch, python_version=python_version, requirements=requirements
    )
    run(command, "pip install")
    strip_unused(task_root)


def _bundle_and_python(
    bundle: Path | None, python_version: str, target_python: str | None
) -> tuple[Path | None, str | None]:
    bundle = find_bundle(bundle)
    python = target_interpreter(python_version, target_python)
    if bundle is not None and python is None:
        raise AssembleError(
            f"a bundle is verified by the image's Python {python_version}: pass --target-python"
        )
    return bundle, python


def add_app(
    task_root: Path,
    *,
    source: Path,
    python_version: str = IMAGE_PYTHON,
    bundle: Path | None = None,
    target_python: str | None = None,
) -> str | None:
    """The `app` step, over a task root the `deps` step made: contract/ and function/, the
    bundle, bytecode and the import check. Returns the baked run id, or None."""
    bundle, python = _bundle_and_python(bundle, python_version, target_python)
    installed = task_root.is_dir() and any(task_root.iterdir())
    if not installed or any((task_root / package).exists() for package in CODE):
        raise AssembleError(
            f"{task_root}: the app step goes over a task root that only the deps step has "
            "filled; run --step deps into a new directory first (or --step all)"
        )
    copy_code(source, task_root)

    # _bundle_and_python refused a bundle without an interpreter to verify it with.
    run_id = None if bundle is None or python is None else bake_bundle(bundle, task_root, python)
    if python is None:
        log.warning(
            "bytecode NOT compiled: this is Python %d.%d and the image runs %s; pass "
            "--target-python, or every cold start compiles the sources in memory",
            *sys.version_info[:2],
            python_version,
        )
    else:
        compile_bytecode(task_root, python)
        env = {**os.environ, "PYTHONPATH": str(task_root)}  # LD_LIBRARY_PATH and all
        run([python, "-S", "-c", SMOKE], "import check", env=env)
    log.info("task root %s: %.1f MB", task_root, tree_bytes(task_root) / 1e6)
    return run_id


def assemble(
    task_root: Path,
    *,
    source: Path,
    arch: str,
    python_version: str = IMAGE_PYTHON,
    bundle: Path | None = None,
    target_python: str | None = None,
    step: str = "all",
) -> str | None:
    """Builds `task_root`; returns the baked run id, or None when no bundle was baked. The
    Dockerfile runs the two steps apart so the dependency layer is cached across code and
    bundle changes; the tests run both at once."""
    if step not in STEPS:
        raise AssembleError(f"step {step!r}: expected one of {', '.join(STEPS)}")
    if step != "app":
        # Before the install, so a bad argument fails in seconds, not after the downloads.
        _bundle_and_python(bundle, python_version, target_python)
        install_dependencies(task_root, source=source, arch=arch, python_version=python_version)
    if step == "deps":
        return None
    return add_app(
        task_root,
        source=source,
        python_version=python_version,
        bundle=bundle,
        target_python=target_python,
    )


def default_arch() -> str:
    return {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task-root", type=Path, required=True, help="new or empty directory")
    parser.add_argument("--arch", choices=sorted(ARCHES), default=default_arch())
    parser.add_argument("--python-version", default=IMAGE_PYTHON, help="the image's Python")
    parser.add_argument(
        "--step",
        choices=STEPS,
        default="all",
        help="deps: the dependencies only, into an empty task root; app: the code, bundle and "
        "bytecode over a deps task root; all: both",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        help="a run dir or a runs root holding latest.json, copied to <task root>/model and "
        "verified; an empty dir (function/image/no-bundle) bakes nothing",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the repository root (holds contract/ and function/)",
    )
    parser.add_argument(
        "--target-python",
        "--compile-with",
        help="an interpreter of --python-version, when this one is not: compiles the bytecode, "
        "verifies the bundle and checks the imports",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="assemble: %(message)s")
    args = parse_args(argv)
    try:
        assemble(
            args.task_root.resolve(),
            source=args.source.resolve(),
            arch=args.arch,
            python_version=args.python_version,
            bundle=args.bundle,
            target_python=args.target_python,
            step=args.step,
        )
    except AssembleError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
