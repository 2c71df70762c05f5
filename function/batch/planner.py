"""The plan step: reads the input once, counts its rows and cuts it into chunks at row
boundaries (byte ranges), and writes them as the Distributed Map's items."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

from contract.s3_errors import KEY_NOT_FOUND, error_code
from function.batch.errors import BatchError
from function.batch.formats import file_format, read_csv_header, records, split_lines
from function.batch.layout import INPUT_PREFIX, MAX_CHUNKS, ROWS_PER_CHUNK, chunks_key, job_id

log = logging.getLogger(__name__)
READ_BLOCK = 1024 * 1024


def locate(event: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) from an EventBridge "Object Created" event or {"bucket": .., "key": ..}."""
    detail = event.get("detail")
    if isinstance(detail, dict):
        bucket = (detail.get("bucket") or {}).get("name")
        key = (detail.get("object") or {}).get("key")
    else:
        bucket, key = event.get("bucket"), event.get("key")
    if not (isinstance(bucket, str) and isinstance(key, str) and bucket and key):
        raise BatchError(
            'the job input names no file: start it with {"bucket": "<bucket>", "key": '
            f'"{INPUT_PREFIX}<file>.csv"}} or drop the file under s3://<bucket>/{INPUT_PREFIX}'
        )
    if not key.startswith(INPUT_PREFIX):
        raise BatchError(
            f"{key!r} is not under {INPUT_PREFIX}: copy the file there and start again"
        )
    return bucket, key


def _head(client: Any, bucket: str, key: str) -> tuple[str, dict[str, Any]]:
    """S3 event keys arrive URL-encoded (a space as '+'); the object is looked up either way."""
    from botocore.exceptions import ClientError

    for candidate in dict.fromkeys((key, unquote_plus(key))):
        try:
            return candidate, client.head_object(Bucket=bucket, Key=candidate)
        except ClientError as exc:
            if error_code(exc) not in KEY_NOT_FOUND:
                raise
    raise BatchError(f"s3://{bucket}/{key} does not exist: upload it, then start the job again")


def cut(row_ends: list[int], start: int, rows_per_chunk: int) -> list[tuple[int, int, int, int]]:
    """(start, end, first_row, rows) per chunk; at most MAX_CHUNKS, by merging neighbours."""
    per_chunk = max(rows_per_chunk, -(-len(row_ends) // MAX_CHUNKS))
    chunks = []
    for first in range(0, len(row_ends), per_chunk):
        last = min(first + per_chunk, len(row_ends)) - 1
        chunks.append((start, row_ends[last], first, last - first + 1))
        start = row_ends[last]
    return chunks


def plan_job(client: Any, event: dict[str, Any], rows_per_chunk: int = ROWS_PER_CHUNK) -> dict:
    """Writes `_chunks.json` (one item per chunk) and returns the job's state for later steps."""
    if rows_per_chunk < 1:
        raise BatchError(f"rows_per_chunk is {rows_per_chunk}: expected 1 or more")
    started = time.time()
    bucket, key = locate(event)
    fmt = file_format(key)
    key, head = _head(client, bucket, key)
    etag = head["ETag"]
    # IfMatch: the chunks are byte ranges of this version; a file replaced mid-job fails loudly.
    body = client.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    raw = split_lines(body.iter_chunks(READ_BLOCK))
    header, data_start = read_csv_header(raw) if fmt == "csv" else (None, 0)
    row_ends = [data_start + r.end for r in records(fmt, raw, header=header)]
    job = job_id(key, etag)
    token = uuid.uuid4().hex  # which run wrote a chunk's stats: a re-run never counts old ones
    items = [
        {
            "bucket": bucket,
            "key": key,
            "etag": etag,
            "format": fmt,
            "header": header,
            "job": job,
            "token": token,
            "index": i,
            "start": s,
            "end": e,
            "first_row": f,
            "rows": n,
        }
        for i, (s, e, f, n) in enumerate(cut(row_ends, data_start, rows_per_chunk))
    ]
    client.put_object(
        Bucket=bucket,
        Key=chunks_key(job),
        Body=json.dumps(items).encode(),
        ContentType="application/json",
    )
    log.info(
        "job planned",
        extra={
            "job": job,
            "rows": len(row_ends),
            "chunks": len(items),
            "bytes": head["ContentLength"],
        },
    )
    return {
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "format": fmt,
        "job": job,
        "token": token,
        "rows": len(row_ends),
        "chunks": len(items),
        "items_key": chunks_key(job),
        "started_at": started,
    }
