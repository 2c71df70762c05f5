"""The model bundle: the one contract between training (writes it) and serving (reads it).

A bundle is a directory holding the served ONNX model, `tokenizer.json`, a model card, metrics and
plots, described by `manifest.json`: format version, labels, encoder settings, which model file is
served and at what precision, and the sha256 and size of every other file. The manifest is written
last; a directory without one is not a bundle.
Serving calls `verify_bundle` before it answers: a bundle that fails is never served.
"""

from __future__ import annotations

import copy
import hashlib
import json
import mmap
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from contract.encoder import COMBINES, STRATEGIES, EncoderConfig

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"  # the int8 model
FP32_MODEL_FILE = "model.fp32.onnx"  # served when int8 failed the parity gate
TOKENIZER_FILE = "tokenizer.json"
Precision = Literal["int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
# The pointer written beside the runs once a run passes the quality gate.
LATEST_POINTER = "latest.json"
# The training checkpoint rides along for further fine-tuning; serving never reads it, so it
# neither downloads nor hashes it (88 MB of a cold start for nothing).
NOT_SERVED = ("hf/",)
# The keys format 1 gained after its first bundles were published, and what a manifest without
# one means: the int8 model.onnx, the plain softmax, the trained truncation for long texts. Such
# a bundle loads and serves as it always did (tests/function/test_format_1_bundle.py).
FORMAT_1_OPTIONAL: dict[str, Any] = {
    "model_file": MODEL_FILE,
    "precision": "int8",
    "precision_reason": "",
    "temperature": 1.0,
    "long_text": {},
}
# A run id names a directory beside latest.json: one path segment.
RUN_ID_RULE = "a plain name (no '/', not '.' or '..')"


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value


class BundleError(Exception):
    """A bundle is missing, incomplete, tampered with or of an unknown format."""


@dataclass
class Manifest:
    run_id: str
    labels: list[str]
    encoder: dict[str, Any]
    files: dict[str, dict[str, Any]]
    base_model: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    training_args: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION
    # The model serving loads and why it is that one (defaults: FORMAT_1_OPTIONAL).
    model_file: str = MODEL_FILE
    precision: Precision = "int8"
    precision_reason: str = ""
    # Softmax temperature fitted on the validation split (training/calibration.py).
    temperature: float = 1.0
    # How a text longer than the window is read unless a request says otherwise, as the
    # training report measured best: {"strategy", "combine", "reason"} (training/
    # long_text_eval.py); empty: the trained truncation.
    long_text: dict[str, Any] = field(default_factory=dict)

    def served_files(self) -> dict[str, dict[str, Any]]:
        return {n: e for n, e in self.files.items() if not n.startswith(NOT_SERVED)}

    @property
    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig.from_dict(self.encoder)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        if not isinstance(data, dict):
            raise BundleError(f"{MANIFEST} must hold a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"{MANIFEST} has format_version {version!r}; this code reads version "
                f"{FORMAT_VERSION}. Re-export the bundle with this version of the training job."
            )
        data = copy.deepcopy(FORMAT_1_OPTIONAL) | data
        missing = [k for k in ("run_id", "labels", "encoder", "files") if k not in data]
        if missing:
            raise BundleError(f"{MANIFEST} lacks required keys: {', '.join(missing)}")
        labels = data["labels"]
        if not (
            isinstance(labels, list)
            and len(labels) >= 2
            and all(isinstance(x, str) for x in labels)
        ):
            raise BundleError(f"{MANIFEST}: labels must be a list of at least two names")
        files = data["files"]
        if not isinstance(files, dict) or not all(
            isinstance(v, dict)
            and isinstance(v.get("sha256"), str)
            and isinstance(v.get("size"), int)
            for v in files.values()
        ):
            raise BundleError(f"{MANIFEST}: files must map each name to {{sha256, size}}")
        model_file = data["model_file"]
        if not isinstance(model_file, str) or not model_file:
            raise BundleError(f"{MANIFEST}: model_file must name the served model file")
        if data["precision"] not in PRECISIONS:
            raise BundleError(
                f"{MANIFEST}: precision {data.get('precision')!r} is not one of {PRECISIONS}"
            )
        temperature = data["temperature"]
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not 0 < temperature < float("inf")
        ):
            raise BundleError(
                f"{MANIFEST}: temperature must be a positive number, got {temperature!r}"
            )
        long_text = data["long_text"]
        if not (
            isinstance(long_text, dict)
            and long_text.get("strategy", STRATEGIES[0]) in STRATEGIES
            and long_text.get("combine", COMBINES[0]) in COMBINES
        ):
            raise BundleError(
                f"{MANIFEST}: long_text must be an object whose strategy is one of {STRATEGIES} "
                f"and combine one of {COMBINES}, got {long_text!r}"
            )
        for name in (model_file, TOKENIZER_FILE):
            if name not in files:
                raise BundleError(f"{MANIFEST} does not list the required file {name}")
        for name in files:
            if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                raise BundleError(f"{MANIFEST} lists a path outside the bundle: {name}")
        try:
            EncoderConfig.from_dict(data["encoder"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{MANIFEST}: invalid encoder settings: {exc}") from exc
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def sha256_file(path: Path) -> str:
    """One `update` over the memory-mapped file: hashlib releases the GIL for the whole file.
    Chunked reads take the GIL back twice per chunk, and while serving's start-up hashes on a
    thread next to the web stack's imports each take waits out a switch interval (5 ms), which
    made hashing the model many times slower."""
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return hashlib.sha256().hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()


def bundle_files(bundle_dir: Path) -> list[str]:
    """Every file of the bundle except the manifest, as sorted POSIX relative paths."""
    return sorted(
        p.relative_to(bundle_dir).as_posix()
        for p in bundle_dir.rglob("*")
        if p.is_file() and p.relative_to(bundle_dir).as_posix() != MANIFEST
    )


def write_manifest(bundle_dir: str | Path, manifest: Manifest) -> Manifest:
    """Fills `manifest.files` from what is in the directory and writes it (atomically) last."""
    bundle_dir = Path(bundle_dir)
    manifest.files = {
        name: {"sha256": sha256_file(bundle_dir / name), "size": (bundle_dir / name).stat().st_size}
        for name in bundle_files(bundle_dir)
    }
    Manifest.from_dict(manifest.to_dict())  # never write a manifest we would refuse to read
    tmp = bundle_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, bundle_dir / MANIFEST)
    return manifest


def read_manifest(bundle_dir: str | Path) -> Manifest:
    path = Path(bundle_dir) / MANIFEST
    if not path.is_file():
        raise BundleError(
            f"{path} not found: not a bundle, or an upload that did not finish "
            "(the manifest is written last)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_dict(data)


def verify_bundle(bundle_dir: str | Path, *, serving_only: bool = False) -> Manifest:
    """Checks the manifest and the size and sha256 of every file it lists (with `serving_only`,
    every file serving reads); raises `BundleError` naming the first that is missing or differs."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    files = manifest.served_files() if serving_only else manifest.files
    for name, expected in sorted(files.items()):
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(f"{name}: listed in the manifest but missing from {bundle_dir}")
        size = path.stat().st_size
        if size != expected["size"]:
            raise BundleError(f"{name}: size {size} differs from the manifest's {expected['size']}")
        digest = sha256_file(path)
        if digest != expected["sha256"]:
            raise BundleError(
                f"{name}: sha256 {digest[:12]}… differs from the manifest's "
                f"{expected['sha256'][:12]}… (corrupted or modified)"
            )
    return manifest
