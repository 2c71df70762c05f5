"""make bench-neighbours, smoke: the tiny bundle's held-out reviews, short texts and explained
reviews, each alone, then in requests both ways (ours: no run holds two texts; packed)."""

from __future__ import annotations

from pathlib import Path

from bench.neighbours import REQUEST, SMOKE, requests, short_texts
from tests.bench.conftest import assert_provenance, run_bench


def test_neighbours_smoke_measures_both_sides(tiny_bundle: Path, output: Path) -> None:
    result, log = run_bench("neighbours", output, "--model_uri", str(tiny_bundle))
    for name in ("reviews", "short"):
        r = result[name]
        assert r["texts"] == SMOKE["reviews"] and r["request_size"] == REQUEST[name]
        # Ours: each text's runs hold that text alone, so the same ids run in runs of the same
        # shape as alone: bit-identical on any CPU kind. Not a figure; the packed side is one
        # (how far neighbours move a score depends on the model and the kernel).
        assert r["ours"]["differs_from_alone"] == 0 and r["ours"]["score_moved_max"] == 0.0
        assert r["ours"]["texts_per_s"] > 0 and r["packed"]["texts_per_s"] > 0
        assert 0 <= r["packed"]["differs_from_alone"] <= r["texts"]
    assert result["short"]["tokens_per_text"] < result["reviews"]["tokens_per_text"]
    e = result["explained"]
    assert e["reviews"] == SMOKE["explained"]
    assert e["ours"]["differs_from_alone"] == 0 and e["ours"]["top5_changed"] == 0
    assert e["ours"]["ms_per_request"] > 0 and e["packed"]["ms_per_request"] > 0
    assert_provenance(result)
    assert "explained" in log


def test_requests_cover_every_text_once_and_shorts_are_short() -> None:
    batches = requests(10, 4, seed=1)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    long = "word " * 100
    assert all(5 <= len(s.split()) <= 40 for s in short_texts([long] * 20, seed=0))
    assert short_texts(["a<br />b c d e"], 0) == ["a b c d e"]  # 5 words: all kept
