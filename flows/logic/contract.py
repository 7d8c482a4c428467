"""The column rules of a dataset definition as a pandera schema, and its failures as sentences a person reads.

The schema is built in code from the definition (pandera cannot serialise the checks a definition implies).
Checks take the values as a file delivers them (a CSV column may arrive as text) and coerce inside, so one
lazy validation reports every problem at once. Pure: a frame in, problems out; nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from flows.logic.definition import ColumnSpec, DatasetDefinition

_SHOWN = 20  # names listed in one problem; the rest are counted
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values


def _is_number(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(False, index=values.index)
    return _numbers(values).notna()


def _is_finite(values: pd.Series) -> pd.Series:
    numbers = _numbers(values).astype("float64")
    return pd.Series(~np.isinf(numbers.to_numpy()), index=values.index)


def _is_whole(values: pd.Series) -> pd.Series:
    numbers = _numbers(values).astype("float64")
    return (numbers == np.floor(numbers)) | ~np.isfinite(numbers) | numbers.isna()


def _in_range(column: ColumnSpec) -> Callable[[pd.Series], pd.Series]:
    low = -np.inf if column.min is None else column.min
    high = np.inf if column.max is None else column.max

    def check(values: pd.Series) -> pd.Series:
        numbers = _numbers(values).astype("float64")
        return numbers.between(low, high) | numbers.isna() | np.isinf(numbers)

    return check


def _allowed(column: ColumnSpec) -> Callable[[pd.Series], pd.Series]:
    if column.numeric:
        allowed = {float(v) for v in column.values or []}
        return lambda values: _numbers(values).astype("float64").isin(allowed) | _numbers(values).isna()
    texts = {str(v) for v in column.values or []}
    return lambda values: values.astype(str).isin(texts)


def _is_boolean(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(True, index=values.index)
    return values.astype(str).str.strip().str.lower().isin(_TRUE | _FALSE)


def _checks(column: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.numeric:
        checks += [pa.Check(_is_number, name="number"), pa.Check(_is_finite, name="finite")]
        if column.type == "integer":
            checks.append(pa.Check(_is_whole, name="whole"))
        if column.min is not None or column.max is not None:
            checks.append(pa.Check(_in_range(column), name="range"))
    if column.type == "boolean":
        checks.append(pa.Check(_is_boolean, name="boolean"))
    if column.values:
        checks.append(pa.Check(_allowed(column), name="allowed"))
    return checks


def build_schema(definition: DatasetDefinition, label_required: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a landing batch: every declared column, no other, with its rules."""
    columns = {}
    for column in definition.columns:
        is_label = column.name == definition.label.column
        if is_label and not label_required:
            continue
        nullable = column.nullable or (is_label and definition.label.missing == "drop")
        columns[column.name] = pa.Column(
            None,
            checks=_checks(column),
            nullable=nullable,
            unique=column.name == definition.id,
            required=True,
            report_duplicates="exclude_first",
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=False)


def quoted(names: list[str]) -> str:
    """Names quoted (so surrounding spaces show), at most _SHOWN of them, and a count of the rest."""
    shown = ", ".join(repr(n) for n in names[:_SHOWN])
    rest = len(names) - _SHOWN
    return shown + (f" and {rest} more" if rest > 0 else "")


def frame_problems(
    frame: pd.DataFrame, definition: DatasetDefinition, label_required: bool = True
) -> list[str]:
    """Every way the frame breaks the definition's column rules, one sentence each; empty when it is valid."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return [f"duplicated columns: {quoted(repeated)}"]
    schema = build_schema(definition, label_required)
    missing = [c for c in schema.columns if c not in names]
    extra = [n for n in names if n not in schema.columns]
    problems = []
    if missing:
        problems.append(f"missing columns: {quoted(missing)}")
    if extra:
        problems.append(f"unexpected columns: {quoted(extra)}")
    if len(frame) == 0:
        problems.append("batch is empty (no rows)")
    if problems:
        return problems
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        return _sentences(errors.failure_cases, definition)
    return []


def _sentences(cases: pd.DataFrame, definition: DatasetDefinition) -> list[str]:
    """One sentence per column and failed check, in declared column order; of a column's value checks only
    the first it fails (a text value is not a number, so it is neither whole nor in range either)."""
    order = {c.name: i for i, c in enumerate(definition.columns)}
    problems: list[tuple[int, str]] = []
    valued: set[str] = set()
    for (column_name, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        column = definition.column(str(column_name))
        if check not in ("not_nullable", "field_uniqueness"):
            if column.name in valued:
                continue
            valued.add(column.name)
        what = "label" if column.name == definition.label.column else "column"
        sentence = _sentence(what, column, str(check), len(group), group["failure_case"].iloc[0])
        problems.append((order[column.name], sentence))
    return [sentence for _, sentence in sorted(problems, key=lambda p: p[0])]


def _sentence(what: str, column: ColumnSpec, check: str, count: int, example: object) -> str:
    name = f"{what} {column.name!r}"
    if check == "not_nullable":
        return f"{name} has {count} null value(s)"
    if check == "field_uniqueness":
        return f"{count} duplicate {column.name!r} value(s) (e.g. {example})"
    if check == "number":
        return f"{name} must be numeric: {count} value(s) are not numbers (e.g. {example!r})"
    if check == "finite":
        return f"{name} has {count} infinite or overflowing value(s)"
    if check == "whole":
        return f"{name} must hold whole numbers: {count} value(s) have a fraction (e.g. {example})"
    if check == "range":
        low = "-inf" if column.min is None else f"{column.min:g}"
        high = "inf" if column.max is None else f"{column.max:g}"
        return f"{name} has {count} value(s) outside [{low}, {high}] (e.g. {_number(example)})"
    if check == "boolean":
        return f"{name} must be true or false: {count} value(s) are not (e.g. {example!r})"
    if check == "allowed":
        allowed = quoted([str(v) for v in column.values or []])
        return f"{name} has {count} value(s) not among its values (e.g. {example!r}); allowed: {allowed}"
    return f"{name} fails {check}: {count} value(s) (e.g. {example!r})"


def _number(value: object) -> str:
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)
