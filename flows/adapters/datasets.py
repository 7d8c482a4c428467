"""Dataset definitions on disk (`<MLOPS_DATASETS_DIR>/<name>/dataset.yaml`) and their derived-feature code.

`features.derived` names `module:function`. A module that is a file beside the definition
(`features:derive` for `datasets/<name>/features.py`) is loaded from there under a name of its own, so two
datasets' `features.py` never collide; any other module is imported as usual
(`flows.logic.features:loan_ratios`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd

from flows.logic.definition import DatasetDefinition, DefinitionError, parse_definition
from flows.settings import Settings

DEFINITION_FILE = "dataset.yaml"
DerivedFeatures = Callable[[pd.DataFrame], pd.DataFrame]


class UnknownDataset(DefinitionError):
    """No definition of that name."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.where, self.problems = "", [message]


def definition_path(name: str, settings: Settings) -> Path:
    return settings.datasets_dir / name / DEFINITION_FILE


def load_definition(name: str, settings: Settings) -> DatasetDefinition:
    """The named dataset's definition, checked (its derived-feature function included)."""
    path = definition_path(name, settings)
    if not path.is_file():
        known = sorted(p.parent.name for p in settings.datasets_dir.glob(f"*/{DEFINITION_FILE}"))
        raise UnknownDataset(
            f"no dataset {name!r}: {path} does not exist (datasets in {settings.datasets_dir}: "
            f"{', '.join(known) or 'none'}); draft one with "
            f"`mlops dataset init {name} --from FILE --label COLUMN`"
        )
    definition = parse_definition(path.read_text(), str(path))
    if definition.name != name:
        raise DefinitionError(
            str(path), [f"name: {definition.name!r} differs from its folder's name {name!r}"]
        )
    derived_function(
        definition, path.parent
    )  # a definition whose feature code does not import is refused now
    return definition


def derived_function(definition: DatasetDefinition, folder: Path) -> DerivedFeatures | None:
    """The definition's derived-feature function, imported; DefinitionError when it cannot be."""
    if definition.features.derived is None:
        return None
    module_name, function_name = definition.features.derived.split(":")
    where = str(folder / DEFINITION_FILE)
    try:
        module = _module(module_name, folder, definition.name)
    except Exception as exc:  # any import-time failure of the user's code is the definition's problem
        raise DefinitionError(
            where, [f"features.derived: cannot import {module_name!r}: {type(exc).__name__}: {exc}"]
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise DefinitionError(where, [f"features.derived: {module_name!r} has no function {function_name!r}"])
    return function


def _module(module_name: str, folder: Path, dataset: str) -> ModuleType:
    local = folder / f"{module_name.replace('.', '/')}.py"
    if not local.is_file():
        return importlib.import_module(module_name)
    unique = f"mlops_dataset_{dataset.replace('-', '_')}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, local)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def derive(function: DerivedFeatures, raw: pd.DataFrame, definition: DatasetDefinition) -> pd.DataFrame:
    """The derived columns of `raw` (one row each, numeric, named apart from the declared columns)."""
    where = f"features.derived ({definition.features.derived})"
    try:
        out = function(raw.copy())
    except Exception as exc:
        raise DefinitionError(where, [f"raised {type(exc).__name__}: {exc}"]) from exc
    if not isinstance(out, pd.DataFrame):
        raise DefinitionError(where, [f"must return a pandas DataFrame, returned {type(out).__name__}"])
    problems = []
    if len(out) != len(raw):
        problems.append(f"returned {len(out)} rows for {len(raw)}: one row per input row is needed")
    clashes = sorted({str(c) for c in out.columns} & {c.name for c in definition.columns})
    if clashes:
        problems.append(f"returned columns that are declared already: {', '.join(map(repr, clashes))}")
    if out.columns.duplicated().any():
        problems.append("returned a column name twice")
    text = [str(c) for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    if text:
        problems.append(f"returned columns that are not numeric: {', '.join(map(repr, text))}")
    if problems:
        raise DefinitionError(where, problems)
    return out.reset_index(drop=True)
