"""The summarize step: every chunk's counts gathered into `_summary.json`, chunks that never
finished named with the rows they hold, and part files no longer in the plan removed (a re-run
with other chunk sizes would otherwise leave extra parts, and rows counted twice). Rows that
carried a true label are judged together against the served run's held-out split (`labelled`,
contract/audit.py)."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from contract.audit import LabelledCounts, Reference, judge
from contract.profile import RUN_DIMENSION
from contract.s3_errors import KEY_NOT_FOUND, error_code
from function.batch.layout import (
    ACCURACY,
    BELOW,
    EXPECTED,
    LABELLED_ROWS,
    job_prefix,
    part_key,
    stats_key,
    summary_key,
)
from function.emf import emf_fields

log = logging.getLogger(__name__)
# Row errors the summary lists in full; every one is in the part files.
MAX_FAILURES_LISTED = 1000
READERS = 16


def _read_json(client: Any, bucket: str, key: str) -> Any | None:
    from botocore.exceptions import ClientError

    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if error_code(exc) in KEY_NOT_FOUND:
            return None
        raise


def _remove_stale_parts(client: Any, bucket: str, job: str, wanted: set[str]) -> int:
    stale: list[str] = []
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=job_prefix(job) + "part-"
    )
    for page in pages:
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in wanted]
    for at in range(0, len(stale), 1000):  # DeleteObjects takes at most 1,000 keys
        objects = [{"Key": k} for k in stale[at : at + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    return len(stale)


def labelled(done: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The labelled rows of every finished chunk, judged; None when no row carried a label."""
    parts = [(s, LabelledCounts.from_dict(s["labelled"])) for s in done if s.get("labelled")]
    if not any(counts.n or counts.refused for _, counts in parts):
        return None
    counts = parts[0][1]
    for _, part in parts[1:]:
        counts.merge(part)
    versions = {s["model_version"] for s, part in parts if part.n}
    references = [s["held_out"] for s, _ in parts if s.get("held_out")]
    if len(versions) > 1:
        report = judge(counts, None)
        report["verdict"] = "not judged"
        report["reason"] = f"rows were scored by {len(versions)} models: {sorted(versions)}"
        return report
    return judge(counts, Reference.from_dict(references[0]) if references else None)


def audit_metrics(namespace: str, version: str, audit: dict[str, Any]) -> dict[str, Any]:
    """EMF members for a labelled job's summary line (function/emf.py): per run, and the
    verdict without a dimension, so that one alarm watches every run."""
    if not audit["rows"] or not version:
        return {}
    per_run: dict[str, float] = {LABELLED_ROWS: audit["rows"], ACCURACY: audit["accuracy"]}
    if audit.get("expected_accuracy") is not None:
        per_run[EXPECTED] = audit["expected_accuracy"]
    fields = emf_fields(
        namespace, {RUN_DIMENSION: version}, per_run, {ACCURACY: "None", EXPECTED: "None"}
    )
    if audit["verdict"] in ("below", "consistent"):
        verdict = emf_fields(namespace, {}, {BELOW: int(audit["verdict"] == "below")})
        fields["_aws"]["CloudWatchMetrics"] += verdict["_aws"]["CloudWatchMetrics"]
        fields[BELOW] = verdict[BELOW]
    return fields


def summarize_job(
    client: Any, plan: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    """Writes the job's summary; returns its headline (status, counts, where the summary is).
    With `namespace` (MONITORING_NAMESPACE), a labelled job's log line carries its metrics."""
    bucket, job, token = plan["bucket"], plan["job"], plan["token"]
    items = _read_json(client, bucket, plan["items_key"]) or []
    with ThreadPoolExecutor(READERS) as pool:
        stats = list(
            pool.map(lambda i: _read_json(client, bucket, stats_key(job, i["index"])), items)
        )
    done = [s for s in stats if s is not None and s.get("token") == token]
    missing = [
        {"index": i["index"], "first_row": i["first_row"], "rows": i["rows"]}
        for i, s in zip(items, stats, strict=True)
        if s is None or s.get("token") != token
    ]
    failures = sorted((e for s in done for e in s["errors"]), key=lambda e: e["row"])
    removed = _remove_stale_parts(client, bucket, job, {part_key(job, i["index"]) for i in items})
    scored = sum(s["scored"] for s in done)
    busy = sum(s["seconds"] for s in done)
    finished = time.time()
    summary = {
        "job": job,
        "input": f"s3://{bucket}/{plan['key']}",
        "input_etag": plan["etag"],
        "format": plan["format"],
        "status": "succeeded" if not missing else "incomplete",
        "model_versions": sorted({s["model_version"] for s in done}),
        "rows": plan["rows"],
        "scored": scored,
        "failed_rows": sum(s["failed"] for s in done),
        "unscored_rows": sum(m["rows"] for m in missing),
        "failures": failures[:MAX_FAILURES_LISTED],
        "failures_listed": min(len(failures), MAX_FAILURES_LISTED),
        "chunks": len(items),
        "failed_chunks": missing,
        "parts": [part_key(job, s["index"]) for s in sorted(done, key=lambda s: s["index"])],
        "stale_parts_removed": removed,
        "started_at": plan["started_at"],
        "finished_at": finished,
        "seconds": round(finished - plan["started_at"], 3),
        "function_seconds": round(busy, 3),
        "rows_per_function_second": round(scored / busy, 2) if busy else None,
    }
    audit = labelled(done)
    if audit is not None:
        summary["labelled"] = audit
    client.put_object(
        Bucket=bucket,
        Key=summary_key(job),
        Body=json.dumps(summary, indent=1).encode(),
        ContentType="application/json",
    )
    headline = {k: summary[k] for k in ("job", "status", "rows", "scored")}
    if audit is not None:
        headline |= {
            "labelled_rows": audit["rows"],
            "accuracy": audit["accuracy"],
            "verdict": audit["verdict"],
        }
        if namespace and len(summary["model_versions"]) == 1:
            headline |= audit_metrics(namespace, summary["model_versions"][0], audit)
    log.info("job summarized", extra=headline)
    return {
        "job": job,
        "status": summary["status"],
        "rows": summary["rows"],
        "scored": scored,
        "failed_rows": summary["failed_rows"],
        "failed_chunks": len(missing),
        "summary": f"s3://{bucket}/{summary_key(job)}",
        **({"verdict": audit["verdict"], "accuracy": audit["accuracy"]} if audit else {}),
    }
