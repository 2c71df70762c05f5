"""How training/ hangs together: no import cycle among its modules, and the CLI's help and flag
checks answer without torch (a laptop without the training extra can still read --help)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO

PACKAGE = REPO / "training"


def imported_training_modules(path) -> set[str]:
    """Every training module `path` imports, at module level, inside functions or under
    TYPE_CHECKING alike: a cycle through any of them is a cycle waiting for a caller."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from training import pipeline` imports training.pipeline; `from training.x import
            # y`, training.x (and training.x.y when that is a module).
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "training" and len(parts) > 1:
                module = ".".join(parts[1:])
                if (PACKAGE / f"{module.replace('.', '/')}.py").exists():
                    found.add(module)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def training_import_graph() -> dict[str, set[str]]:
    """module (dotted below training/, e.g. `sagemaker.launch`) -> the training modules it
    imports."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        graph[module] = imported_training_modules(path) - {module}
    return graph


def test_no_import_cycle_among_training_modules():
    graph = training_import_graph()
    assert graph["cli"] >= {"args", "sagemaker.launch", "pipeline", "verify"}  # lazy ones too
    assert "cli" not in graph["sagemaker.launch"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def run_without(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m training ARGV` in a process where `import <module>` fails."""
    code = (
        f"import runpy, sys; sys.modules[{module!r}] = None; "
        f"sys.argv = ['training', *{list(argv)!r}]; "
        "runpy.run_module('training', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_help_and_a_bad_flag_answer_without_torch():
    shown = run_without("torch", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "--learning_rate" in shown.stdout and "Exit codes" in shown.stdout
    bad = run_without("torch", "--validation_fraction", "2")
    assert bad.returncode == 2
    assert "--validation_fraction must be between 0 and 1" in bad.stderr


def test_a_missing_training_dependency_exits_2_naming_the_extra(tmp_path):
    out = ("--output", str(tmp_path / "m"), "--output_dir", str(tmp_path / "w"))
    result = run_without("sklearn", *out)
    assert result.returncode == 2, result.stderr
    assert "pip install -e '.[training]'" in result.stderr and "sklearn" in result.stderr
    assert "Traceback" not in result.stderr
