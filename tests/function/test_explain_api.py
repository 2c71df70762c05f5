"""POST /predict with `explain`, over HTTP against uvicorn on the tiny bundle (a 48-token
window, so a few sentences already overflow it): what the evidence says, that the plain answer
is unchanged by it, its limits, and that the request log holds none of the words."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from function.config import Settings
from function.logs import JsonFormatter
from function.main import create_app
from tests.function.conftest import serve

SHORT = "A warm, funny and clever film; the cast is superb but the ending drags a little."
LONG = " ".join(
    [
        "The first hour is a delight: sharp dialogue, gorgeous photography and a lead who",
        "carries every scene with ease. Then it falls apart.",
        "The second half is a dull, lazy mess, badly edited and far too long, and the",
        "ending insults everyone who stayed. I wanted to love it and I could not.",
    ]
)


def predict(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/predict", json=body)


def code_points(text: str, start: int, end: int) -> str:
    return text[start:end]  # Python slices str by code point, the unit of the offsets


def test_plain_predictions_carry_no_evidence(http: httpx.Client) -> None:
    r = predict(http, text=[SHORT])
    assert r.status_code == 200, r.text
    assert "evidence" not in r.json()["predictions"][0]
    assert "x-explain-time-ms" not in r.headers


def test_evidence_points_into_the_text_as_sent(http: httpx.Client) -> None:
    texts = [SHORT, "Ünïcode 🎬 — a masterpiece, truly 映画!", LONG]
    plain = predict(http, text=texts).json()["predictions"]
    r = predict(http, text=texts, explain=True, explain_top_k=5)
    assert r.status_code == 200, r.text
    assert (
        float(r.headers["x-explain-time-ms"]) > 0 and "explain;dur=" in r.headers["server-timing"]
    )
    for text, before, after in zip(texts, plain, r.json()["predictions"], strict=True):
        # Explaining does not change the answer: same windows, same batches, same scores.
        assert {k: v for k, v in after.items() if k != "evidence"} == before
        evidence = after["evidence"]
        assert evidence["method"] and 1 <= len(evidence["spans"]) <= 5
        weights = [abs(s["weight"]) for s in evidence["spans"]]
        assert weights == sorted(weights, reverse=True)
        for span in evidence["spans"]:
            assert span["text"] == code_points(text, span["start"], span["end"]) != ""
            assert any(
                r["start"] <= span["start"] and span["end"] <= r["end"] for r in evidence["read"]
            )
        assert len(evidence["windows"]) == after["windows"] == 1
        assert evidence["windows"][0]["label"] == after["label"]


def test_a_long_text_says_what_was_read(http: httpx.Client) -> None:
    (p,) = predict(http, text=LONG, strategy="head+tail", explain=True).json()["predictions"]
    read = p["evidence"]["read"]
    assert p["truncated"] and len(read) == 2  # the head and the tail, not the middle
    assert read[0]["start"] == 0 and read[1]["end"] == len(LONG)
    assert read[0]["end"] < read[1]["start"]


def test_markup_is_read_as_the_text_it_stands_for(http: httpx.Client) -> None:
    """The bundle's tokenizer reads web markup as text (contract/markup.py): a review as HTML
    and as plain text are the same ids, so the same answer and the same evidence, bit for bit
    on any CPU kind (each is its own request, so its own batch), and no tag is ever evidence."""
    marked = "A warm, funny film.<br /><br />The cast is <i>superb</i>, the ending drags."
    plain = "A warm, funny film.\n\nThe cast is superb, the ending drags."
    assert http.get("/model").json()["encoder"]["markup"] == "text"
    answers = []
    for text in (marked, plain):
        r = predict(http, text=text, explain=True, explain_top_k=32)
        assert r.status_code == 200, r.text
        answers.append(r.json()["predictions"][0])
    a, b = answers
    assert (a["scores"], a["num_tokens"]) == (b["scores"], b["num_tokens"])
    assert [s["weight"] for s in a["evidence"]["spans"]] == [
        s["weight"] for s in b["evidence"]["spans"]
    ]
    # A span is a word or a phrase of neighbouring words: it may run across a line break, but
    # it starts and ends on a word, never inside a tag.
    tags = {i for m in re.finditer(r"<[^<>]*>", marked) for i in range(m.start(), m.end())}
    for span in a["evidence"]["spans"]:
        assert span["text"] == marked[span["start"] : span["end"]]
        assert span["start"] not in tags and span["end"] - 1 not in tags, span


def test_evidence_covers_whole_entities(http: httpx.Client) -> None:
    """A review with character entities (`&quot;`, `&#39;`, `&amp;`) is read as its plain copy;
    its evidence, read and windows point at whole entities, never at a lone `;` (`tokenizers`
    maps an entity's token to its last character), and they are the plain copy's words."""
    marked = "&quot;Superb&quot; cast, AT&amp;T-sized budget; don&#39;t miss it &lt;3"
    plain = '"Superb" cast, AT&T-sized budget; don\'t miss it <3'
    a, b = (
        predict(http, text=text, explain=True, explain_top_k=32).json()["predictions"][0]
        for text in (marked, plain)
    )
    assert (a["scores"], a["num_tokens"]) == (b["scores"], b["num_tokens"])
    spans = [(s["text"], s["weight"]) for s in a["evidence"]["spans"]]
    assert [(html.unescape(t), w) for t, w in spans] == [
        (s["text"], s["weight"]) for s in b["evidence"]["spans"]
    ]
    assert all(t != ";" for t, _ in spans)
    assert a["evidence"]["read"] == [{"start": 0, "end": len(marked)}]
    assert a["evidence"]["windows"][0]["start"] == 0


@pytest.mark.parametrize("text", ["<br />", "&nbsp;", "<p></p>&#160;"])
def test_a_text_read_as_no_words_is_explained_as_none(http: httpx.Client, text: str) -> None:
    """Markup alone reads as no token: its answer is the plain one and its evidence empty, not a
    500 (a request whose texts held no passage to read once raised an IndexError)."""
    plain = predict(http, text=text)
    alone = predict(http, text=text, explain=True)
    assert plain.status_code == alone.status_code == 200, alone.text
    (p,) = alone.json()["predictions"]
    assert p["num_tokens"] == 0 and p["evidence"]["spans"] == p["evidence"]["read"] == []
    assert {k: v for k, v in p.items() if k != "evidence"} == plain.json()["predictions"][0]
    with_another = predict(http, text=[text, SHORT], explain=True).json()["predictions"]
    assert with_another[0] == p and with_another[1]["evidence"]["spans"]


def test_a_texts_answer_does_not_depend_on_the_rest_of_its_request(http: httpx.Client) -> None:
    """The int8 graph quantizes each run's activations with the run's own range, so texts that
    shared a run moved each other's scores and evidence (bench/neighbours.py measures it). No
    run holds two texts now: each text's answer in a request of several is its answer alone,
    bit for bit on any CPU kind (the same ids in runs of the same shape, whatever the kernel's
    rounding). Short texts are the ones that used to share runs, with each other and with the
    words of another text's evidence."""
    texts = [SHORT, "Dull.", LONG, "What a joyful film!", "Not for me, sadly."]
    body = {"explain": True, "explain_top_k": 32, "min_confidence": 0.0}
    r = predict(http, text=texts, **body)
    assert r.status_code == 200, r.text
    for text, together in zip(texts, r.json()["predictions"], strict=True):
        (alone,) = predict(http, text=text, **body).json()["predictions"]
        assert together["scores"] == alone["scores"], text
        assert together["evidence"] == alone["evidence"], text


def test_chunks_give_each_window_its_verdict(http: httpx.Client) -> None:
    body = {"text": LONG, "strategy": "chunks", "explain": True, "min_confidence": 0.0}
    (p,) = predict(http, **body).json()["predictions"]
    windows = p["evidence"]["windows"]
    assert p["windows"] == len(windows) > 1
    assert windows[0]["start"] == 0 and windows[-1]["end"] == len(LONG)
    assert all(w["start"] < w["end"] and 0 <= w["score"] <= 1 for w in windows)
    assert p["evidence"]["read"] == [{"start": 0, "end": len(LONG)}]  # chunks read it all
    # Every window is confident at min_confidence 0: mixed exactly when their labels differ.
    assert p["evidence"]["mixed"] == (len({w["label"] for w in windows}) > 1)
    body["min_confidence"] = 1.0  # no window is that sure: never mixed
    (p,) = predict(http, **body).json()["predictions"]
    assert p["evidence"]["mixed"] is False


def test_explain_top_k_is_bounded_like_the_other_limits(http: httpx.Client) -> None:
    r = predict(http, text=SHORT, explain=True, explain_top_k=33)  # MAX_EXPLAIN_TOP_K: 32
    assert r.status_code == 413 and r.json()["error"] == "explain_top_k is 33; the limit is 32"
    r = predict(http, text=SHORT, explain=True, explain_top_k=0)
    assert r.status_code == 422
    assert predict(http, text=SHORT, explain=True, explain_top_k=2.0).status_code == 200
    # The document bounds the field whether or not explain is on, and so does the code.
    assert predict(http, text=SHORT, explain=False, explain_top_k=33).status_code == 413


def test_explained_windows_count_against_max_windows(tiny_bundle: Any, tmp_path: Any) -> None:
    settings = Settings(model_uri=str(tiny_bundle), model_cache_dir=tmp_path, max_windows=3)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert predict(http, text=[SHORT, SHORT]).status_code == 200
        r = predict(http, text=[SHORT, SHORT], explain=True)
        assert r.status_code == 413 and "explaining these texts takes" in r.json()["error"]


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every line the function's and the contract's loggers write, as JSON text."""
    lines: list[str] = []
    formatter = JsonFormatter()
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(formatter.format(record))  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("function", "function.request", "contract")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_the_request_log_holds_no_text_and_no_evidence(http: httpx.Client) -> None:
    text = "Zyzzogeton marvellous, Quixotically dreadful."
    with captured_logs() as lines:
        r = predict(http, text=text, explain=True)
        assert r.status_code == 200
        words = [s["text"] for s in r.json()["predictions"][0]["evidence"]["spans"]]
        http.get("/health")  # its line is written after the predict line
    logged = "\n".join(lines).lower()
    assert any(json.loads(line).get("route") == "/predict" for line in lines)
    for word in [*words, "zyzzogeton", "quixotically", "marvellous", "dreadful"]:
        assert word.lower() not in logged, word


@pytest.mark.parametrize("explain", [True, False])
def test_hf_routes_keep_their_shape(http: httpx.Client, explain: bool) -> None:
    # The Hugging Face shape has no explain: the field is ignored there, never answered.
    body = {"inputs": [SHORT], "parameters": {"top_k": 1}, "explain": explain}
    r = http.post("/hf", json=body)
    assert r.status_code == 200
    assert set(r.json()[0][0]) == {"label", "score"}
