"""The package's shape: no import cycle, and no module grown past one concept's size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ggnbench"


#: The most lines a module of the package may have: past it, it holds two concepts.
MAX_LINES = 350


def name(path: Path) -> str:
    """A module's dotted name below the package, ``run.train`` (an ``__init__``: its package's)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], own: str | None = None) -> set[str]:
    """The package's modules a module imports anywhere (top level, functions, type checks)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ggnbench"):
            base = node.module.removeprefix("ggnbench").lstrip(".")
            for alias in node.names:  # ``from ggnbench.run import train`` imports run.train
                found.add(f"{base}.{alias.name}".lstrip(".") if base else alias.name)
            found.add(base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("ggnbench.") for a in node.names}
    return (found & modules) - {own or path.stem}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of a graph, as the modules along it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                return [*path[path.index(other) :], other]
            if other not in state and (found := visit(other)):
                return found
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    files = [p for p in PACKAGE.rglob("*.py") if name(p)]  # the package's own __init__ aside
    modules = {name(p) for p in files}
    assert "commands" in modules and "run.train" in modules
    graph = {name(p): imports(p, modules, name(p)) for p in files}
    assert sum(map(len, graph.values())) > len(files)  # the scan sees the imports
    assert cycle(graph) is None, " -> ".join(cycle(graph))


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle(graph, expected):
    assert cycle(graph) == expected


def test_a_type_checking_import_counts(tmp_path):
    source = tmp_path / "a.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ggnbench.b import X\n"
    )
    assert imports(source, {"a", "b"}) == {"b"}


def test_no_module_is_over_the_size_of_one_concept():
    sizes = {name(p) or "ggnbench": len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    over = {module: lines for module, lines in sizes.items() if lines > MAX_LINES}
    assert len(sizes) > 40 and max(sizes.values()) > MAX_LINES / 2  # the scan sees them
    assert not over, f"split these modules (over {MAX_LINES} lines): {over}"
