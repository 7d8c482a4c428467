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
from flows.logic.refusal import listed, quoted

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
# Separators of CSV files from spreadsheets in other locales; the contract is comma-separated.
_OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


# A check answers True when every value passes (the common case, cheap to tell), else which values pass.
Verdict = bool | pd.Series


def _verdict(passes: np.ndarray, values: pd.Series) -> Verdict:
    return True if bool(passes.all()) else pd.Series(passes, index=values.index)


def _floats(values: pd.Series) -> np.ndarray:
    """The values as float64; a value that is not a number is NaN."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float64")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def _is_number(values: pd.Series) -> Verdict:
    # Booleans and timestamps convert to numbers (0/1, nanoseconds since 1970), but are not what they mean.
    if pd.api.types.is_bool_dtype(values) or _is_time(values):
        return pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        return True
    return pd.to_numeric(values, errors="coerce").notna()


def _is_time(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values)


def _is_finite(values: pd.Series) -> Verdict:
    if pd.api.types.is_integer_dtype(values):
        return True
    return _verdict(~np.isinf(_floats(values)), values)


def _is_whole(values: pd.Series) -> Verdict:
    if pd.api.types.is_integer_dtype(values):
        return True
    numbers = _floats(values)
    with np.errstate(invalid="ignore"):
        return _verdict(~np.isfinite(numbers) | (numbers == np.floor(numbers)), values)


def _in_range(column: ColumnSpec) -> Callable[[pd.Series], Verdict]:
    low = -np.inf if column.min is None else column.min
    high = np.inf if column.max is None else column.max

    def check(values: pd.Series) -> Verdict:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and len(values):
            raw = values.to_numpy()
            if raw.min() >= low and raw.max() <= high:  # nulls are not passed to checks: no NaN here
                return True
        numbers = _floats(values)
        with np.errstate(invalid="ignore"):  # not a number or infinite: the other checks say so
            outside = ((numbers < low) | (numbers > high)) & np.isfinite(numbers)
        return _verdict(~outside, values)

    return check


def _allowed(column: ColumnSpec) -> Callable[[pd.Series], Verdict]:
    if column.numeric:
        allowed = sorted({float(v) for v in column.values or []})

        def check(values: pd.Series) -> Verdict:
            numbers = _floats(values)
            if len(allowed) > 16:
                return _verdict(np.isin(numbers, allowed) | np.isnan(numbers), values)
            passes = np.isnan(numbers)
            for value in allowed:  # a few values (0 and 1): one comparison each beats a hash table
                passes |= numbers == value
            return _verdict(passes, values)

        return check
    texts = {str(v) for v in column.values or []}
    return lambda values: _verdict(as_text(values).isin(texts).to_numpy(), values)


def _is_boolean(values: pd.Series) -> Verdict:
    if pd.api.types.is_bool_dtype(values):
        return True
    return _verdict(as_text(values).str.strip().str.lower().isin(_TRUE | _FALSE).to_numpy(), values)


def _is_unique(values: pd.Series) -> Verdict:
    """Every value once (ids landed in increasing order tell so at once); else its repeats fail."""
    numbers = values.to_numpy()
    if pd.api.types.is_integer_dtype(values) and bool((numbers[1:] > numbers[:-1]).all()):
        return True
    return _verdict(~values.duplicated(keep="first").to_numpy(), values)


Rule = Callable[[pd.Series], Verdict]


def _rules(column: ColumnSpec) -> list[tuple[str, Rule]]:
    """A column's value rules in the order a person fixes them: a text value is not a number, so it is
    neither whole nor in range either; only the first rule a column breaks is reported."""
    rules: list[tuple[str, Rule]] = []
    if column.numeric:
        rules += [("number", _is_number), ("finite", _is_finite)]
        if column.type == "integer":
            rules.append(("whole", _is_whole))
        if column.min is not None or column.max is not None:
            rules.append(("range", _in_range(column)))
    if column.type == "boolean":
        rules.append(("boolean", _is_boolean))
    if column.values:
        rules.append(("allowed", _allowed(column)))
    return rules


def _value_check(rules: list[tuple[str, Rule]]) -> Rule:
    """All of a column's value rules as one pandera check: each answers True at once for clean values, so a
    valid batch costs one pass per rule and one check per column."""

    def check(values: pd.Series) -> Verdict:
        passes: np.ndarray | None = None
        for _, rule in rules:
            verdict = rule(values)
            if verdict is not True:
                mask = np.asarray(verdict, dtype=bool)
                passes = mask if passes is None else passes & mask
        return True if passes is None else _verdict(passes, values)

    return check


def _checks(column: ColumnSpec, is_id: bool) -> list[pa.Check]:
    rules = _rules(column)
    checks = [pa.Check(_value_check(rules), name="value")] if rules else []
    if is_id:  # pandera's own `unique` is 2x slower: it counts unique values instead of finding repeats
        checks.append(pa.Check(_is_unique, name="unique"))
    return checks


def _declared(column: ColumnSpec, definition: DatasetDefinition) -> ColumnSpec:
    """The column with every value it may hold: a multiclass label without `values` holds its classes."""
    if column.name == definition.label.column and column.values is None and definition.label.classes:
        return column.model_copy(update={"values": list(definition.label.classes)})
    return column


def build_schema(definition: DatasetDefinition, label_required: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a landing batch: every declared column, no other, with its rules."""
    columns = {}
    for column in map(_declared, definition.columns, [definition] * len(definition.columns)):
        is_label = column.name == definition.label.column
        if is_label and not label_required:
            continue
        nullable = column.nullable or (is_label and definition.label.missing == "drop")
        columns[column.name] = pa.Column(
            None,
            checks=_checks(column, column.name == definition.id),
            nullable=nullable,
            required=True,
            report_duplicates="exclude_first",
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=False)


def frame_problems(
    frame: pd.DataFrame, definition: DatasetDefinition, label_required: bool = True
) -> list[str]:
    """Every way the frame breaks the definition's column rules, one sentence each; empty when it is valid."""
    separator = _separator_problem(frame, definition)
    if separator:
        return [separator]
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return [f"duplicated columns: {quoted(repeated)}"]
    schema = build_schema(definition, label_required)
    missing = [c for c in schema.columns if c not in names]
    extra = [n for n in names if n not in schema.columns]
    problems = []
    # ' age' for 'age' reads as a missing and an unexpected column; say what differs.
    spaced = [n for n in extra if n != n.strip() and n.strip() in missing]
    if spaced:
        problems.append(
            f"column names with spaces around them: {quoted(spaced)}: remove the spaces "
            f"(the definition declares {quoted([n.strip() for n in spaced])})"
        )
        missing = [c for c in missing if c not in {n.strip() for n in spaced}]
        extra = [n for n in extra if n not in spaced]
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
        return _sentences(errors.failure_cases, frame, definition)
    return []


def _separator_problem(frame: pd.DataFrame, definition: DatasetDefinition) -> str | None:
    """A CSV separated by something other than commas reads as one column named like the whole header;
    one separated by ', ' as columns whose names (all but the first) start with a space."""
    declared = {c.name for c in definition.columns}
    names = [str(c) for c in frame.columns]
    if len(names) > 2 and all(n.startswith(" ") and n.strip() in declared for n in names[1:]):
        return "columns are separated by ', ' (a comma and a space), not commas: land comma-separated CSV"
    if len(frame.columns) != 1:
        return None
    header = str(frame.columns[0])
    for separator, name in _OTHER_SEPARATORS.items():
        if len(set(header.split(separator)) & declared) > 1:
            return f"columns are separated by {name}, not commas: land comma-separated CSV"
    return None


def conform(frame: pd.DataFrame, definition: DatasetDefinition, label_required: bool = True) -> pd.DataFrame:
    """A valid batch in declared column order and canonical dtypes, ready to be versioned (or scored):
    integer int64 (float64 when it is nullable), number float64, boolean a nullable boolean, category and text
    as text. Without its label when the label is optional (scoring) and absent."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    present = {str(c) for c in frame.columns}
    for column in definition.columns:
        if column.name not in present:
            if column.name == definition.label.column and not label_required:
                continue
            raise KeyError(column.name)
        out[column.name] = _canonical(frame[column.name].reset_index(drop=True), column)
    return out


def _canonical(values: pd.Series, column: ColumnSpec) -> pd.Series:
    if column.type == "boolean":
        if pd.api.types.is_bool_dtype(values):
            return values.astype("boolean")
        text = as_text(values).str.strip().str.lower()
        return text.isin(_TRUE).astype("boolean").mask(values.isna())
    if column.numeric:
        # A nullable integer is float64 in every batch, with a null or not: the same values hash (ids, splits,
        # row checks) and compare the same from one batch to the next.
        whole = column.type == "integer" and not column.nullable
        return pd.to_numeric(values).astype("int64" if whole else "float64")
    return as_text(values)


def as_text(values: pd.Series) -> pd.Series:
    """Values as text, nulls kept null; whole numbers without a fraction (a CSV column of codes 1, 2 with a
    gap reads as floats, and is '1', not '1.0')."""
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return values
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and bool((finite == np.floor(finite)).all()) and np.isfinite(finite).all():
            return values.astype("Int64").astype(str)
    return values.astype(str)


def _sentences(cases: pd.DataFrame, frame: pd.DataFrame, definition: DatasetDefinition) -> list[str]:
    """One sentence per column and broken rule, in declared column order: nulls, repeats, and of its value
    rules the first it breaks (found again on the failing values as the frame holds them)."""
    order = {c.name: i for i, c in enumerate(definition.columns)}
    problems: list[tuple[int, str]] = []
    for (column_name, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        column = _declared(definition.column(str(column_name)), definition)
        what = "label" if column.name == definition.label.column else "column"
        if check != "value":
            sentence = _sentence(what, column, str(check), len(group), group["failure_case"].iloc[0])
            problems.append((order[column.name], sentence))
            continue
        failing = frame[column.name].loc[group["index"].to_numpy()]
        for rule_name, rule in _rules(column):
            verdict = rule(failing)
            broken = failing.iloc[0:0] if verdict is True else failing[~np.asarray(verdict, dtype=bool)]
            if broken.empty:
                continue
            problems.append(
                (order[column.name], _sentence(what, column, rule_name, len(broken), broken.iloc[0]))
            )
            break
    return [sentence for _, sentence in sorted(problems, key=lambda p: p[0])]


def _sentence(what: str, column: ColumnSpec, check: str, count: int, example: object) -> str:
    name = f"{what} {column.name!r}"
    if isinstance(example, (np.datetime64, np.timedelta64)):
        example = pd.Timestamp(example) if isinstance(example, np.datetime64) else pd.Timedelta(example)
    example = example.item() if hasattr(example, "item") else example  # np.int64(2) reads as 2
    if check == "not_nullable":
        return f"{name} has {count} null value(s)"
    if check == "unique":
        return f"{count} duplicate {column.name!r} value(s) (e.g. {example})"
    if check == "number" and isinstance(example, bool):
        return f"{name} holds true/false values; it must be numeric"
    if check == "number" and isinstance(example, (pd.Timestamp, pd.Timedelta)):
        return f"{name} holds dates or times (e.g. {example}); it must be numeric"
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
        values = column.values or []
        shown = [f"{float(v):g}" for v in values] if column.numeric else [repr(str(v)) for v in values]
        return (
            f"{name} has {count} value(s) not among its values (e.g. {example!r}); allowed: {listed(shown)}"
        )
    return f"{name} fails {check}: {count} value(s) (e.g. {example!r})"


def _number(value: object) -> str:
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)
