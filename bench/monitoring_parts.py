"""The steps of bench/monitoring.py: the live function in fresh processes, the drift check and the
shadow receivers under the Lambda runtime emulator, moto's S3 and CloudWatch on loopback, and the
release CLI against them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.cloudwatch_emf import json_lines, put_lines
from bench.lambda_emulator import (
    Emulator,
    assemble_task_root,
    find_python,
    find_rie,
    install_runtime,
)
from bench.loopback import CREDS, moto
from bench.monitoring_bundles import copy_bundle, ensure_reference, shift_bias
from bench.reviews import median_review
from contract.bundle import read_manifest
from contract.profile import read_profile
from function.drift.handler import INGESTION_LAG
from function.logs import PREDICTIONS_FIELD, REQUEST_LOGGER

log = logging.getLogger("bench.monitoring")
REPO = Path(__file__).resolve().parents[1]
BUCKET = "bench-monitoring"
DRIFT_CMD = "function.drift.handler.handler"
SHADOW_CMD = "function.shadow.handler.handler"


def resolve_bundle(given: Path | None) -> Path:
    from contract.storage import resolve_local

    candidate = resolve_local(given or Path(os.environ.get("MODEL_URI", "artifacts/models")))
    if not (candidate / "manifest.json").is_file():
        raise SystemExit(f"{candidate} is not a bundle: pass --bundle <run dir or runs root>")
    return candidate


def client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def live_function(
    env: dict[str, str], requests: list[list[str]], work: Path, alternate_shadow: bool = False
) -> tuple[dict, list]:
    """The Lambda handler in a fresh process (bench/monitoring_worker.py) answering `requests`;
    returns its result and the JSON lines it logged."""
    inputs = Path(tempfile.mkstemp(dir=work, suffix=".json")[1])
    inputs.write_text(json.dumps({"requests": requests, "alternate_shadow": alternate_shadow}))
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODEL_", "SHADOW_", "MONITORING_", "AWS_XRAY", "_X_AMZN"))
    }
    environment |= {
        "TOKENIZERS_PARALLELISM": "false",
        "LOG_LEVEL": "INFO",
        "MODEL_CACHE_DIR": str(work / "cache"),
        **env,
    }
    start = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "bench.monitoring_worker", str(inputs), repr(start)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=3600,
    )
    done = [ln for ln in run.stdout.splitlines() if ln.startswith("WORKER ")]
    if run.returncode != 0 or not done:
        raise RuntimeError(f"the live function failed:\n{run.stderr[-3000:]}{run.stdout[-2000:]}")
    return json.loads(done[-1].removeprefix("WORKER ")), json_lines(run.stdout)


def replay_figures(result: dict, lines: list[dict]) -> dict[str, Any]:
    requests = [ln for ln in lines if ln.get("logger") == REQUEST_LOGGER]
    return {
        "requests": len(requests),
        "predictions": sum(ln.get(PREDICTIONS_FIELD) or 0 for ln in requests),
        "non_200": sum(s != 200 for s in result["statuses"]),
        "warm_p50_ms": round(statistics.median(result["latencies_ms"]), 2),
    }


class Lambda:
    """Python 3.12, the emulator, and the task root the image's Dockerfile builds."""

    def __init__(self, work: Path) -> None:
        self.python, self.rie = find_python("3.12"), find_rie()
        self.task_root = assemble_task_root(work / "task", self.python)
        self.runtime = install_runtime(work / "runtime")

    def emulator(self, handler: str, env: dict[str, str]) -> Emulator:
        return Emulator(
            self.rie,
            self.python,
            self.task_root,
            self.runtime,
            {**CREDS, "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"], **env},
            handler=handler,
        )


def drift_scenario(
    rt: Lambda,
    live: Path,
    namespace: str,
    requests: list[list[str]],
    work: Path,
    min_predictions: int,
) -> dict[str, Any]:
    """Traffic through the live function into a fresh CloudWatch, then one drift check."""
    with moto():
        result, lines = live_function(
            {"MODEL_URI": str(live), "MONITORING_NAMESPACE": namespace}, requests, work
        )
        put_lines(client("cloudwatch"), lines)
        env = {
            "MODEL_URI": str(live),
            "MONITORING_NAMESPACE": namespace,
            "MODEL_CACHE_DIR": str(work / "drift-cache"),
            "DRIFT_MIN_PREDICTIONS": str(min_predictions),
        }
        now = datetime.now(UTC) + INGESTION_LAG + timedelta(minutes=1)  # the replay is in it
        with rt.emulator(DRIFT_CMD, env) as emu:
            status, check = emu.invoke({"time": now.isoformat()})
        if status != 200 or "status" not in check:
            raise RuntimeError(f"the drift check failed: {check}\n{emu.log()[-3000:]}")
    return {**check, "replay": replay_figures(result, lines)}


def release_cli(*args: str) -> tuple[int, str, list[str]]:
    """`python -m infra.release ...` in this process (its CDK imports load once): exit code,
    what it printed, what it logged."""
    import io

    from infra.release import main

    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("release")
    logger.addHandler(handler)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = main(list(args))
    finally:
        logger.removeHandler(handler)
    return code, printed.getvalue(), said


def shadow_scenarios(
    rt: Lambda, bundles: dict[str, Path], namespace: str, requests: list[list[str]], work: Path
) -> dict[str, Any]:
    """The live run answers `requests` copying every other one to an identical candidate, then
    every one to a degraded candidate; compare and promote read what they left."""
    from contract.storage import publish_bundle

    out: dict[str, Any] = {}
    with moto():
        s3 = client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for path in bundles.values():
            run = read_manifest(path).run_id
            publish_bundle(path, f"s3://{BUCKET}/models", run, update_latest=False, client=s3)
        cdk_json = work / "cdk.json"
        cdk_json.write_text((REPO / "cdk.json").read_text())
        live_env = {"MODEL_URI": str(bundles["live"]), "MONITORING_NAMESPACE": namespace}
        for name in ("identical", "degraded"):
            run = read_manifest(bundles[name]).run_id
            receiver_env = {
                "MODEL_URI": str(bundles[name]),
                "MONITORING_NAMESPACE": namespace,
                "MODEL_CACHE_DIR": str(work / f"{name}-cache"),
            }
            with rt.emulator(SHADOW_CMD, receiver_env) as receiver:
                env = {
                    **live_env,
                    "SHADOW_FUNCTION": "function",
                    "SHADOW_SAMPLE": "1",
                    "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{receiver.port}",
                }
                # The identical candidate gets every other request: the live latency with and
                # without a copy, side by side; the degraded one gets them all.
                result, _ = live_function(env, requests, work, alternate_shadow=name == "identical")
                if name == "identical":
                    out["extension"] = under_the_runtime(rt, receiver, env, requests[:3])
                    copied = statistics.median(result["latencies_copied_ms"])
                    plain = statistics.median(result["latencies_plain_ms"])
                    out["live_warm_p50_ms"] = {"copied": round(copied, 2), "not": round(plain, 2)}
                    out["live_p50_ratio"] = round(copied / plain, 3)
                comparisons = [ln for ln in json_lines(receiver.log()) if "_aws" in ln]
            put_lines(client("cloudwatch"), comparisons)
            code, report, said = release_cli("--cdk-json", str(cdk_json), "compare", run, "--json")
            if code != 0:
                raise RuntimeError(f"compare failed: {said}")
            promote, _, says = release_cli(
                "--cdk-json", str(cdk_json), "promote", run, "--bucket", BUCKET
            )
            out[name] = {
                "run": run,
                "copies": result["shadow"],
                "receiver_lines": len(comparisons),
                "report": json.loads(report),
                "promote_exit": promote,
                "promote_says": says[-1:],
            }
    return out


def under_the_runtime(
    rt: Lambda, receiver: Emulator, env: dict[str, str], requests: list[list[str]]
) -> dict[str, Any]:
    """The live function under the emulator, where the internal extension (not a worker thread)
    sends the copies: each invocation's copy reaches the receiver before the next invocation."""
    template = json.loads((REPO / "events" / "apigw-v2-predict.json").read_text())
    before = len(receiver.reports)
    statuses, received = [], []
    with rt.emulator("function.handler.handler", env) as live:
        for texts in requests:
            event = {**template, "body": json.dumps({"text": texts}), "isBase64Encoded": False}
            status, payload = live.invoke(event)
            statuses.append(payload.get("statusCode") if status == 200 else status)
            deadline = time.monotonic() + 10  # the receiver's REPORT line may trail its answer
            while len(receiver.reports) - before < len(statuses) and time.monotonic() < deadline:
                time.sleep(0.05)
            received.append(len(receiver.reports) - before)
        started = [ln for ln in json_lines(live.log()) if ln.get("message") == "shadowing"]
    return {
        "statuses": statuses,
        "received_after_each": received,
        "sent_by": started[0].get("sent_by") if started else None,
    }


def metrics_cost(namespace: str, cold_starts: int, warm: int, work: Path) -> dict[str, Any]:
    """Cold start and warm p50 of the live function with every new signal on (EMF aggregates,
    X-Ray spans to a UDP sink, a sampled trace) and off, interleaved, in fresh processes."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    host, port = sink.getsockname()
    on = {
        "MONITORING_NAMESPACE": namespace,
        "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
        "Sampled=1",
    }
    requests = [[median_review()]] * (1 + warm)
    figures: dict[str, dict[str, list[float]]] = {
        k: {"cold": [], "warm": []} for k in ("on", "off")
    }
    spans = 0
    for _ in range(cold_starts):
        for kind, env in (("off", {}), ("on", on)):
            result, _ = live_function({"MODEL_URI": str(work / "live"), **env}, requests, work)
            figures[kind]["cold"].append(result["cold_start_s"])
            figures[kind]["warm"] += result["latencies_ms"]
            with contextlib.suppress(BlockingIOError):
                while sink.recv(65536):
                    spans += 1
    sink.close()
    med = {k: {m: statistics.median(v[m]) for m in v} for k, v in figures.items()}
    return {
        "cold_start_s": {k: round(v["cold"], 3) for k, v in med.items()},
        "warm_p50_ms": {k: round(v["warm"], 2) for k, v in med.items()},
        "cold_start_ratio": round(med["on"]["cold"] / med["off"]["cold"], 3),
        "warm_p50_ratio": round(med["on"]["warm"] / med["off"]["warm"], 3),
        "xray_spans_received": spans,
        "cold_starts_each": cold_starts,
        "warm_requests_each": warm * cold_starts,
    }


def run_all(
    bundle: Path,
    work: Path,
    texts: dict[str, Any],
    sizes: dict[str, int],
    degrade: float,
    smoke: bool,
) -> dict[str, Any]:
    from infra.config import ServiceConfig
    from infra.context import MappingContext

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    namespace = ServiceConfig.from_context(MappingContext(context)).monitoring_namespace
    manifest = read_manifest(bundle)
    live = copy_bundle(bundle, work / "live", manifest.run_id)
    reference = ensure_reference(live, texts["reference"])
    identical = copy_bundle(live, work / "identical", f"{manifest.run_id}-identical")
    degraded = copy_bundle(live, work / "degraded", f"{manifest.run_id}-degraded")
    # Toward the label the live model predicts least, so the shift moves predictions over.
    counts = read_profile(live).counts["predicted"]  # type: ignore[union-attr]
    toward = min(range(len(counts)), key=counts.__getitem__)
    shift_bias(degraded, toward, degrade)
    log.info("bundles ready (%s); assembling the Lambda task root", reference)
    rt = Lambda(work)
    min_predictions = min(500, sizes["requests"] * sizes["batch"])
    drift = {
        name: drift_scenario(rt, live, namespace, texts[name], work, min_predictions)
        for name in ("stable", "shifted")
    }
    log.info("drift checked; shadowing")
    bundles = {"live": live, "identical": identical, "degraded": degraded}
    shadow = shadow_scenarios(rt, bundles, namespace, texts["stable"], work)
    log.info("shadowed; measuring the metrics' cost")
    cost = metrics_cost(namespace, sizes["cold_starts"], sizes["warm"], work)
    imports = None if smoke else import_costs(work)
    return {
        "bundle": {
            "run_id": manifest.run_id,
            "precision": manifest.precision,
            "max_length": manifest.encoder["max_length"],
            "reference": reference,
        },
        "degraded": {"bias_shift": degrade, "toward": manifest.labels[toward]},
        "namespace": namespace,
        "drift": drift,
        "shadow": shadow,
        "cost": cost,
        "import_costs": imports,
    }


def import_costs(work: Path, repeats: int = 5) -> dict[str, Any]:
    from bench.monitoring_imports import measure

    return measure(work, repeats)
