"""The real thing: the pinned CDK CLI (npm `aws-cdk`, installed by `make node_modules`) runs the
app as `cdk.json` says, cdk-nag runs inside it, and cfn-lint checks what it wrote.

    make synth      # the same, into cdk.out/
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.inference_function import FUNCTION_LOGICAL_ID

REPO = Path(__file__).resolve().parents[2]
CDK_BIN = REPO / "node_modules" / ".bin" / "cdk"
STACK = "SentimentApi"

pytestmark = pytest.mark.skipif(
    shutil.which("npx") is None or not CDK_BIN.exists(),
    reason="the CDK CLI is not installed: run `make node_modules` (npm ci) first",
)


def cdk_synth(outdir: Path, *context: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # cdk.json runs `python -m infra.app`: this interpreter (the venv's) must be that python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    args = ["npx", "--no-install", "cdk", "synth", "--no-notices", "--quiet", "-o", str(outdir)]
    for item in context:
        args += ["-c", item]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    result = cdk_synth(outdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return outdir


@pytest.fixture(scope="module")
def template(cloud_assembly: Path) -> dict[str, Any]:
    return json.loads((cloud_assembly / f"{STACK}.template.json").read_text())


def test_cli_synth_writes_the_template(template: dict[str, Any]) -> None:
    assert FUNCTION_LOGICAL_ID in template["Resources"]
    assert {"ApiUrl", "ArtifactsBucketName", "FunctionName", "ModelUri", "TrainingRoleArn",
            "AuthMode", "ApiCloudWatchRole", "BatchStateMachineArn"} <= set(template["Outputs"])  # fmt: skip


def test_function_carries_what_sam_local_needs(
    template: dict[str, Any], cloud_assembly: Path
) -> None:
    """`sam build -t <template>` builds the function's image from this metadata (the image
    test then runs `sam local invoke` on it)."""
    metadata = template["Resources"][FUNCTION_LOGICAL_ID]["Metadata"]
    assert metadata["aws:asset:property"] == "Code.ImageUri"
    assert metadata["aws:asset:dockerfile-path"] == "function/Dockerfile"
    context = cloud_assembly / metadata["aws:asset:path"]
    assert (context / "function" / "Dockerfile").is_file()
    assert (context / "contract").is_dir()
    # The image context holds only what the image copies: no virtualenv, tests or training code.
    assert not {".venv", "training", "tests", "node_modules", "infra"} & {
        p.name for p in context.iterdir()
    }


def test_nag_report_has_no_unsuppressed_findings(cloud_assembly: Path) -> None:
    reports = list(cloud_assembly.glob(f"AwsSolutions-*{STACK}-NagReport.csv"))
    assert len(reports) == 1, "cdk-nag wrote no report: did the AwsSolutions aspect run?"
    rows = list(csv.DictReader(reports[0].open()))
    assert rows, "cdk-nag wrote an empty report: did the AwsSolutions aspect run?"
    bad = [r for r in rows if r["Compliance"] not in ("Compliant", "Suppressed")]
    assert bad == [], bad
    for row in rows:
        if row["Compliance"] == "Suppressed":
            assert len(row["Exception Reason"]) > 40, f"suppression without a real reason: {row}"


def test_cfn_lint_finds_no_errors(cloud_assembly: Path) -> None:
    from cfnlint.api import lint_file

    matches = lint_file(cloud_assembly / f"{STACK}.template.json")
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_invalid_context_fails_cli_synth_with_the_fix(tmp_path: Path) -> None:
    result = cdk_synth(tmp_path, "architecture=x86", "modelUri=models/latest.json")
    assert result.returncode != 0
    assert "context 'architecture' is 'x86': expected one of x86_64, arm64" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / f"{STACK}.template.json").exists()


def test_a_guarded_setting_given_with_c_is_refused(tmp_path: Path) -> None:
    """`-c authMode=apiKey` would hold for one deploy and the next plain one would delete the
    key; such a setting is read from cdk.json only."""
    result = cdk_synth(tmp_path, "authMode=apiKey")
    assert result.returncode != 0
    assert "context 'authMode' is 'apiKey' here but 'none' in" in result.stderr
    assert "authMode is read from cdk.json only" in result.stderr
    assert not (tmp_path / f"{STACK}.template.json").exists()


# --- pinning a run ------------------------------------------------------------------------------

DEPLOY_DOC = REPO / "docs" / "deploy.md"


def _pin_command() -> str:
    """The line docs/deploy.md gives for pinning a run in cdk.json."""
    lines = [ln for ln in DEPLOY_DOC.read_text().splitlines() if ln.startswith("jq --arg uri")]
    assert len(lines) == 1, "docs/deploy.md should give one `jq --arg uri ...` pin command"
    return lines[0]


def _model_uri(outdir: Path) -> str:
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    value = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    return json.dumps(value["MODEL_URI"])


@pytest.mark.skipif(shutil.which("jq") is None, reason="the documented pin command needs jq")
def test_a_run_pinned_in_cdk_json_survives_the_next_plain_synth(tmp_path: Path) -> None:
    """The documented pin edits cdk.json, so a later `cdk synth` (which `cdk deploy` runs) with
    no -c at all still serves that run."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("infra", "function", "contract", "node_modules"):
        (project / name).symlink_to(REPO / name)
    shutil.copy(REPO / "cdk.json", project / "cdk.json")
    assert json.loads((project / "cdk.json").read_text())["context"]["modelUri"]

    pin = subprocess.run(
        ["bash", "-c", _pin_command()],
        cwd=project,
        env={**os.environ, "RUN": "run-20261129-pinned"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert pin.returncode == 0, pin.stderr
    context = json.loads((project / "cdk.json").read_text())["context"]
    assert context["modelUri"] == "models/run-20261129-pinned"
    assert context["@aws-cdk/core:checkSecretUsage"] is True  # the rest of cdk.json is kept

    plain = cdk_synth(tmp_path / "plain", cwd=project)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert '"/models/run-20261129-pinned"' in _model_uri(tmp_path / "plain")
