"""What a shadowed candidate did on live traffic, read back from CloudWatch: the sums the shadow
receiver wrote (function/shadow/comparison.py) over the last `hours`, as the report
`python -m infra.release compare` prints, and the verdict `promote` acts on.

The verdict needs MIN_COMPARED predictions: below that a candidate is "not judged" (promote
warns and goes ahead, as for a run never shadowed: a first release has nothing to compare with).
At or above it, an agreement under shadowMinAgreement refuses the promotion unless --force.
Agreement measures change, not quality: a deliberately better model may disagree more; read
the flips by length and the confidence shift, then decide (and --force).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from function.metric_window import window_sums
from function.shadow.comparison import CANDIDATE_DIMENSION, LIVE_MS, metric_names, report
from infra.config import ServiceConfig

MIN_COMPARED = 100
COMPARE_HOURS = 24 * 7


def read_comparison(config: ServiceConfig, run_id: str, hours: int = COMPARE_HOURS,
                    client: Any = None, now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The comparison report of `run_id` over the last `hours`."""
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    queries = [(name, "Sum") for name in metric_names()] + [(LIVE_MS, "SampleCount")]
    # The window's end is floored to the minute: one minute on, so the current one is in it.
    end = (now or datetime.now(UTC)) + timedelta(minutes=1)
    sums = window_sums(client, config.monitoring_namespace, {CANDIDATE_DIMENSION: run_id},
                       queries, end, hours * 60)  # fmt: skip
    requests = int(sums[(LIVE_MS, "SampleCount")])
    out = report({name: value for (name, stat), value in sums.items() if stat == "Sum"}, requests)
    return {"candidate": run_id, "hours": hours, "namespace": config.monitoring_namespace, **out}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str


def verdict(config: ServiceConfig, comparison: dict[str, Any]) -> Verdict:
    run, compared = comparison["candidate"], comparison["compared"]
    if compared < MIN_COMPARED:
        return Verdict(True, f"run {run} has {compared} shadowed predictions in the last "
                       f"{comparison['hours']} h (a verdict needs {MIN_COMPARED}): not judged; "
                       f"`python -m infra.release shadow {run}` compares it on live traffic first")  # fmt: skip
    agreement, least = comparison["agreement"], config.shadow_min_agreement
    if agreement < least:
        return Verdict(False, f"run {run} agreed with the live answers on {agreement:.1%} of "
                       f"{compared} shadowed predictions, below shadowMinAgreement {least:.0%}. "
                       f"Read `python -m infra.release compare {run}`; --force promotes it anyway")  # fmt: skip
    return Verdict(True, f"run {run} agreed with the live answers on {agreement:.1%} of "
                   f"{compared} shadowed predictions (shadowMinAgreement {least:.0%})")  # fmt: skip


def describe(comparison: dict[str, Any]) -> list[str]:
    """The report as the lines `compare` prints."""
    c = comparison
    if not c["compared"]:
        return [f"run {c['candidate']}: no shadowed predictions in the last {c['hours']} h "
                f"({c['namespace']})"]  # fmt: skip
    lines = [
        f"run {c['candidate']}, last {c['hours']} h: {c['requests']} copied requests, "
        f"{c['compared']} predictions compared",
        f"agreement with the live answers: {c['agreement']:.2%}",
        f"confidence shift (candidate - live top score, mean): {c['confidence_shift']:+.4f}",
        f"model time per copied request (mean): live {c['live_ms_mean']:.1f} ms, candidate "
        f"{c['candidate_ms_mean']:.1f} ms",
        "flips by text length (tokens):",
    ]
    for bucket, row in c["flips_by_tokens"].items():
        lines.append(
            f"  {bucket:>10}: {row['flips']} of {row['compared']} ({row['flip_rate']:.1%})"
        )
    return lines
