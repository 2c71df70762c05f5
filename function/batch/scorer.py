"""The score step: one chunk (a byte range of the input) read, checked row by row, predicted in
batches by the API's own Predictor, and written as one part file plus its counts. Rows that carry
a true label are counted against their predictions (contract/audit.py), with the held-out
split's counts beside them, so the summary can say whether the model is still right.

The part's key depends only on the job and the chunk's index, so a retried chunk or a re-run of
the job overwrites the same object: output is never duplicated.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from contract.audit import LabelledCounts, parse_label, reference
from contract.profile import read_profile
from function.batch.errors import BatchError
from function.batch.formats import Record, records, split_lines
from function.batch.layout import part_key, stats_key
from function.loader import Predictor

log = logging.getLogger(__name__)
# Texts per Predictor.run call. The predictor batches by padded tokens inside a call; this only
# bounds the memory of one call's readings and what a failing call makes us retry row by row.
PREDICT_BATCH = 64
# Row errors a chunk's stats keep in full (the part file has every one).
MAX_ERRORS_KEPT = 100

Scored = tuple[str, float, dict[str, float]] | str  # (label, score, scores) or an error


def check(record: Record, max_chars: int) -> str | None:
    """The API's per-text limits, as a row error instead of a 413."""
    if record.error:
        return record.error
    assert record.text is not None
    if not record.text.strip():
        return "text is empty"
    if len(record.text) > max_chars:
        return f"text has {len(record.text)} characters; the limit is {max_chars} (MAX_CHARS)"
    return None


def predict(predictor: Predictor, texts: Sequence[str]) -> list[Scored]:
    """One result per text; a batch that fails is retried text by text, so only its culprit
    fails (its error names the exception type, never the text)."""
    try:
        out = predictor.run(texts)
    except Exception as exc:
        if len(texts) == 1:
            log.warning("prediction failed", extra={"error_type": type(exc).__name__})
            return [f"prediction failed: {type(exc).__name__}"]
        return [result for text in texts for result in predict(predictor, [text])]
    labels = predictor.labels
    results: list[Scored] = []
    for probs in out.probs:
        best = int(probs.argmax())
        scores = {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}
        results.append((labels[best], scores[labels[best]], scores))
    return results


@lru_cache(maxsize=4)
def held_out(predictor: Predictor) -> dict[str, Any] | None:
    """The served run's held-out counts (its reference profile, or its manifest's metrics),
    read once per model: what the summary judges the labelled rows against."""
    profile = read_profile(predictor.bundle_dir)
    m = predictor.manifest
    ref = reference(m.labels, profile.extra if profile else None, m.metrics, m.data)
    return ref.to_dict() if ref else None


def _line(
    record: Record,
    result: Scored | None,
    error: str | None,
    version: str,
    labels: list[str],
    counts: LabelledCounts,
) -> bytes:
    out: dict[str, Any] = {"row": record.row}
    if record.id is not None:
        out["id"] = record.id
    if error is not None or isinstance(result, str):
        out["error"] = error or result
    else:
        assert result is not None
        out["label"], out["score"], out["scores"] = result
        true, refused = parse_label(record.label, labels)
        if refused:
            out["label_error"] = refused
            counts.refuse(record.row, refused)
        elif true is not None:
            out["true_label"] = labels[true]
            out["correct"] = out["label"] == labels[true]
            counts.add(true, labels.index(out["label"]), out["score"])
    out["model_version"] = version
    return json.dumps(out, ensure_ascii=False).encode() + b"\n"


def score_chunk(client: Any, chunk: dict[str, Any], predictor: Predictor, max_chars: int) -> dict:
    """Scores one Distributed Map item (see planner.plan_job); returns its counts."""
    start = time.perf_counter()
    bucket, job, index = chunk["bucket"], chunk["job"], chunk["index"]
    data = b""
    if chunk["end"] > chunk["start"]:
        data = client.get_object(
            Bucket=bucket,
            Key=chunk["key"],
            Range=f"bytes={chunk['start']}-{chunk['end'] - 1}",
            IfMatch=chunk["etag"],  # the version the plan cut, not a file replaced since
        )["Body"].read()
    rows = list(
        records(
            chunk["format"],
            split_lines([data]),
            header=chunk.get("header"),
            first_row=chunk["first_row"],
        )
    )
    if len(rows) != chunk["rows"]:
        raise BatchError(
            f"chunk {index} of {job} holds {len(rows)} rows where the plan counted "
            f"{chunk['rows']}: the input changed since it was planned; start the job again"
        )
    errors = [check(r, max_chars) for r in rows]
    # (row, text) of the rows that passed `check`: those all have a text.
    valid = [
        (r.row, r.text)
        for r, e in zip(rows, errors, strict=True)
        if e is None and r.text is not None
    ]
    results: dict[int, Scored] = {}
    for at in range(0, len(valid), PREDICT_BATCH):
        batch = valid[at : at + PREDICT_BATCH]
        scored = predict(predictor, [text for _, text in batch])
        for (row, _), result in zip(batch, scored, strict=True):
            results[row] = result
    version, labels = predictor.version, list(predictor.labels)
    counts = LabelledCounts.empty(labels)
    lines = [
        _line(r, results.get(r.row), e, version, labels, counts)
        for r, e in zip(rows, errors, strict=True)
    ]
    failed = [
        {"row": r.row, **({"id": r.id} if r.id is not None else {}), "error": e or results[r.row]}
        for r, e in zip(rows, errors, strict=True)
        if e is not None or isinstance(results.get(r.row), str)
    ]
    client.put_object(
        Bucket=bucket,
        Key=part_key(job, index),
        Body=b"".join(lines),
        ContentType="application/x-ndjson",
    )
    stats = {
        "index": index,
        "token": chunk["token"],
        "rows": len(rows),
        "scored": len(rows) - len(failed),
        "failed": len(failed),
        "errors": failed[:MAX_ERRORS_KEPT],
        "seconds": round(time.perf_counter() - start, 3),
        "model_version": version,
        "part": part_key(job, index),
        "labelled": counts.to_dict(),
        "held_out": held_out(predictor) if counts.n else None,
    }
    client.put_object(
        Bucket=bucket,
        Key=stats_key(job, index),
        Body=json.dumps(stats).encode(),
        ContentType="application/json",
    )
    log.info(
        "chunk scored",
        extra={k: stats[k] for k in ("index", "rows", "scored", "failed", "seconds")}
        | {"job": job},
    )
    return {"index": index, "scored": stats["scored"], "failed": stats["failed"]}
