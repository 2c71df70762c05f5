"""Every figure recorded in bench/results/ names the machine and the commit it came from (issue
20): a result file added or rewritten without them fails here, not in a reader's hands. Files
keyed by CPU kind or by part (precision.json, lambda.json) carry both in each entry. Files
written before bench/machine.py recorded these say "unknown" with a note, as README says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
ISA = {"avx2", "avx512f", "avx512_vnni", "amx"}
# A measured commit (a dirty tree says so), or a file from before commits were recorded.
COMMIT = re.compile(r"^([0-9a-f]{40}(-dirty)?|unknown\b.*)$")


def problems(result: dict[str, Any]) -> list[str]:
    """What a result lacks: the file itself when it names a machine, else each of its entries."""
    entries = (
        [result] if "machine" in result else [v for v in result.values() if isinstance(v, dict)]
    )
    if not entries:
        return ["no machine, and no entries that could name one"]
    found = []
    for entry in entries:
        machine = entry.get("machine")
        if not isinstance(machine, dict):
            found.append(f"an entry without a machine: {sorted(entry)[:5]}")
            continue
        if not (machine.get("cpu") and machine.get("cpus")):
            found.append(f"no cpu or cpus: {machine}")
        if set(machine.get("isa") or {}) != ISA:
            found.append(f"isa should name {sorted(ISA)}: {machine.get('isa')}")
        if not COMMIT.match(str(entry.get("commit", ""))):
            found.append(f"commit should be a full sha or 'unknown ...': {entry.get('commit')!r}")
    return found


FILES = sorted(RESULTS.glob("*.json"))


def test_there_are_results_to_check() -> None:
    assert len(FILES) >= 10, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_result_names_its_machine_and_commit(path: Path) -> None:
    assert problems(json.loads(path.read_text())) == [], path.name


def test_a_result_without_provenance_is_caught() -> None:
    machine = {"cpu": "AMD EPYC", "cpus": 2, "isa": dict.fromkeys(ISA, True)}
    assert problems({"machine": machine, "commit": "a" * 40}) == []
    assert problems({"rows_per_s": 54.4})  # a bench that forgot the record
    assert problems({"AVX2": {"rows_per_s": 54.4}})  # keyed by kind, the entry bare
    assert problems({"machine": machine, "commit": "5e8734f"})  # a short sha names nothing
    assert problems({"machine": {**machine, "isa": {"avx2": True}}, "commit": "a" * 40})
