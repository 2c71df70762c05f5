"""`make bench-explain` in its smoke mode on the tiny bundle: every method and every side of the
report runs and lands in the results file. Figures are not asserted: a tiny model on three
reviews measures nothing; `make bench-explain` on the make-run bundle does."""

from __future__ import annotations

from pathlib import Path

from tests.bench.conftest import assert_provenance, run_bench


def test_smoke_runs_every_side(tiny_bundle: Path, output: Path) -> None:
    report, _ = run_bench("explain", output, "--model_uri", str(tiny_bundle))
    assert report["reviews"] == 3
    methods = report["methods"]
    # The tiny bundle is mean-pooled: its export carries the split, so every rival runs.
    assert set(methods) == {"ours", "random", "occlusion", "shap", "split", "passages 2/1"}
    for name, row in methods.items():
        assert row["reviews"] == 3, name
        assert set(row) >= {
            "comprehensiveness",
            "sufficiency",
            "ms_per_review_p50",
            "x_plain_prediction_p50",
        }
    served = report["served_median_review"]
    assert served["plain_p50_ms"] > 0 and served["explained_p50_ms"] > 0
    assert report["plain_path"]["with_output_p50_ms"] > 0
    assert report["plain_path"]["without_output_p50_ms"] > 0
    assert set(report["targets"]) == {
        "comprehensiveness_vs_random",
        "comprehensiveness_vs_established",
        "time_vs_established",
        "explained_vs_plain_median_review",
    }
    assert_provenance(report)
