"""The package's layout: `flows` (what the image ships) imports nothing of the dev tooling, and its modules
import each other without a cycle, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV_ONLY = ("devenv", "bench", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((REPO / "flows").rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_flows_imports_none_of_the_dev_tooling() -> None:
    offending = {
        name: sorted(m for m in imported(path) if m.split(".")[0] in DEV_ONLY)
        for name, path in MODULES.items()
    }
    assert {name: mods for name, mods in offending.items() if mods} == {}


def test_no_import_cycle_in_flows() -> None:
    graph = {
        name: {m for m in imported(path) if m in MODULES and m != name} for name, path in MODULES.items()
    }
    cycles = []
    state: dict[str, str] = {}  # "open" while on the path, "done" once every import below it is seen

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for dependency in sorted(graph[name]):
            if state.get(dependency) == "open":
                cycles.append(" -> ".join([*path[path.index(dependency) :], dependency]))
            elif dependency not in state:
                visit(dependency, [*path, dependency])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_each_tag_name_is_spelled_only_in_tag_names() -> None:
    """A tag name typed out beside its constant drifts from it unnoticed: flows uses the constants."""
    from flows.logic import tag_names

    names = {value for key, value in vars(tag_names).items() if key.endswith("_TAG")}
    spelled = {
        module: sorted(
            {
                n.value
                for n in ast.walk(ast.parse(path.read_text()))
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            }
            & names
        )
        for module, path in MODULES.items()
        if module != "flows.logic.tag_names"
    }
    assert {module: found for module, found in spelled.items() if found} == {}
