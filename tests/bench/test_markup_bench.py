"""make bench-markup, smoke: the tiny bundle's held-out reviews with markup, as sent and as their
plain-text, <br> and phone-typed copies, on both sides (the tiny bundle stands for both), the tokenizer
timed with and without the rules, and the evidence of a plain copy against its HTML-escaped copy."""

from __future__ import annotations

from pathlib import Path

from bench.markup import SMOKE_REVIEWS, escaped_copy, html5_copy, phone_copy, plain_copy
from tests.bench.conftest import assert_provenance, run_bench


def test_markup_smoke_measures_both_sides(tiny_bundle: Path, output: Path) -> None:
    result, log = run_bench(
        "markup", output, "--model_uri", str(tiny_bundle), "--peer_uri", str(tiny_bundle)
    )
    for name in ("ours", "peer"):
        r = result[name]
        assert r["reads_markup_as_text"] is True  # the tiny bundle is trained with the default
        assert 0 < r["reviews_with_markup"] <= SMOKE_REVIEWS
        # Same ids, each read alone: not a figure but the rules' property, on any CPU kind.
        assert {r[copy]["labels_flipped"] for copy in ("plain_text", "html5", "phone")} == {0}
        assert r["phone"]["score_moved_max"] == 0.0
        assert r["plain_text"]["score_moved_max"] == 0.0
        assert r["tokens_per_review"] > 0
    t = result["tokenizer"]
    assert t["us_per_review_with_rules"] > 0 and t["us_per_review_without"] > 0
    assert result["tokens_saved"] == 0.0  # one bundle on both sides
    e = result["evidence"]
    assert e["reviews"] == SMOKE_REVIEWS and e["with_entities_in_the_escaped_copy"] > 0
    # As served, the escaped copy is the plain copy's ids and words: the same evidence on any
    # CPU kind. The other side (the tokenizer's offsets) ran too; its count is a figure.
    assert e["served"] == {"evidence_differs": 0, "top_words_differ": 0}
    assert set(e["tokenizer_offsets"]) == {"evidence_differs", "top_words_differ"}
    assert_provenance(result)
    assert "tokens saved" in log


def test_the_copies_are_what_a_page_gives() -> None:
    review = "Fine.<br /><br />A <i>dull</i> end &amp; a &quot;twist&quot;.<BR/>7/10"
    assert plain_copy(review) == 'Fine.\n\nA  dull  end & a "twist".\n7/10'
    assert html5_copy(review) == "Fine.<br><br>A <i>dull</i> end &amp; a &quot;twist&quot;.<br>7/10"
    assert escaped_copy(review) == "Fine.\n\nA  dull  end &amp; a &quot;twist&quot;.\n7/10"
    assert (
        phone_copy("I didn't -- \"really\"... 'tis")
        == "I didn\u2019t \u2014 \u201creally\u201d\u2026 'tis"
    )
