"""The image's requirements resolve as binary wheels for its platform: CPython 3.12 on glibc <= 2.34
(the Lambda python3.12 base, Amazon Linux 2023), x86_64 and arm64. The host's own install
(test_requirements.py) cannot see this: its glibc is newer. Resolution only (pip --dry-run),
with the platform flags function/image/assemble.py installs with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from function.image.assemble import IMAGE_PYTHON, manylinux_tags, pip_install_command
from tests.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "function" / "requirements.txt"
# What pip says when the index cannot be reached, as opposed to "no such wheel".
OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable")


def resolve(
    requirements: Path, arch: str, tmp_path: Path, newest_glibc: tuple[int, int] = (2, 34)
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """pip's resolution for the image's platform; returns the run and the wheels' file names."""
    report = tmp_path / f"report-{arch}-{newest_glibc[1]}.json"
    command = pip_install_command(
        tmp_path / "target", arch=arch, requirements=requirements, newest_glibc=newest_glibc
    )
    command += ["--dry-run", "--quiet", "--report", str(report)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if run.returncode != 0 and any(marker in run.stderr for marker in OFFLINE):
        skip_or_fail(f"the package index is unreachable: {run.stderr[-400:]}")
    if run.returncode != 0:
        return run, []
    wheels = [
        item["download_info"]["url"].rsplit("/", 1)[-1]
        for item in json.loads(report.read_text())["install"]
    ]
    return run, wheels


def pinned_names() -> set[str]:
    return {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def test_the_tag_list_covers_glibc_2_34_down_to_manylinux2014() -> None:
    tags = manylinux_tags("arm64")
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_28_aarch64" in tags and "manylinux_2_17_aarch64" in tags
    assert len(tags) == len(set(tags)) == 34 - 17 + 1 + 1
    assert all(t.endswith("_x86_64") for t in manylinux_tags("x86_64"))


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_every_pin_has_a_wheel_for_the_image(arch: str, tmp_path: Path) -> None:
    run, wheels = resolve(REQUIREMENTS, arch, tmp_path)
    assert run.returncode == 0, f"a pin has no cp{IMAGE_PYTHON} wheel for glibc 2.34: {run.stderr}"
    names = {w.split("-")[0].lower().replace("_", "-") for w in wheels}
    assert names == pinned_names()
    cp = "cp" + IMAGE_PYTHON.replace(".", "")
    tags = set(manylinux_tags(arch))
    for wheel in wheels:
        python, abi, plat = wheel.removesuffix(".whl").split("-")[-3:]
        assert abi in {cp, "abi3", "none"} and (python.startswith(("cp3", "py3"))), wheel
        assert plat == "any" or set(plat.split(".")) & tags, wheel


def test_a_pin_without_a_wheel_for_the_glibc_fails(tmp_path: Path) -> None:
    """The check can fail: onnxruntime 1.32.0 publishes manylinux_2_27/2_28 wheels only, so the
    python3.11 base's glibc 2.26 (Amazon Linux 2) has none, while 2.34 has."""
    pin = tmp_path / "requirements.txt"
    pin.write_text("onnxruntime==1.32.0\n")
    fits, _ = resolve(pin, "x86_64", tmp_path, newest_glibc=(2, 34))
    assert fits.returncode == 0, fits.stderr
    old, wheels = resolve(pin, "x86_64", tmp_path, newest_glibc=(2, 26))
    assert old.returncode != 0 and not wheels
    assert "No matching distribution found for onnxruntime==1.32.0" in old.stderr
