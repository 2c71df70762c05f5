"""Through the real CLI: an int8 model that fails the parity gate never ships, the fp32 model it
was quantized from does (and serving loads it); an export broken in both precisions publishes
nothing; --time_budget_minutes sizes the training set before the Trainer is built, from the
training window (--train_max_length), while the bundle serves the full one."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from fastapi.testclient import TestClient

from contract.bundle import FP32_MODEL_FILE, MODEL_FILE, verify_bundle
from contract.storage import resolve_local
from tests.conftest import TINY_ARGS, run_cli

# The tiny run without its fixed step count (the budget sizes it) and with the default gate.
_STEPS = TINY_ARGS.index("--max_steps")
BUDGET_ARGS = [*TINY_ARGS[:_STEPS], *TINY_ARGS[_STEPS + 2 :], "--num_train_epochs", "1",
               "--max_agreement_loss", "0.02", "--max_accuracy_drop", "0.005"]  # fmt: skip


# Half of TINY_ARGS' --max_length 48 (head 12): training reads 24 tokens (head 6).
TRAIN_WINDOW = 24
SECONDS_PER_TOKEN = 10 / 47


def negate_logits(path: Path) -> Path:
    """A truly broken export: the graph's logits come out negated, every prediction flipped (as
    a swapped label order would). Works on any graph that ends in `logits`."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.output[:] = ["logits.raw" if o == "logits" else o for o in node.output]
    model.graph.node.append(onnx.helper.make_node("Neg", ["logits.raw"], ["logits"]))
    onnx.save(model, str(path))
    return path


def assert_nothing_published(root: Path) -> None:
    models = root / "models"
    assert not models.exists() or not any(models.rglob("manifest.json"))


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A budgeted tiny run whose int8 model is broken; returns (runs root, work dir)."""
    from training import budget, ship

    root = tmp_path_factory.mktemp("fallback")
    real_quantize, real_measure = ship.quantize_int8, budget.measure_speed

    def slow_speed(*args, **kwargs):
        measured = real_measure(*args, **kwargs)  # the real calibration runs...
        assert measured.train_seconds_per_token > 0 and measured.forward_seconds_per_token > 0
        # ...but the plan gets a fixed, slow speed (10 s a review): of a 10-minute budget it
        # must size the 400-review pool down to a few dozen, whatever this machine's load.
        return budget.Speed(SECONDS_PER_TOKEN, 1 / 470, measured.calibration_seconds)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            ship, "quantize_int8", lambda fp32, int8: negate_logits(real_quantize(fp32, int8))
        )
        mp.setattr(budget, "measure_speed", slow_speed)
        mp.setattr(budget, "FIXED_SECONDS", 0.0)
        mp.setattr(budget, "MIN_TRAIN_SAMPLES", 8)
        code = run_cli(*BUDGET_ARGS, "--max_train_samples", "400", "--time_budget_minutes", "10",
                       "--train_max_length", str(TRAIN_WINDOW),
                       "--output", str(root / "models"), "--output_dir", str(root / "work"))  # fmt: skip
    assert code == 0
    return root / "models", root / "work"


def test_failed_int8_never_ships_and_fp32_does(fp32_run):
    bundle = resolve_local(fp32_run[0])
    manifest = verify_bundle(bundle)
    assert (manifest.precision, manifest.model_file) == ("fp32", FP32_MODEL_FILE)
    assert "int8 failed the parity gate" in manifest.precision_reason
    assert MODEL_FILE not in manifest.files and not (bundle / MODEL_FILE).exists()
    ops = {n.op_type for n in onnx.load(str(bundle / FP32_MODEL_FILE)).graph.node}
    assert "Attention" in ops and "MatMulInteger" not in ops  # the fused fp32 graph

    metrics = json.loads((bundle / "metrics.json").read_text())
    gate = metrics["parity"]
    assert gate["shipped"] == "fp32" and "McNemar" in gate["rule"]
    assert not gate["int8"]["passed"] and gate["int8"]["flips"] > gate["int8"]["n"] / 2
    # fp32 against torch: at most 6e-8 apart in probability here, and the closest of the 48
    # reviews sits ~3e-3 from 0.5: no kernel's fp32 rounding flips one.
    assert gate["fp32"]["passed"] and gate["fp32"]["flips"] == 0
    assert metrics["served"]["precision"] == "fp32"
    assert metrics["served"]["metrics"] == metrics["onnx_fp32"]
    card = (bundle / "README.md").read_text()
    assert "## Parity gate" in card and "Shipped: **fp32**" in card and "FAIL" in card


def test_serving_loads_the_model_file_the_manifest_names(fp32_run, tmp_path):
    from function.config import Settings
    from function.main import create_app

    settings = Settings(model_uri=str(fp32_run[0]), model_cache_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        info = client.get("/model").json()
        assert (info["precision"], info["model_file"]) == ("fp32", FP32_MODEL_FILE)
        assert "int8 failed" in info["precision_reason"]
        r = client.post("/predict", json={"text": "A moving, beautifully shot film."})
        assert r.status_code == 200, r.text


def test_budget_sizes_the_training_set_and_the_schedule_runs_to_its_end(fp32_run):
    bundle = resolve_local(fp32_run[0])
    manifest = verify_bundle(bundle)
    plan = manifest.metrics["time_budget"]
    assert 8 <= plan["train_samples"] < plan["pool"] == 400 and plan["budget_minutes"] == 10
    assert plan["fits"]
    assert manifest.data["sizes"]["train"] == plan["train_samples"]
    assert plan["steps"] == plan["train_samples"] // 8
    (state_file,) = sorted(fp32_run[1].glob(f"checkpoint-{plan['steps']}/trainer_state.json"))
    state = json.loads(state_file.read_text())
    # The scheduler was built for the planned steps, and all of them ran.
    assert state["max_steps"] == state["global_step"] == plan["steps"]


def test_training_reads_its_shorter_window_and_the_bundle_serves_the_full_one(fp32_run):
    manifest = verify_bundle(resolve_local(fp32_run[0]))
    assert manifest.encoder["max_length"] == 48 and manifest.encoder["head_tokens"] == 12
    args = manifest.training_args
    assert (args["train_max_length"], args["train_head_tokens"]) == (TRAIN_WINDOW, 6)
    # The plan priced the reviews at the training window's length, not the served one's.
    plan = manifest.metrics["time_budget"]
    mean_tokens = 1 / (plan["reviews_per_second"] * SECONDS_PER_TOKEN)
    assert 8 < mean_tokens <= TRAIN_WINDOW


def test_an_export_broken_in_both_precisions_publishes_nothing(tmp_path, caplog, monkeypatch):
    from training import ship

    real_export = ship.export_onnx
    monkeypatch.setattr(ship, "export_onnx", lambda *a: negate_logits(real_export(*a)))
    code = run_cli(*TINY_ARGS, "--max_agreement_loss", "0.02", "--baseline", "false",
                   "--save_hf_checkpoint", "false", "--output", str(tmp_path / "models"),
                   "--output_dir", str(tmp_path / "w"))  # fmt: skip
    assert code == 4
    assert "in int8 AND in fp32" in caplog.text and "Nothing was published" in caplog.text
    assert_nothing_published(tmp_path)


def test_without_fallback_a_failed_int8_publishes_nothing(tmp_path, caplog, monkeypatch):
    from training import ship

    real_quantize = ship.quantize_int8
    monkeypatch.setattr(ship, "quantize_int8", lambda f, i: negate_logits(real_quantize(f, i)))
    code = run_cli(*TINY_ARGS, "--max_agreement_loss", "0.02", "--fp32_fallback", "false",
                   "--baseline", "false", "--save_hf_checkpoint", "false",
                   "--output", str(tmp_path / "models"), "--output_dir", str(tmp_path / "w"))  # fmt: skip
    assert code == 4
    assert "int8 ONNX model fails the parity gate" in caplog.text
    assert_nothing_published(tmp_path)
