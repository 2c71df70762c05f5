"""Where a batch job's files live in the bucket, and how a job is named: one definition for the
handler and the stack (infra/ imports this module, so it stays dependency-free).

    batch/in/<name>.csv|.jsonl                    what a user drops (the trigger's prefix)
    batch/out/<job>/part-00000.jsonl ...          one scored line per input row, in row order
    batch/out/<job>/_summary.json                 counts, failures, time, model version
    batch/out/<job>/_chunks.json                  the plan: the Distributed Map's items
    batch/out/<job>/_stats/part-00000.json        one chunk's counts, read by the summary

A job is named after the input's key and content (its ETag), so a re-run of the same file writes
the same keys and overwrites them, and a changed file gets a job of its own.
"""

from __future__ import annotations

import re

INPUT_PREFIX = "batch/in/"
OUTPUT_PREFIX = "batch/out/"
# Extension -> format. Parquet needs pyarrow, which the serving image does not ship.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Rows one worker invocation scores: about a minute of work, far inside Lambda's 15, so a retry
# redoes little.
ROWS_PER_CHUNK = 2000
# The Map state's output lists one small result per chunk and must stay under Step Functions'
# 256 KiB payload limit; past this many chunks, neighbours are merged (bigger chunks instead).
MAX_CHUNKS = 4000

# What a labelled job publishes (EMF on its summary log line, function/batch/summary.py;
# infra/dashboard.py draws them, infra/monitoring.py alarms on BELOW): per run, the rows, their
# accuracy and what the held-out split predicted at their label mix; for the service, 1 when the
# verdict was `below`, 0 when `consistent`.
LABELLED_ROWS = "LabelledRows"
ACCURACY = "LabelledAccuracy"
EXPECTED = "LabelledExpectedAccuracy"
BELOW = "LabelledBelow"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def job_id(key: str, etag: str) -> str:
    """`batch/in/team/reviews.csv` with ETag "9b2c..." -> `team-reviews-9b2c...` (12 hex)."""
    name = key[len(INPUT_PREFIX) :] if key.startswith(INPUT_PREFIX) else key
    stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
    stem = _UNSAFE.sub("-", stem.replace("/", "-")).strip("-.") or "input"
    digest = re.sub(r"[^0-9a-f]", "", etag.lower())[:12] or "noetag"
    return f"{stem[:100]}-{digest}"


def job_prefix(job: str) -> str:
    return f"{OUTPUT_PREFIX}{job}/"


def part_key(job: str, index: int) -> str:
    return f"{job_prefix(job)}part-{index:05d}.jsonl"


def stats_key(job: str, index: int) -> str:
    return f"{job_prefix(job)}_stats/part-{index:05d}.json"


def chunks_key(job: str) -> str:
    return f"{job_prefix(job)}_chunks.json"


def summary_key(job: str) -> str:
    return f"{job_prefix(job)}_summary.json"
