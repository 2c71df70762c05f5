"""make bench-audit, smoke: labelled files through bulk scoring on S3 on loopback with the tiny
bundle, each judged, the peer's check beside ours, the held-out split read again as training
read it, and the audit's cost timed."""

from __future__ import annotations

from pathlib import Path

from bench.audit import SMOKE_ROWS
from contract.bundle import read_manifest
from tests.bench.conftest import assert_provenance, run_bench

FILES = ("held_out", "unseen", "positive_week", "critics")


def test_audit_smoke_judges_every_file(tiny_bundle: Path, output: Path) -> None:
    result, log = run_bench("audit", output, "--model_uri", str(tiny_bundle))
    manifest = read_manifest(tiny_bundle)
    assert result["held_out"]["rows"] == manifest.data["sizes"]["test"]
    assert result["held_out"]["matches_training"] is True
    for name in FILES:
        r = result[name]
        assert r["verdict"] in {"below", "consistent", "not judged"} and r["reason"], name
        assert r["peer_verdict"] in {"below", "no alarm"}, name
        assert sum(x["rows"] for x in r["recall"].values()) == r["rows"], name
    assert all(result[n]["rows"] == SMOKE_ROWS for n in FILES[1:])
    assert [j["rows"] for j in result["critics"]["judged_on_first"]] == [SMOKE_ROWS]
    cost = result["cost"]
    assert len(cost["score_s_labelled"]) == len(cost["score_s_unlabelled"]) == cost["rounds"] == 1
    assert min(cost["score_s_labelled"] + cost["score_s_unlabelled"]) > 0
    assert cost["line_us_labelled"] > 0 and cost["line_us_unlabelled"] > 0
    assert result["setup"]["run_id"] == manifest.run_id
    assert_provenance(result)
    assert "audit cost on the score step" in log
