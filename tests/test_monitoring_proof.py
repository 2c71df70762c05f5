"""The loopback proof (bench/monitoring.py) in smoke mode on the tiny bundle: every side runs (the
live function in fresh processes, CloudWatch and S3 on moto, the drift check, the shadow
receivers and the live function with its extension under the Lambda runtime emulator, the release
CLI) and the results file has its shape. Figures are the full run's business (`make
bench-monitoring`), not asserted here: the tiny model is near chance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.lambda_emulator import Unavailable, find_python, find_rie
from contract.profile import dimensions
from tests.conftest import REPO
from tests.skips import skip_or_fail


@pytest.fixture(scope="module")
def proof(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    try:
        find_python("3.12"), find_rie()
    except Unavailable as exc:
        skip_or_fail(str(exc))
    output = tmp_path_factory.mktemp("proof") / "monitoring.json"
    # Its own process: moto's state is per process, and the bench resets it between scenarios.
    command = [
        sys.executable,
        "-m",
        "bench.monitoring",
        "--smoke",
        "--bundle",
        str(tiny_run),
        "--output",
        str(output),
    ]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(output.read_text())


def test_drift_is_checked_on_both_traffics(proof: dict) -> None:
    names = {d.name for d in dimensions(2)}
    for traffic in ("stable", "shifted"):
        drift = proof["drift"][traffic]
        assert drift["replay"]["non_200"] == 0 and drift["replay"]["requests"] == 16
        assert drift["status"] == "checked", drift
        assert drift["predictions"] == drift["replay"]["predictions"] == 16 * 8
        assert set(drift["psi"]) == names and drift["largest"]["dimension"] in names


def test_both_candidates_are_shadowed_compared_and_judged(proof: dict) -> None:
    # The identical candidate gets the first request and every other one after it (9 of 16), and
    # the 3 requests sent under the emulator (below); the degraded one all 16.
    for name, sent, copies in (("identical", 9, 9 + 3), ("degraded", 16, 16)):
        shadow = proof["shadow"][name]
        assert shadow["copies"] == {"sent": sent, "failed": 0, "dropped": 0}
        assert shadow["receiver_lines"] == copies
        report = shadow["report"]
        assert report["candidate"] == shadow["run"] and report["compared"] == copies * 8
        assert 0 <= report["agreement"] <= 1 and report["flips_by_tokens"]
        assert shadow["promote_exit"] in (0, 2) and shadow["promote_says"]
    extension = proof["shadow"]["extension"]
    assert extension["sent_by"] == "extension" and extension["statuses"] == [200] * 3
    assert extension["received_after_each"] == [1, 2, 3]  # each copy before the next request
    assert proof["shadow"]["live_p50_ratio"] > 0
    assert set(proof["shadow"]["live_warm_p50_ms"]) == {"copied", "not"}


def test_the_cost_of_the_metrics_is_measured_side_by_side(proof: dict) -> None:
    cost = proof["cost"]
    assert set(cost["cold_start_s"]) == set(cost["warm_p50_ms"]) == {"on", "off"}
    assert cost["cold_start_ratio"] > 0 and cost["warm_p50_ratio"] > 0
    assert cost["xray_spans_received"] == 2 * 11  # two spans per request of the traced worker
    assert proof["import_costs"] is None  # the full run's (it installs Powertools)


def test_the_results_name_machine_commit_and_load(proof: dict) -> None:
    assert proof["mode"] == "smoke" and proof["commit"]
    assert proof["machine"]["cpu"] and "avx2" in proof["machine"]["isa"]
    assert len(proof["load_avg"]["before"]) == 3
    assert set(proof["expectations"]) >= {"stable_below_threshold", "promote_refuses_degraded"}
