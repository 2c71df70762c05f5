"""`torchrun --nproc_per_node 2 -m training` on CPU (gloo): one job, one bundle, same report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from contract.bundle import verify_bundle
from tests.conftest import REPO, TINY_ARGS, free_port


def test_two_processes_publish_exactly_one_bundle_with_the_usual_metrics(tiny_bundle, tmp_path):
    output, work = tmp_path / "models", tmp_path / "work"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            "-m",
            "training",
            *TINY_ARGS,
            "--output",
            str(output),
            "--output_dir",
            str(work),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]

    runs = [p for p in output.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # not one per process
    assert sorted(p.name for p in output.iterdir() if p.is_file()) == ["latest.json"]
    run = runs[0]
    assert json.loads((output / "latest.json").read_text())["run_id"] == run.name
    # Every process trained under the main process's run id.
    assert json.loads((work / "run.json").read_text())["run_id"] == run.name
    assert verify_bundle(run).run_id == run.name
    assert log.count("INFO training: published ") == 1

    ours = json.loads((run / "metrics.json").read_text())
    single = json.loads((tiny_bundle / "metrics.json").read_text())
    assert set(ours) == set(single)
    for model, values in single.items():
        assert set(ours[model]) == set(values), model
    # Data-parallel for real: the two processes trained one model together, with the loss of one.
    assert "ParallelMode.DISTRIBUTED" not in log
    losses = [
        json.loads(line.replace("'", '"'))["loss"]
        for line in log.splitlines()
        if line.startswith("{'loss'")
    ]
    assert losses and all(0 < float(x) < 1.2 for x in losses), losses
