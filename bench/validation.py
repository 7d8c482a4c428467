"""Section 6: checking a landing batch, against parsing it (the same rows, the same run).

What ingest spends on a batch before anything is written: the definition's column rules (a pandera schema
built from datasets/loan-default/dataset.yaml), conforming to canonical dtypes, the cross-batch checks
(building the batch's index of ids, row hashes and profile; looking its ids and rows up in an earlier
batch's) and its data report (each column's drift against the earlier batch's profile). The
baseline is `pd.read_csv` of the same rows: any batch is parsed once, so the ratio says what checking adds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flows.adapters.datasets import load_definition
from flows.logic.contract import conform, frame_problems
from flows.logic.data_report import data_report
from flows.logic.demo import generate_batch
from flows.logic.validation import BatchIndex, index_of, repeated_row_problems, reused_id_problems
from flows.settings import Settings


@dataclass(frozen=True)
class Validation:
    rows: int
    parse: float
    rules: float
    conform: float
    index: float
    cross_batch: float  # against one earlier batch of as many rows
    cross_batch_10x: float  # against ten of them (10x the rows, cumulative)
    report: float


def _best(action: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` runs: the least disturbed by a noisy neighbour."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _cross_batch(batch: pd.DataFrame, earlier: dict[int, BatchIndex]) -> None:
    reused_id_problems(batch["application_id"], {n: i.ids for n, i in earlier.items()})
    repeated_row_problems(batch, "application_id", {n: i.rows for n, i in earlier.items()})


def _ten_batches(first: BatchIndex) -> dict[int, BatchIndex]:
    """Ten earlier batches' indexes of the first one's size (10x its rows in all), none sharing an id or a
    row with the new batch, as ten batches of a growing dataset would: what ingest looks a batch up in."""
    rng = np.random.default_rng(0)
    span = int(first.ids.max()) + 10**7
    return {
        n: BatchIndex(
            np.sort(first.ids + n * span), np.sort(rng.integers(-(2**63), 2**63 - 1, len(first.rows))), {}
        )
        for n in range(1, 11)
    }


def measure(rows: int, repeats: int) -> Validation:
    definition = load_definition("loan-default", Settings())
    text = generate_batch(2, rows).to_csv(index=False)
    frame = pd.read_csv(io.StringIO(text))
    earlier = index_of(conform(generate_batch(1, rows), definition), definition)
    batch = conform(frame, definition)
    index = index_of(batch, definition)
    assert frame_problems(frame, definition) == [], "the demo batch is valid"
    result = Validation(
        rows=rows,
        parse=_best(lambda: pd.read_csv(io.StringIO(text)), repeats),
        rules=_best(lambda: frame_problems(frame, definition), repeats),
        conform=_best(lambda: conform(frame, definition), repeats),
        index=_best(lambda: index_of(batch, definition), repeats),
        cross_batch=_best(lambda: _cross_batch(batch, {1: earlier}), repeats),
        cross_batch_10x=_best(lambda: _cross_batch(batch, _ten_batches(earlier)), repeats),
        report=_best(
            lambda: data_report(
                2, batch, definition, index.profile, {1: earlier.profile}, index.duplicate_rows
            ),
            repeats,
        ),
    )
    print(
        f"  {rows} rows: parse {result.parse:.3f} s, rules {result.rules:.3f} s, conform "
        f"{result.conform:.3f} s, index {result.index:.3f} s, cross-batch {result.cross_batch:.3f} s "
        f"(10x earlier rows: {result.cross_batch_10x:.3f} s), "
        f"report {result.report:.3f} s",
        flush=True,
    )
    return result
