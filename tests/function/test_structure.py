"""How function/routes/ hangs together: one router per resource, and no route module imports
another. What routes share (error responses, the timed run) lives in a module without a router."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ROUTES = REPO / "function" / "routes"


def defines_router(source: str) -> bool:
    """Whether the module assigns `router = ...` at top level."""
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "router" for t in node.targets)
        for node in ast.parse(source).body
    )


def imported_route_modules(source: str) -> set[str]:
    """The function.routes modules `source` imports (`from function.routes.x import ...`,
    `from function.routes import x`, `import function.routes.x`), anywhere in the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "function.routes":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("function.routes."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("function.routes."):
                    found.add(alias.name.split(".")[2])
    return found


def route_imports_of_routes(sources: dict[str, str]) -> dict[str, set[str]]:
    """module -> the route modules (those with a router) it imports, for modules with a router."""
    routers = {name for name, source in sources.items() if defines_router(source)}
    return {
        name: imported_route_modules(source) & routers
        for name, source in sources.items()
        if name in routers and imported_route_modules(source) & routers
    }


def route_sources(folder: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in folder.glob("*.py") if p.stem != "__init__"}


def test_no_route_module_imports_another() -> None:
    sources = route_sources(ROUTES)
    assert {"predict", "hf", "meta"} <= {n for n, s in sources.items() if defines_router(s)}
    assert route_imports_of_routes(sources) == {}


def test_the_check_sees_a_route_importing_another() -> None:
    # The layout this replaced: meta and hf took ERROR_RESPONSES / run_timed from predict.
    sources = {
        "predict": "router = APIRouter()\nERROR_RESPONSES = {}\n",
        "meta": "from function.routes.predict import ERROR_RESPONSES\nrouter = APIRouter()\n",
        "hf": "from function.routes import predict\nrouter = APIRouter()\n",
        "common": "ERROR_RESPONSES = {}\n",
        "ok": "from function.routes.common import ERROR_RESPONSES\nrouter = APIRouter()\n",
    }
    assert route_imports_of_routes(sources) == {"meta": {"predict"}, "hf": {"predict"}}
