"""The modules a registered model ships (MODEL_CODE) are all that flows/raw_row_model.py imports of `flows`,
transitively: a module missing from the list loads here and fails only in a client's fresh process."""

from __future__ import annotations

import ast
from pathlib import Path

from flows.tasks.model import MODEL_CODE

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def _flows_imports(path: Path) -> set[str]:
    """The `flows` modules a file imports at its top level (not those imported inside functions only)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n for n in names if n == "flows" or n.startswith("flows.")}
    return found


def _file(module: str) -> str:
    relative = module.removeprefix("flows").lstrip(".").replace(".", "/")
    return (
        f"{relative}/__init__.py"
        if (FLOWS / relative).is_dir() and relative
        else f"{relative or '__init__'}.py"
    )


def test_the_model_ships_every_flows_module_it_imports() -> None:
    needed: set[str] = set()
    pending = [FLOWS / "raw_row_model.py"]
    while pending:
        for module in _flows_imports(pending.pop()):
            name = _file(module)
            parts = name.split("/")
            packages = {"/".join([*parts[:i], "__init__.py"]) for i in range(len(parts))}
            for file in ({name} | packages) - needed:
                needed.add(file)
                pending.append(FLOWS / file)
    assert needed <= set(MODEL_CODE), sorted(needed - set(MODEL_CODE))
    assert "logic/refusal.py" in needed
