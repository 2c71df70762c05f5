"""The store interface the storage walks are written against: a local directory and an S3 prefix
(a real S3 server on loopback) keep the same promises, so following latest.json and publishing
files -> manifest -> pointer need to be written only once."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.storage import open_store
from contract.store import StorageError, Store


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "models")
    _, bucket = request.getfixturevalue("s3")
    return f"s3://{bucket}/models"


def listing(store: Store, names: list[str]) -> list[str]:
    return [name for name in names if store.exists(name)]


def test_files_go_in_and_come_back(root: str, tmp_path: Path) -> None:
    store = open_store(root, write=True)
    source = tmp_path / "source.bin"
    source.write_bytes(b"model bytes")
    sent: list[int] = []
    store.put("run-1/plots/a.png", source, sent.append)
    store.put_bytes("latest.json", b'{"a": 1}')
    store.put_bytes("latest.json", b'{"a": 2}')  # replaced whole
    assert sum(sent) == len(b"model bytes")
    reader = open_store(root)
    assert reader.read("latest.json") == b'{"a": 2}'
    run = reader.child("run-1")
    assert (
        run.where() == f"{root}/run-1" and run.where("plots/a.png") == f"{root}/run-1/plots/a.png"
    )
    assert listing(run, ["plots/a.png", "plots", "plots/a.pn", "missing"]) == ["plots/a.png"]
    assert listing(store.child("run-1"), ["plots/a.png", "plots/a.pn"]) == ["plots/a.png"]
    run.download("plots/a.png", tmp_path / "back.png")
    assert (tmp_path / "back.png").read_bytes() == b"model bytes"
    with pytest.raises(FileNotFoundError):
        run.download("nothing-here", tmp_path / "nothing")
    store.delete("latest.json")
    assert not reader.exists("latest.json")


def test_a_new_folder_is_there_whole_or_not_at_all(root: str, tmp_path: Path) -> None:
    store = open_store(root, write=True)
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(ConnectionError), store.writing("run-a") as folder:
        folder.put("model.onnx", source)
        folder.put("plots/p.png", source)
        raise ConnectionError("the network dropped mid-upload")
    assert listing(store.child("run-a"), ["model.onnx", "plots/p.png"]) == []
    with store.writing("run-b") as folder:
        folder.put("model.onnx", source)
        folder.put("manifest.json", source)
    assert listing(store.child("run-b"), ["model.onnx", "manifest.json"]) == [
        "model.onnx",
        "manifest.json",
    ]


def test_only_a_remote_folder_is_a_copy_that_may_be_fetched_again(
    root: str, tmp_path: Path
) -> None:
    path, is_copy = open_store(root).child("run-1").local_copy(tmp_path / "cache")
    if root.startswith("s3://"):
        assert is_copy and path == tmp_path / "cache" / root.split("/")[2] / "models" / "run-1"
    else:
        assert not is_copy and path == Path(root) / "run-1"


def test_a_local_failure_is_a_storage_error_naming_the_step(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = open_store(tmp_path / "file" / "models", write=True)
    with (
        pytest.raises(StorageError, match=r"^cannot write here: .*Not a directory"),
        store.errors("cannot write here"),
    ):
        store.put_bytes("probe", b"")
