"""The project's gates, run with the suite: the import layers, ruff, mypy --strict."""

from __future__ import annotations

import ast
import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sm"
BIN = Path(sys.executable).parent

# what each layer may never import (directly, at any place in the module)
FORBIDDEN = {
    "sm.core": ("fastapi", "starlette", "typer", "rich", "telegram", "libtmux", "textual",
                "mcp", "uvicorn", "pydantic", "sm.ops", "sm.api", "sm.daemon", "sm.cli",
                "sm.telegram", "sm.web", "sm.mcp"),
    "sm.store": ("sm.core", "sm.ops", "sm.api", "sm.daemon", "sm.cli", "sm.telegram",
                 "sm.runtime", "fastapi", "typer"),
    "sm.runtime": ("sm.core", "sm.ops", "sm.store", "sm.daemon", "sm.cli", "fastapi"),
    "sm.agents": ("sm.core", "sm.ops", "sm.store", "sm.daemon", "sm.cli", "fastapi"),
    "sm.ops": ("fastapi", "starlette", "typer", "rich", "telegram", "pydantic", "sm.api",
               "sm.daemon", "sm.cli", "sm.telegram", "sm.web", "sm.mcp"),
    # adapters never import each other
    "sm.daemon.routes": ("sm.cli", "sm.telegram", "sm.web", "sm.mcp"),
    "sm.telegram": ("sm.cli", "sm.daemon", "sm.web", "sm.mcp"),
    "sm.web": ("sm.cli", "sm.telegram", "sm.mcp", "sm.daemon.routes"),
    "sm.mcp": ("sm.cli", "sm.telegram", "sm.web", "sm.daemon.routes"),
    "sm.cli": ("sm.telegram", "sm.web", "sm.daemon.routes", "sm.ops", "sm.core", "sm.store"),
}
# the stdlib-only hot path: the client, the hook entry point, the fast CLI
STDLIB_ONLY = ("sm.client", "sm.errors", "sm.vocab", "sm.durations", "sm.cli.fast", "sm.cli.main",
               "sm.cli.plain", "sm.cli.coordination", "sm.cli.locks", "sm.cli.ask",
               "sm.cli.notes", "sm.cli.finish",
               "sm.cli.mcp_relay", "sm.cli.quick_send", "sm.cli.quick_me", "sm.private")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{a.name}", id(node) in top) for a in node.names]
    return found


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(layer: str) -> None:
    bad = []
    for name, path in MODULES.items():
        if not _under(name, layer):
            continue
        for imported, _ in _imports(path):
            hits = [f for f in FORBIDDEN[layer] if _under(imported, f)]
            if hits and not (layer == "sm.cli" and name == "sm.cli.daemon"
                             and _under(imported, "sm.daemon.server")):
                bad.append(f"{name} imports {imported}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_the_hot_path_imports_only_the_stdlib_and_itself() -> None:
    allowed = set(STDLIB_ONLY) | {"sm", "sm.cli"}
    stdlib = set(sys.stdlib_module_names) | {"_socket"}
    bad = []
    for name in STDLIB_ONLY:
        for imported, _ in _imports(MODULES[name]):
            root = imported.split(".")[0]
            if root == "sm":
                if not any(_under(imported, a) for a in allowed):
                    bad.append(f"{name} imports {imported}")
            elif root not in stdlib:
                bad.append(f"{name} imports {imported}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_at_module_level() -> None:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for imported, top in _imports(path):
            if not top:
                continue
            target = imported if imported in MODULES else imported.rpartition(".")[0]
            if target in MODULES and target != name:
                deps.add(target)
        graph[name] = deps
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' → '.join(exc.args[1])}")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff", path=str(BIN)) is None, reason="ruff not installed")
def test_ruff() -> None:
    out = _run(str(BIN / "ruff"), "check", "sm", "tests", "bench", "hooks")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("mypy", path=str(BIN)) is None, reason="mypy not installed")
def test_mypy_strict() -> None:
    out = _run(str(BIN / "mypy"))
    assert out.returncode == 0, out.stdout + out.stderr
