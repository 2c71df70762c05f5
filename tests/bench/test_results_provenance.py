"""Every figure recorded in bench/results/ names the machine and the commit it came from (issue
20): a result file added or rewritten without them fails here, not in a reader's hands. Files
keyed by CPU kind or by part (precision.json, lambda.json) carry both in each entry. Files
written before bench/machine.py recorded these say "unknown" with a note, as README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.conftest import ISA, provenance_problems

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
FILES = sorted(RESULTS.glob("*.json"))


def test_there_are_results_to_check() -> None:
    assert len(FILES) >= 10, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_result_names_its_machine_and_commit(path: Path) -> None:
    assert provenance_problems(json.loads(path.read_text())) == [], path.name


def test_a_result_without_provenance_is_caught() -> None:
    machine = {"cpu": "AMD EPYC", "cpus": 2, "onnxruntime": "1.32.0", "isa": dict.fromkeys(ISA)}
    assert provenance_problems({"machine": machine, "commit": "a" * 40}) == []
    assert provenance_problems({"rows_per_s": 54.4})  # a bench that forgot the record
    assert provenance_problems({"AVX2": {"rows_per_s": 54.4}})  # keyed by kind, the entry bare
    assert provenance_problems({"machine": machine, "commit": "5e8734f"})  # a short sha
    partial = {**machine, "isa": {"avx2": True}}
    assert provenance_problems({"machine": partial, "commit": "a" * 40})
