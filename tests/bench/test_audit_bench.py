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
    # A figure, not asserted: the tiny model sits near 0.5, where a batch's make-up can move a
    # label (int8 kernels differ by CPU kind); the real run records it.
    assert isinstance(result["held_out"]["matches_training"], bool)
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


def test_a_missing_bundle_is_named_not_a_crash(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    missing, output = str(tmp_path / "none"), str(tmp_path / "out.json")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.audit",
            "--smoke",
            "--model_uri",
            missing,
            "--output",
            output,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "--model_uri" in run.stderr and "run make run first" in run.stderr
    assert "Traceback" not in run.stderr
