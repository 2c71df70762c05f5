"""make bench-training, smoke: a few steps of each side (naive padding, our batches) and the
quick-profile read-out, taken from the suite's tiny run instead of training one."""

from __future__ import annotations

from pathlib import Path

from tests.bench.conftest import assert_provenance, run_bench


def test_training_smoke_runs_both_sides(tiny_run: Path, output: Path) -> None:
    result, _ = run_bench("training", output, "--quick-from", str(tiny_run))
    (length,) = result["by_max_length"]
    sides = result["by_max_length"][length]
    assert sides["naive_samples_per_second"] > 0 and sides["ours_samples_per_second"] > 0
    assert result["throughput_ratio"] > 0
    assert result["quick_precision"] in ("int8", "fp32") and 0 <= result["quick_accuracy"] <= 1
    assert result["quick_knobs"]["max_length"] > 0 and result["quick_minutes"] is None
    assert_provenance(result)
