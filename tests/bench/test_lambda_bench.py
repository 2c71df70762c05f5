"""make bench-lambda, smoke: one cold start and two warm invokes under the Lambda runtime
emulator, the bundle from S3 on loopback, on the task root the runtime tests assembled."""

from __future__ import annotations

from pathlib import Path

from contract.bundle import read_manifest
from tests.bench.conftest import assert_provenance, run_bench


def test_lambda_smoke_inits_and_invokes(
    tiny_bundle: Path, lambda_dirs: tuple[Path, Path], rie: Path, output: Path
) -> None:
    task_root, runtime = lambda_dirs
    data, _ = run_bench("lambda_runtime", output, "--bundle", str(tiny_bundle),
                        "--task-root", str(task_root), "--runtime-dir", str(runtime))  # fmt: skip
    result = data["emulator"]
    assert len(result["init_ms_each"]) == 1 and result["init_ms"] > 0
    assert len(result["warm_invoke_ms_each"]) == 2 and result["in_process_warm_ms_p50"] > 0
    assert result["bundle"]["run_id"] == read_manifest(tiny_bundle).run_id
    assert_provenance(result)
