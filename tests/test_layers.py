"""The source tree is the data flow: a layer imports only the layers before it, no cycles,
and the CLI does no arithmetic on data (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "growthloop"

#: Each layer and the layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "simulate": {"core"},
    "warehouse": {"core"},
    "ingest": {"core", "warehouse"},
    "metrics": {"core", "warehouse", "ingest"},
    "models": {"core", "ingest"},
    "decide": {"core", "warehouse", "ingest", "metrics", "models"},
    "report": {"core", "warehouse", "ingest", "metrics", "models", "decide"},
    "pipeline": {"core", "warehouse", "ingest", "metrics", "models", "decide", "report",
                 "simulate"},
    "service": {"core", "warehouse", "ingest", "metrics", "models", "decide", "report"},
    "cli": {"core", "warehouse", "ingest", "metrics", "models", "decide", "report",
            "simulate", "pipeline", "service"},
    "__main__": {"cli"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """growthloop modules ``path`` imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("growthloop"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("growthloop"))
    return found


MODULES = {_module(p): p for p in SRC.rglob("*.py")}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for mod, path in MODULES.items():
        graph[mod] = {m for m in _imports(path) if m in MODULES and m != mod}
    return graph


def test_every_module_is_in_a_layer():
    layers = {_layer(m) for m in MODULES} - {None}
    assert layers <= set(ALLOWED), layers - set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_earlier_layers(layer: str) -> None:
    bad = []
    for mod, deps in _graph().items():
        if _layer(mod) != layer:
            continue
        for dep in deps:
            other = _layer(dep)
            if other is not None and other != layer and other not in ALLOWED[layer]:
                bad.append(f"{mod} imports {dep}")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycle() -> None:
    graph = _graph()
    # package __init__ files re-export their own submodules; that is not a cycle
    for mod in graph:
        graph[mod] = {d for d in graph[mod] if not (MODULES[mod].name == "__init__.py"
                                                    and d.startswith(mod + "."))}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d):], d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_a_cycle_is_detected(tmp_path: Path) -> None:
    """The walker sees a lazy import inside a function (it cannot pass by construction)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from growthloop.decide.goals import goals_frame\n")
    assert "growthloop.decide.goals" in _imports(f)


ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


@pytest.mark.parametrize("path", sorted((SRC / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_does_no_arithmetic_on_data(path: Path) -> None:
    """Arithmetic in a command is on counts of its own arguments at most (``len(files) *
    4`` for a progress bar), never on results: those come from the library."""
    def text_like(n: ast.expr) -> bool:
        return (isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant)
                and isinstance(n.value, str)) or (isinstance(n, ast.BinOp) and
                (text_like(n.left) or text_like(n.right))))

    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
            if text_like(node.left) or text_like(node.right):
                continue  # joining text or a path, not arithmetic on data
            text = ast.unparse(node)
            if text in ("time.perf_counter() - t0", "len(files) * 4", "first + extra"):
                continue  # timing the command, sizing its progress bar, its error line
            bad.append(f"{path.name}:{node.lineno}: {text}")
    assert not bad, "\n".join(bad)
