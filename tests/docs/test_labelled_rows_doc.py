"""docs/deploy.md's "Labelled rows" states the audit's settings; they are the code's."""

from __future__ import annotations

from contract.audit import ALPHA, ECE_BINS, LABEL, MIN_LABELLED
from tests.conftest import REPO


def section() -> str:
    text = (REPO / "docs" / "deploy.md").read_text()
    start = text.index("### Labelled rows")
    return text[start : text.index("\n## ", start)]


def test_the_documented_settings_are_the_code() -> None:
    doc = " ".join(section().split())
    assert f"a `{LABEL}` column (CSV) or field (JSON Lines)" in doc
    assert f"when p < {ALPHA}" in doc and f"(one-sided p = 1.8e-11 < {ALPHA})" in doc
    assert f"`not judged` under {MIN_LABELLED} labelled rows" in doc
    assert f"ECE ({ECE_BINS} equal-width bins of the top score)" in doc
