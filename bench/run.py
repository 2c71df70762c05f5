"""make bench-run ARGS="--runs 3"   (python -m bench.run [--runs 3] [--port 8765] [--keep]
                                     [--neighbour N] [--commit REV])

A new user's first command, timed: a fresh clone of this checkout's HEAD runs `make run` (set-up
of .venv included) until GET /health answers ready, N times one after the other. Writes
bench/results/make_run.json: wall minutes of each run and the max, whether each served, the
precision it shipped, its held-out accuracy, its parity-gate numbers and time-budget plan, and
how busy the machine was (load average) before and after each run: timings taken while other
work shares the CPUs say little about this code.

`--neighbour N` starts N busy processes once make run has planned its training (load that the
time budget's speed probe did not see) and stops them when it serves; `--commit REV` runs an
earlier commit in the clones, the peer a change is measured against in the same session.

Not a test: one run takes the time it measures (~11 minutes on 2 vCPUs). `make test` runs the
harness with `--smoke --bundle <bundle> --output <tmp>`: one fresh clone serves that bundle with
`make serve` on this checkout's .venv instead of `make run` (seconds), and the same readiness
wait, /model read-out, shutdown and result file are exercised.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.machine import commit as head_commit
from bench.machine import machine_facts
from bench.record import RESULTS, add_smoke_flag, check_output, write_result

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"served": "every run", "wall_minutes_max": 12.0, "accuracy": 0.85}
GATE_FIELDS = (
    "flips",
    "n",
    "torch_only_correct",
    "onnx_only_correct",
    "mcnemar_p",
    "flip_p",
    "passed",
)
log = logging.getLogger("bench.run")


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


class Neighbour:
    """`count` busy processes that start once the run's log shows `trigger` (make run's plan:
    load that arrives after the time budget's speed probe, as a neighbour's build would) and stop
    with the run. They run at the same priority as make run and share its CPUs."""

    def __init__(self, count: int, log_path: Path, trigger: str, start: float):
        self.count, self.log_path, self.trigger, self.start = count, log_path, trigger, start
        self.procs: list[subprocess.Popen] = []
        self.started_minutes: float | None = None

    def poll(self) -> None:
        if not self.count or self.procs:
            return
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        if self.trigger in text:
            hog = [sys.executable, "-c", "while True: pass"]
            self.procs = [subprocess.Popen(hog) for _ in range(self.count)]
            self.started_minutes = (time.monotonic() - self.start) / 60
            log.info("neighbour: %d busy processes started", self.count)

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def wait_ready(
    proc: subprocess.Popen, port: int, timeout_s: float, neighbour: Neighbour | None = None
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if neighbour is not None:
            neighbour.poll()
        if proc.poll() is not None:
            return False  # make run stopped before serving (training failed, port taken, ...)
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if r.status_code == 200 and r.json().get("ready"):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def make_command(port: int, smoke_bundle: Path | None) -> list[str]:
    """`make run`; under --smoke, `make serve` of a given bundle on this process's virtualenv,
    with its set-up stamp taken as up to date (-o): the clone's newer pyproject.toml must not
    reinstall into a virtualenv that is not the clone's."""
    if smoke_bundle is None:
        return ["make", "run", f"PORT={port}"]
    venv = Path(sys.prefix)
    return [
        "make",
        "-o",
        str(venv / ".installed-run"),
        "serve",
        f"VENV={venv}",
        f"MODEL_URI={smoke_bundle}",
        f"PORT={port}",
    ]


def one_run(
    index: int,
    port: int,
    timeout_minutes: float,
    keep: bool,
    smoke_bundle: Path | None = None,
    revision: str = "HEAD",
    neighbours: int = 0,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"make-run-{index}-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", revision], check=True)
    out: dict[str, Any] = {"run": index, "load_before": loadavg(), "clone": str(clone)}
    log_path = work / "make_run.log"
    log.info("run %d: make run in %s (log %s)", index, clone, log_path)
    start_wall, start = time.time(), time.monotonic()
    with log_path.open("w") as fh:
        # Its own process group: stopping the server afterwards stops make and its children.
        proc = subprocess.Popen(
            make_command(port, smoke_bundle),
            cwd=clone,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # make serve (the smoke run) logs no plan: its neighbour starts with it
        neighbour = Neighbour(neighbours, log_path, "" if smoke_bundle else "plan: ", start)
        try:
            served = wait_ready(proc, port, timeout_minutes * 60, neighbour)
        finally:
            neighbour.stop()
        out["wall_minutes"] = (time.monotonic() - start) / 60
        out["served"] = served
        out["load_after"] = loadavg()
        out["neighbour"] = {
            "processes": neighbours,
            "started_minutes": neighbour.started_minutes,
            "pids": [p.pid for p in neighbour.procs],
        }
        stamp = clone / ".venv" / ".installed-run"  # the Makefile's RUN_STAMP
        if stamp.exists():
            out["setup_minutes"] = (stamp.stat().st_mtime - start_wall) / 60
        if served:
            out |= served_model(port)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out["exit_code"] = proc.returncode
    text = log_path.read_text(errors="replace")
    out["plan"] = next(
        (ln.split("plan: ", 1)[1] for ln in text.splitlines() if "plan: " in ln), None
    )
    out["log_tail"] = text.splitlines()[-15:]
    if not keep:  # a clone with its .venv, checkpoints and bundle is ~2 GB
        shutil.rmtree(clone, ignore_errors=True)
    return out


def served_model(port: int) -> dict[str, Any]:
    info = httpx.get(f"http://127.0.0.1:{port}/model", timeout=10).json()
    metrics = info["metrics"]
    served = metrics.get("served", {}).get("metrics") or metrics.get("onnx_int8", {})
    gate = metrics.get("parity", {})
    return {
        "precision": info.get("precision", "int8"),
        "precision_reason": info.get("precision_reason", ""),
        "accuracy": served.get("accuracy"),
        "accuracy_torch": metrics.get("torch", {}).get("accuracy"),
        "baseline_tfidf_accuracy": metrics.get("baseline_tfidf", {}).get("accuracy"),
        "parity": {p: {k: gate[p][k] for k in GATE_FIELDS} for p in ("int8", "fp32") if p in gate},
        "time_budget": metrics.get("time_budget"),
        "model_version": info.get("model_version"),
        # calibration (ECE before/after the temperature) and the long-text strategies by length
        # bucket, as the bundle's metrics.json reports them (issue 12)
        "calibration": metrics.get("calibration"),
        "long_text": metrics.get("long_text"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout-minutes", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="keep each clone (venv, run, log)")
    parser.add_argument("--output", type=Path, default=RESULTS / "make_run.json")
    parser.add_argument("--bundle", type=Path, help="with --smoke: the bundle `make serve` serves")
    parser.add_argument(
        "--commit",
        default="HEAD",
        help="the commit each clone runs (default HEAD): an earlier one measures the peer a change "
        "is compared with, on the same machine in the same session",
    )
    parser.add_argument(
        "--neighbour",
        type=int,
        default=0,
        metavar="N",
        help="N busy processes start once make run logs its plan (load arriving after the speed "
        "probe) and stop when it serves: does the time budget hold when the machine slows?",
    )
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    check_output(parser, args.output, args.smoke)
    if args.smoke and args.bundle is None:
        parser.error("--smoke serves a given bundle instead of training one: pass --bundle")
    if args.smoke:
        args.runs, args.timeout_minutes = 1, min(args.timeout_minutes, 3.0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    commit = head_commit(REPO)
    if commit.endswith("-dirty") and args.commit == "HEAD":
        log.warning("uncommitted changes are not in the clone; it runs commit %s", commit[:12])
    measured = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{args.commit}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if measured.returncode:
        parser.error(f"--commit {args.commit}: no such commit in {REPO}")
    revision = measured.stdout.strip()
    bundle = args.bundle.resolve() if args.smoke else None
    runs = [
        one_run(i, args.port, args.timeout_minutes, args.keep, bundle, revision, args.neighbour)
        for i in range(args.runs)
    ]
    walls = [r["wall_minutes"] for r in runs]
    cpus = machine_facts()["cpus"]
    result = {
        "what": "fresh clone -> make run (venv set-up included) -> GET /health ready"
        if not args.smoke
        else "smoke: fresh clone -> make serve of a given bundle -> GET /health ready",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "runs": len(runs),
        "wall_minutes": walls,
        "wall_minutes_max": max(walls),
        "served": [r["served"] for r in runs],
        "precision": [r.get("precision") for r in runs],
        "accuracy": [r.get("accuracy") for r in runs],
        "setup_minutes": [r.get("setup_minutes") for r in runs],
        # Busy: more runnable work than CPUs at a run's start or end (a load average over
        # the CPU count means runs waited for a core).
        "busy": [max(r["load_before"][0], r["load_after"][0]) > cpus for r in runs],
        "targets": TARGETS,
        # the commit the clones ran (provenance's `commit` is HEAD, the harness's)
        "measured_commit": revision,
        "neighbour": args.neighbour,
        "details": runs,
    }
    write_result(args.output, result)  # adds the machine and the commit (HEAD, the harness's)
    for r in runs:
        sys.stdout.write(
            f"run {r['run']}: {'served' if r['served'] else 'NOT served'} after "
            f"{r['wall_minutes']:.1f} min (set-up {r.get('setup_minutes') or float('nan'):.1f}), "
            f"{r.get('precision')}, accuracy {r.get('accuracy')}, load {r['load_before'][0]:.1f}"
            f" -> {r['load_after'][0]:.1f}\n"
        )
    sys.stdout.write(f"max wall {max(walls):.1f} min; written {args.output}\n")
    return 0 if all(result["served"]) else 1


if __name__ == "__main__":
    sys.exit(main())
