"""make bench-batch, smoke: the batch worker's plan and score steps over a few rows on S3 on
loopback, with the tiny bundle."""

from __future__ import annotations

from pathlib import Path

from contract.bundle import read_manifest
from tests.bench.conftest import assert_provenance, run_bench


def test_batch_smoke_scores_every_row(tiny_bundle: Path, output: Path) -> None:
    result, _ = run_bench("batch", output, "--bundle", str(tiny_bundle))
    assert result["rows"] == 8 and result["rows_per_s"] > 0 and result["plan_rows_per_s"] > 0
    assert result["bundle"]["run_id"] == read_manifest(tiny_bundle).run_id
    assert not result["bundle"]["stand_in"]
    assert_provenance(result)
