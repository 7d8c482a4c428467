"""A dataset's derived-feature code: found, imported and called with its output checked.

Used by the stages and by the registered model itself (this module travels with the model, see
`flows.tasks.model`), so it imports nothing beyond the definition, pandas and the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd

from flows.logic.definition import DatasetDefinition, DefinitionError

DEFINITION_FILE = "dataset.yaml"
DerivedFeatures = Callable[[pd.DataFrame], pd.DataFrame]
# The name a module imported from a dataset's folder gets (each its own: two datasets' features.py never
# collide).
DATASET_MODULE_PREFIX = "mlops_dataset_"


def features_file(definition: DatasetDefinition, folder: Path) -> Path | None:
    """The derived-feature module when it is a file beside the definition (`features:derive` is
    `<folder>/features.py`, `lib.feats:fn` is `<folder>/lib/feats.py`)."""
    if definition.features.derived is None:
        return None
    local = folder / f"{definition.features.derived.split(':')[0].replace('.', '/')}.py"
    return local if local.is_file() else None


def derived_function(
    definition: DatasetDefinition, folder: Path, code: Path | None = None
) -> DerivedFeatures | None:
    """The definition's derived-feature function, imported (from `code`, the module's file, when given: a
    model loads it from its artifacts); DefinitionError when it cannot be."""
    if definition.features.derived is None:
        return None
    module_name, function_name = definition.features.derived.split(":")
    where = str(folder / DEFINITION_FILE)
    try:
        module = _module(module_name, code or features_file(definition, folder), definition.name)
    except Exception as exc:  # any import-time failure of the user's code is the definition's problem
        raise DefinitionError(
            where, [f"features.derived: cannot import {module_name!r}: {type(exc).__name__}: {exc}"]
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise DefinitionError(where, [f"features.derived: {module_name!r} has no function {function_name!r}"])
    return function


def _module(module_name: str, local: Path | None, dataset: str) -> ModuleType:
    """The module from its file (under a name of its own: two datasets' features.py never collide), or
    imported as usual."""
    if local is None:
        return importlib.import_module(module_name)
    unique = f"{DATASET_MODULE_PREFIX}{dataset.replace('-', '_')}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, local)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in a model's artifacts
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
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
