"""Every `aws <service> <operation>` line in docs/deploy.md and docs/gpu-training.md names an
operation AWS has and only its parameters, read from botocore's service models (the models
the AWS CLI builds its commands from); a `--query` starts at a member of the operation's
output. `aws s3 …` and `aws logs tail` are the CLI's own commands, checked against the AWS CLI
reference (https://docs.aws.amazon.com/cli/latest/reference/logs/tail.html, …/s3/index.html)."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.docs.commands import argv, commands

# The CLI's service names that differ from botocore's.
SERVICES = {"s3api": "s3", "deploy": "codedeploy"}
GLOBAL = {"--query", "--output", "--region", "--profile", "--endpoint-url", "--no-cli-pager"}
S3_COMMANDS = {"cp", "ls", "sync", "mv", "rm", "mb", "rb"}
LOGS_TAIL = {
    "--since",
    "--follow",
    "--format",
    "--filter-pattern",
    "--log-stream-names",
    "--log-stream-name-prefix",
}
LOGS_TAIL_FORMATS = {"detailed", "short", "json"}
SESSION = botocore.session.get_session()

AWS_LINES = [
    (doc, words)
    for doc, line in commands("aws")
    if len(words := argv(line)) >= 3 and re.fullmatch(r"[a-z0-9-]+", words[2])
]


def operation(service: str, command: str) -> Any:
    model = SESSION.get_service_model(SERVICES.get(service, service))
    names = {xform_name(name, "-"): name for name in model.operation_names}
    assert command in names, f"aws {service} {command}: {model.service_name} has no such operation"
    return model.operation_model(names[command])


def flags(words: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else None
            out[word] = None if nxt is None or nxt.startswith("--") else nxt
    return out


def test_the_docs_give_the_commands_this_test_reads() -> None:
    seen = {" ".join(words[1:3]) for _, words in AWS_LINES}
    assert {
        "sts get-caller-identity",
        "s3api copy-object",
        "deploy stop-deployment",
        "logs tail",
        "ecr describe-images",
        "apigateway get-api-key",
    } <= seen


@pytest.mark.parametrize(("doc", "words"), AWS_LINES, ids=[" ".join(w[:3]) for _, w in AWS_LINES])
def test_each_aws_line_names_a_real_operation_and_its_parameters(
    doc: str, words: list[str]
) -> None:
    service, command, given = words[1], words[2], flags(words[3:])
    if service == "s3":
        assert command in S3_COMMANDS and not set(given) - GLOBAL, f"{doc}: {' '.join(words)}"
        return
    if (service, command) == ("logs", "tail"):
        assert not set(given) - LOGS_TAIL - GLOBAL, f"{doc}: {' '.join(words)}"
        assert given.get("--format", "short") in LOGS_TAIL_FORMATS
        return
    op = operation(service, command)
    members = op.input_shape.members if op.input_shape else {}
    allowed = {f"--{xform_name(name, '-')}" for name in members}
    allowed |= {
        f"--no-{xform_name(n, '-')}" for n, s in members.items() if s.type_name == "boolean"
    }
    assert not set(given) - allowed - GLOBAL, f"{doc}: {' '.join(words)} (takes {sorted(allowed)})"
    query = given.get("--query")
    if query:
        first = re.match(r"[A-Za-z]+", query)
        assert first and first.group() in op.output_shape.members, f"{doc}: --query {query}"
