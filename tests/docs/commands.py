"""The shell commands the operator docs give: every line of their ```bash blocks and every
inline `code` span, with line continuations joined and comments dropped. A command inside
`$(...)` or after a pipe is found by where it starts (`command_at`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import REPO

DOCS = [REPO / "docs" / "deploy.md", REPO / "docs" / "gpu-training.md"]
# What the runbook's shell variables hold by the time a command uses them.
VARIABLES = {
    "$AWS_REGION": "eu-west-1",
    "$BUCKET": "sentimentapi-artifactsbucket-abc123",
    "$RUN": "run-20261204-abc123",
    "$CANDIDATE": "run-20261205-def456",
    "$IMAGE": "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-training:"
    "2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04",
}


def _blocks(text: str) -> list[str]:
    """Each ```bash block as logical lines: continuations joined, `# ...` comments dropped."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lines.append(re.sub(r"\s+#\s.*$", "", line).strip())
    return [line for line in lines if line]


def _spans(text: str) -> list[str]:
    """Inline `code` spans (outside the blocks), a span broken over lines joined again."""
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    return [" ".join(span.split()) for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", outside)]


def snippets(path: Path) -> list[str]:
    text = path.read_text()
    return _blocks(text) + _spans(text)


def command_at(text: str, start: int) -> str:
    """The command starting at `start`, up to where the shell would end it: a pipe, `;`, `&&`
    or the `)` closing the substitution it sits in (quotes and nested `$(...)` skipped)."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif text.startswith("$(", i):
            depth, i = depth + 1, i + 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and c in "|;&":
            break
        i += 1
    return text[start:i].strip()


def argv(command: str) -> list[str]:
    """shlex's words, with the runbook's variables put in."""
    words = shlex.split(command)
    for name, value in VARIABLES.items():
        words = [w.replace(name, value) for w in words]
    return words


def commands(program: str) -> list[tuple[str, str]]:
    """(doc name, command) for every command of both docs that starts with `program`."""
    pattern = re.compile(rf"(?:^|(?<=[\s(=]))(?:\.venv/bin/)?{re.escape(program)}\b")
    found = []
    for path in DOCS:
        for snippet in snippets(path):
            found += [
                (path.name, command_at(snippet, m.start())) for m in pattern.finditer(snippet)
            ]
    return found
