"""Validation rules for a landing batch. Each returns human-readable problems; none mutate data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flows.contracts import Retraction
from flows.logic.schema import COLUMN_NAMES, COLUMNS, ID_COLUMN, LABEL_COLUMN, MAX_BATCH_NUMBER, Column

# Separators of CSV files from spreadsheets in other locales; the contract is comma-separated.
_OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


class BatchRejected(ValueError):
    """A batch broke the contract; nothing was written."""

    def __init__(self, batch_number: int, problems: list[str]) -> None:
        self.batch_number = batch_number
        self.problems = problems
        super().__init__(f"batch {batch_number} rejected: " + "; ".join(problems))


def check_batch_order(batch_number: int, ingested: Iterable[int]) -> list[str]:
    """Batches are numbered from 1 and ingested in order; re-ingesting a known batch is fine."""
    if isinstance(batch_number, bool) or not isinstance(batch_number, int) or batch_number < 1:
        return [f"batch_number must be a positive integer, got {batch_number!r}"]
    if batch_number > MAX_BATCH_NUMBER:
        return [f"batch_number must be at most {MAX_BATCH_NUMBER}, got {batch_number}"]
    done = set(ingested)
    # The first gap is at most len(done) + 1: no need to walk up to a large batch_number.
    first_missing = next(n for n in range(1, len(done) + 2) if n not in done)
    if first_missing < batch_number:
        return [
            f"batch {batch_number} cannot be ingested before batch {first_missing} "
            f"(ingested so far: {sorted(done) or 'none'})"
        ]
    return []


def expected_columns(df: pd.DataFrame, label_required: bool = True) -> tuple[Column, ...]:
    """The schema's columns; without the label when it is optional (scoring) and absent."""
    if label_required or LABEL_COLUMN in set(map(str, df.columns)):
        return COLUMNS
    return tuple(c for c in COLUMNS if c.name != LABEL_COLUMN)


def find_problems(df: pd.DataFrame, label_required: bool = True) -> list[str]:
    """Every way this batch breaks the schema, in a stable order; empty when it is valid.

    Scoring passes `label_required=False`: a batch to score may come without its label.
    """
    separator = _separator_problem(df)
    if separator:
        return [separator]
    if len(df.columns) != len(set(df.columns)):
        dupes = sorted({str(c) for c in df.columns if list(df.columns).count(c) > 1})
        return [f"duplicated columns: {', '.join(dupes)}"]
    columns = expected_columns(df, label_required)
    names = [c.name for c in columns]
    present = set(map(str, df.columns))
    problems: list[str] = []
    missing = [c for c in names if c not in present]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    extra = sorted(present - set(names))
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)}")
    if len(df) == 0:
        problems.append("batch is empty (no rows)")
    if problems:
        return problems
    for column in columns:
        problems.extend(_column_problems(df[column.name], column))
    problems.extend(_duplicate_id_problems(df[ID_COLUMN]))
    return problems


def _separator_problem(df: pd.DataFrame) -> str | None:
    """A CSV separated by something other than commas reads as one column named like the whole header."""
    if len(df.columns) != 1:
        return None
    header = str(df.columns[0])
    for separator, name in _OTHER_SEPARATORS.items():
        if len(set(header.split(separator)) & set(COLUMN_NAMES)) > 1:
            return f"columns are separated by {name}, not commas: land comma-separated CSV"
    return None


def _column_problems(values: pd.Series, column: Column) -> list[str]:
    what = "label" if column.kind == "label" else "column"
    nulls = int(values.isna().sum())
    if nulls:
        return [f"{what} '{column.name}' has {nulls} null value(s)"]
    if column.kind == "category":
        return _category_problems(values, column)
    if pd.api.types.is_bool_dtype(values):
        return [f"{what} '{column.name}' holds true/false values; it must be numeric"]
    numbers = _as_numbers(values)
    if numbers is None:
        return [_non_numeric_problem(values, column, what)]
    if not np.isfinite(numbers).all():
        count = int((~np.isfinite(numbers)).sum())
        return [f"{what} '{column.name}' has {count} infinite or overflowing value(s)"]
    if column.kind in ("id", "int", "label") and not np.array_equal(numbers, np.floor(numbers)):
        return [f"{what} '{column.name}' must hold whole numbers, got dtype {values.dtype}"]
    return _range_problems(numbers, column, what)


def _as_numbers(values: pd.Series) -> np.ndarray | None:
    """The values as float64, or None when one is not a number. Numbers too large for int64 arrive as text
    from a CSV; they are numbers, and the range check reports them."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64")
    coerced = pd.to_numeric(values, errors="coerce")
    if coerced.isna().any():
        return None
    return coerced.to_numpy(dtype="float64")


def _non_numeric_problem(values: pd.Series, column: Column, what: str) -> str:
    bad = values[pd.to_numeric(values, errors="coerce").isna()]
    return (
        f"{what} '{column.name}' must be numeric: {len(bad)} value(s) are not numbers (e.g. {bad.iloc[0]!r})"
    )


def _range_problems(numbers: np.ndarray, column: Column, what: str) -> list[str]:
    low = -np.inf if column.minimum is None else column.minimum
    high = np.inf if column.maximum is None else column.maximum
    if column.kind == "label":
        bad = ~np.isin(numbers, (0.0, 1.0))
        allowed = "{0, 1}"
    else:
        bad = (numbers < low) | (numbers > high)
        allowed = f"[{low:g}, {high:g}]"
    if bad.any():
        example = numbers[bad][0]
        return [f"{what} '{column.name}' has {int(bad.sum())} value(s) outside {allowed} (e.g. {example:g})"]
    return []


def _category_problems(values: pd.Series, column: Column) -> list[str]:
    unknown = sorted(set(values.astype(str).unique()) - set(column.categories))
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5])
        return [
            f"column '{column.name}' has unknown value(s) {shown}; allowed: {', '.join(column.categories)}"
        ]
    return []


def _duplicate_id_problems(ids: pd.Series) -> list[str]:
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        return [f"{len(duplicated)} duplicate {ID_COLUMN} value(s) (e.g. {duplicated.iloc[0]})"]
    return []


def conform(df: pd.DataFrame, label_required: bool = True) -> pd.DataFrame:
    """A validated batch in canonical column order and dtypes, ready to be versioned (or scored)."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for column in expected_columns(df, label_required):
        values = df[column.name].reset_index(drop=True)
        if column.kind == "category":
            out[column.name] = values.astype(str)
        elif column.kind == "float":
            out[column.name] = pd.to_numeric(values).astype("float64")
        else:
            out[column.name] = pd.to_numeric(values).astype("int64")
    return out


def sorted_ids(ids: pd.Series) -> np.ndarray:
    """Values sorted, repeats dropped: a batch's index, what later batches are checked against.

    Sorted, then repeats dropped: numpy 2.4's `np.unique` takes ~3 s for 1M int64 ids, a sort ~0.06 s.
    """
    values = np.sort(ids.to_numpy())
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per row of everything but its id (features and label): equal rows, equal hashes."""
    content = [c for c in COLUMN_NAMES if c != ID_COLUMN and c in frame.columns]
    return pd.util.hash_pandas_object(frame.loc[:, content], index=False)


@dataclass(frozen=True)
class BatchIndex:
    """What later batches are checked against, kept beside a batch's catalog record: its ids and the
    hashes of its rows' content, each sorted and unique (a few bytes per row; never the rows)."""

    ids: np.ndarray
    rows: np.ndarray


def batch_index(frame: pd.DataFrame) -> BatchIndex:
    return BatchIndex(sorted_ids(frame[ID_COLUMN]), sorted_ids(row_hashes(frame)))


def _members(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted `index`: a binary search each."""
    if len(index) == 0:
        return np.zeros(len(values), dtype=bool)
    positions = np.minimum(np.searchsorted(index, values), len(index) - 1)
    return np.asarray(index[positions] == values)


def reused_id_problems(ids: pd.Series, earlier: dict[int, np.ndarray]) -> list[str]:
    """Ids of this batch that an earlier batch already used, per batch, with a count and an example."""
    values = ids.to_numpy()
    problems = []
    for batch, index in sorted(earlier.items()):
        used = _members(values, index)
        if used.any():
            problems.append(
                f"{int(used.sum())} {ID_COLUMN} value(s) were already used by batch {batch} "
                f"(e.g. {values[used][0]}): ids are never reused across batches; land only new rows"
            )
    return problems


def repeated_row_problems(frame: pd.DataFrame, earlier: dict[int, np.ndarray]) -> list[str]:
    """Rows whose content (every column but the id) an earlier batch holds already, under another id: a
    copied batch that would leak into the holdout and inflate the gate's metric."""
    hashes = row_hashes(frame).to_numpy()
    problems = []
    for batch, index in sorted(earlier.items()):
        repeated = _members(hashes, index)
        if repeated.any():
            example = frame[ID_COLUMN].to_numpy()[repeated][0]
            problems.append(
                f"{int(repeated.sum())} row(s) repeat rows of batch {batch} under new {ID_COLUMN}s (e.g. "
                f"{ID_COLUMN} {example}): copied rows would be trained on and held out at once, inflating "
                "the holdout metric; land only new observations"
            )
    return problems


def identical_file_problem(source_md5: str, earlier: dict[int, str]) -> str | None:
    """A landing file byte-identical to an earlier batch's (a copy, or a symlink to it)."""
    same = sorted(batch for batch, md5 in earlier.items() if md5 == source_md5)
    if not same:
        return None
    return f"the file is byte-identical to the one batch {same[0]} was ingested from (md5 {source_md5})"


def retracted_problem(retraction: Retraction, next_batch: int) -> str:
    """Why a retracted batch is not trained on again, and what to do instead."""
    return (
        f"batch {retraction.batch_number} was retracted at {retraction.retracted_at} ({retraction.reason}): "
        f"later pipelines leave it out; land corrected data as batch {next_batch}"
    )


def versions_trained_on(batch_number: int, versions: dict[str, str]) -> list[str]:
    """Of `versions` (version -> its lineage.batches tag, "1,2,3"), those trained on the batch."""
    used = [v for v, batches in versions.items() if str(batch_number) in batches.split(",")]
    return sorted(used, key=int)
