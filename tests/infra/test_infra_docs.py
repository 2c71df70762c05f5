"""docs/deploy.md against the code: every setting the app reads is in its settings table, every
output a stack can have is in its Outputs table (and nothing else is), and no command it gives
deploys around the guarded entry point."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from infra.config import ServiceConfig
from tests.infra.conftest import REPO

DOC = (REPO / "docs" / "deploy.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    end = DOC.find("\n#", start + len(title))
    return DOC[start : end if end > 0 else None]


def _first_column(table: str) -> set[str]:
    """The `names` in the first column of a markdown table's rows."""
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1])}


def test_every_setting_is_documented() -> None:
    keys = {f.metadata["key"] for f in fields(ServiceConfig)}
    documented = _first_column(_section("## Settings (cdk.json)"))
    assert keys - documented == set(), "settings missing from docs/deploy.md"
    assert documented - keys == set(), "docs/deploy.md documents settings the app does not read"


def test_every_output_is_documented(
    default: Any, full: Any, api_logs: Any, release: Any, edge: Any, monitoring: Any
) -> None:
    from aws_cdk.assertions import Template

    outputs = set()
    for variant in (default, full, api_logs, release, edge, monitoring):
        outputs |= set(variant.outputs)
    role_stack = edge.stack.node.scope.node.find_child("SentimentApi-GitHubDeploy")
    outputs |= set(Template.from_stack(role_stack).to_json()["Outputs"])
    assert outputs == _first_column(_section("### Outputs"))


def test_the_runbook_deploys_only_through_the_guarded_entry_point() -> None:
    """A plain `cdk deploy` skips the check, so no command the runbook gives is one."""
    commands = [line for block in DOC.split("```")[1::2] for line in block.splitlines()]
    assert not [line for line in commands if "cdk deploy" in line]
    assert any(line.startswith("make deploy") for line in commands)
