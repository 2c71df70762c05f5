"""Rows of a review file, with the byte offset where each ends: the planner cuts the file into
chunks at row boundaries, and each worker parses only its byte range with the same code, so both
agree on where every row starts (a CSV field may hold newlines; a line count would not do).

CSV: a header with a `text` column (and optionally `id`, and `label`: the row's true label, which
makes the job measure accuracy, contract/audit.py). JSON Lines: one object per line with `text`
(and optionally `id` and `label`). Blank lines are not rows. A row that cannot be read becomes a
`Record` with an `error`, never an exception: one bad row must not stop a job.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from contract.audit import LABEL
from function.batch.errors import BatchError
from function.batch.layout import FORMATS

# csv refuses fields over 128 KiB by default, and a refused field leaves the reader mid-record;
# a long review is better reported by the text-length check, row by row.
csv.field_size_limit(64 * 1024 * 1024)
TEXT, ID = "text", "id"


class FormatError(BatchError):
    """A file the job cannot read at all (wrong format, no text column); names the fix."""


@dataclass(frozen=True)
class Record:
    row: int  # 0-based index among the file's rows (the CSV header is not a row)
    end: int  # byte offset just past the row, from the start of what was parsed
    text: str | None = None
    id: str | int | None = None
    error: str | None = None
    label: object = None  # the raw `label` value, read by contract.audit.parse_label


def file_format(key: str) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    if suffix == ".parquet":
        raise FormatError(
            f"{key}: Parquet is not supported: the serving image does not ship pyarrow. Convert "
            "it to JSON Lines (pandas: df[['id','text']].to_json(path, orient='records', "
            "lines=True)) and drop the .jsonl under the input prefix"
        )
    raise FormatError(
        f"{key}: unknown format {suffix or '(no extension)'!r}; name the file .csv (a header "
        'with a text column) or .jsonl (one {"text": ...} object per line)'
    )


def split_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Raw lines, each with its line ending, from blocks of bytes (an S3 body's chunks)."""
    pending = b""
    for block in blocks:
        pending += block
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


class _Lines:
    """Decoded lines for csv.reader, counting the bytes consumed and noting invalid UTF-8."""

    def __init__(self, raw: Iterator[bytes]) -> None:
        self.raw = raw
        self.offset = 0
        self.bad_utf8 = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self.raw)
        self.offset += len(line)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_utf8 = True
            return line.decode("utf-8", "replace")


def read_csv_header(raw: Iterator[bytes]) -> tuple[list[str], int]:
    """The header's column names and the byte offset where the first row starts."""
    lines = _Lines(raw)
    try:
        header = next(csv.reader(lines))
    except StopIteration:
        raise FormatError("the CSV file is empty: it needs a header with a text column") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    if TEXT not in header:
        raise FormatError(
            f"the CSV header has no {TEXT!r} column (it has {', '.join(header[:10])}): name "
            "the review column text (and, optionally, an id column)"
        )
    return header, lines.offset


def records(
    fmt: str, raw: Iterator[bytes], *, header: list[str] | None = None, first_row: int = 0
) -> Iterator[Record]:
    """Every row of `raw` (a whole file after its CSV header, or one chunk's byte range)."""
    if fmt == "csv":
        if header is None:
            raise ValueError("CSV rows need the header the planner read")
        return _csv_records(_Lines(raw), header, first_row)
    if fmt == "jsonl":
        return _jsonl_records(_Lines(raw), first_row)
    raise FormatError(f"unknown format {fmt!r}: expected one of {sorted(set(FORMATS.values()))}")


def _csv_records(lines: _Lines, header: list[str], row: int) -> Iterator[Record]:
    reader = csv.reader(lines)
    text_at, id_at = header.index(TEXT), header.index(ID) if ID in header else None
    label_at = header.index(LABEL) if LABEL in header else None
    while True:
        lines.bad_utf8 = False
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(row, lines.offset, error=f"not valid CSV: {exc}")
            row += 1
            continue
        if not fields:  # a blank line
            continue
        row_id = fields[id_at] if id_at is not None and id_at < len(fields) else None
        if lines.bad_utf8:
            error: str | None = "not valid UTF-8"
        elif len(fields) != len(header):
            error = f"has {len(fields)} fields; the header has {len(header)} (quote commas)"
        else:
            error = None
        text = None if error else fields[text_at]
        label = None if error or label_at is None else fields[label_at]
        yield Record(row, lines.offset, text=text, id=row_id, error=error, label=label)
        row += 1


def _jsonl_records(lines: _Lines, row: int) -> Iterator[Record]:
    for line in lines:
        if not line.strip():
            continue
        yield _jsonl_record(line, row, lines.offset, lines.bad_utf8)
        lines.bad_utf8 = False
        row += 1


def _jsonl_record(line: str, row: int, end: int, bad_utf8: bool) -> Record:
    if bad_utf8:
        return Record(row, end, error="not valid UTF-8")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return Record(row, end, error=f"not valid JSON: {getattr(exc, 'msg', exc)}")
    if not isinstance(obj, dict):
        return Record(row, end, error=f'not a JSON object with a "{TEXT}" field')
    row_id = obj.get(ID)
    if not isinstance(row_id, str | int) or isinstance(row_id, bool):
        row_id = None
    text = obj.get(TEXT)
    if not isinstance(text, str):
        return Record(row, end, id=row_id, error=f'"{TEXT}" is missing or not a string')
    return Record(row, end, text=text, id=row_id, label=obj.get(LABEL))
