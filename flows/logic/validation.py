"""Rules across batches: their order, and what a new batch may not repeat of earlier ones. Each returns
human-readable problems; none mutate data. A batch's own column rules are `contract`'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flows.contracts import MAX_BATCH_NUMBER, Retraction
from flows.logic.data_report import batch_profile
from flows.logic.definition import DatasetDefinition
from flows.logic.features import id_column, with_ids
from flows.logic.refusal import Refusal


class BatchRejected(Refusal):
    """A batch broke the contract; nothing was written."""

    def __init__(self, batch_number: int, problems: list[str]) -> None:
        self.batch_number = batch_number
        super().__init__(f"batch {batch_number} rejected", problems)


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


def sorted_ids(ids: pd.Series) -> np.ndarray:
    """Values sorted, repeats dropped: a batch's index, what later batches are checked against.

    Sorted, then repeats dropped: numpy 2.4's `np.unique` takes ~3 s for 1M int64 ids, a sort ~0.06 s.
    """
    values = np.sort(ids.to_numpy())
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def row_hashes(frame: pd.DataFrame, id_column: str) -> pd.Series:
    """One 64-bit hash per row of everything but its id (features and label): equal rows, equal hashes."""
    content = [c for c in frame.columns if c != id_column]
    return pd.util.hash_pandas_object(frame.loc[:, content], index=False)


@dataclass(frozen=True)
class BatchIndex:
    """What later batches are checked against, kept beside a batch's catalog record: its ids and the
    hashes of its rows' content, each sorted and unique (a few bytes per row; never the rows)."""

    ids: np.ndarray
    rows: np.ndarray
    # Its columns' distributions (`data_report.batch_profile`): what later batches' drift is measured against.
    profile: dict[str, Any]

    @property
    def duplicate_rows(self) -> int:
        """Rows that repeat another row of the batch in every column but the id (their hashes are equal)."""
        return int(self.profile["_rows"]) - len(self.rows)


def batch_index(frame: pd.DataFrame, id_column: str, profile: dict[str, Any]) -> BatchIndex:
    """The index of a conformed batch with its id column (derived, when the definition has none)."""
    return BatchIndex(sorted_ids(frame[id_column]), sorted_ids(row_hashes(frame, id_column)), profile)


def index_of(frame: pd.DataFrame, definition: DatasetDefinition) -> BatchIndex:
    """A conformed batch's index: its ids (derived ones when the definition has none), its rows' hashes
    and its profile."""
    return batch_index(with_ids(frame, definition), id_column(definition), batch_profile(frame, definition))


def members(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted `index`: a binary search each."""
    if len(index) == 0:
        return np.zeros(len(values), dtype=bool)
    positions = np.minimum(np.searchsorted(index, values), len(index) - 1)
    return np.asarray(index[positions] == values)


def reused_id_problems(ids: pd.Series, earlier: dict[int, np.ndarray]) -> list[str]:
    """Ids of this batch that an earlier batch already used, per batch, with a count and an example."""
    values = ids.to_numpy()
    name = str(ids.name)
    problems = []
    for batch, index in sorted(earlier.items()):
        used = members(values, index)
        if used.any():
            problems.append(
                f"{int(used.sum())} {name!r} value(s) were already used by batch {batch} "
                f"(e.g. {values[used][0]}): ids are never reused across batches; land only new rows"
            )
    return problems


def repeated_row_problems(frame: pd.DataFrame, id_column: str, earlier: dict[int, np.ndarray]) -> list[str]:
    """Rows whose content (every column but the id) an earlier batch holds already, under another id: a
    copied batch that would leak into the holdout and inflate the gate's metric."""
    hashes = row_hashes(frame, id_column).to_numpy()
    problems = []
    for batch, index in sorted(earlier.items()):
        repeated = members(hashes, index)
        if repeated.any():
            example = frame[id_column].to_numpy()[repeated][0]
            problems.append(
                f"{int(repeated.sum())} row(s) repeat rows of batch {batch} under new {id_column!r} values "
                f"(e.g. {id_column!r} {example}): copied rows would be trained on and held out at once, "
                "inflating the holdout metric; land only new observations"
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
