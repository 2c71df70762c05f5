"""A small bundle made with the contract alone (no training, no torch): every file the manifest
lists, with its sha256. Its model file is not a working model; storage and verification do not
load it."""

from __future__ import annotations

from pathlib import Path

from contract.bundle import MODEL_FILE, TOKENIZER_FILE, Manifest, write_manifest
from contract.encoder import EncoderConfig


def make_bundle(directory: Path, run_id: str, model_bytes: bytes = b"onnx model bytes") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(model_bytes)
    (directory / TOKENIZER_FILE).write_text("{}")
    (directory / "README.md").write_text(f"# {run_id}\n")
    manifest = Manifest(
        run_id=run_id,
        labels=["negative", "positive"],
        encoder=EncoderConfig().to_dict(),
        files={},
    )
    write_manifest(directory, manifest)
    return directory
