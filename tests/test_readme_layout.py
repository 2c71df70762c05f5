"""README's layout table names every folder of the tree and every test folder, so a new one
cannot go unlisted."""

from __future__ import annotations

from tests.conftest import REPO


def test_the_layout_table_lists_every_test_folder():
    layout = (REPO / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(
        p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"
    )
    assert folders, "no test folders found"
    missing = [name for name in folders if f"`tests/{name}`" not in layout]
    assert not missing, f"README's layout table does not list {missing}"
