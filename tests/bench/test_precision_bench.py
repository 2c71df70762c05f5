"""make bench-precision, smoke: both graphs are built from the tiny bundle's hf/ checkpoint by the
training job's export, each runs in its own worker, and the result lands under this CPU kind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.machine import machine_facts
from tests.bench.conftest import assert_provenance, run_bench
from tests.conftest import REPO

FIGURES = {"load_s", "warm_p50_ms", "batch_reviews_per_s", "peak_rss_mb"}


def test_precision_smoke_times_both_graphs(tiny_bundle: Path, output: Path) -> None:
    results, log = run_bench("precision", output, "--model_uri", str(tiny_bundle))
    kind = machine_facts()["cpu_kind"]
    assert set(results) == {kind}, "one entry per CPU kind"
    result = results[kind]
    for precision in ("int8", "fp32"):
        assert set(result[precision]) == FIGURES, precision
        assert all(result[precision][k] > 0 for k in FIGURES), result[precision]
    compared = result["int8_vs_fp32"]
    assert compared["reviews_compared"] > 0
    assert 0 <= compared["label_flips"] <= compared["reviews_compared"]
    assert set(result["faster"].values()) <= {"int8", "fp32"}
    assert result["setup"]["run_id"] == tiny_bundle.name
    assert_provenance(result)
    assert "int8 speed-up" in log


def test_a_bundle_without_a_checkpoint_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / tiny_bundle.name
    shutil.copytree(tiny_bundle, bundle, ignore=shutil.ignore_patterns("hf"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.precision",
            "--smoke",
            "--model_uri",
            str(bundle),
            "--output",
            str(tmp_path / "out.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "no hf/ checkpoint" in run.stderr
