"""Section 6: checking a landing batch, against parsing it (the same rows, the same run).

What ingest spends on a batch before anything is written: the definition's column rules (a pandera schema
built from datasets/loan-default/dataset.yaml), conforming to canonical dtypes, and the cross-batch checks
(building the batch's index of ids and row hashes; looking its ids and rows up in an earlier batch's). The
baseline is `pd.read_csv` of the same rows: any batch is parsed once, so the ratio says what checking adds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from flows.adapters.datasets import load_definition
from flows.logic.contract import conform, frame_problems
from flows.logic.demo import generate_batch
from flows.logic.validation import batch_index, repeated_row_problems, reused_id_problems
from flows.settings import Settings


@dataclass(frozen=True)
class Validation:
    rows: int
    parse: float
    rules: float
    conform: float
    index: float
    cross_batch: float


def _best(action: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` runs: the least disturbed by a noisy neighbour."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(rows: int, repeats: int) -> Validation:
    definition = load_definition("loan-default", Settings())
    text = generate_batch(2, rows).to_csv(index=False)
    frame = pd.read_csv(io.StringIO(text))
    earlier = batch_index(conform(generate_batch(1, rows), definition), "application_id")
    batch = conform(frame, definition)
    assert frame_problems(frame, definition) == [], "the demo batch is valid"
    result = Validation(
        rows=rows,
        parse=_best(lambda: pd.read_csv(io.StringIO(text)), repeats),
        rules=_best(lambda: frame_problems(frame, definition), repeats),
        conform=_best(lambda: conform(frame, definition), repeats),
        index=_best(lambda: batch_index(batch, "application_id"), repeats),
        cross_batch=_best(
            lambda: (
                reused_id_problems(batch["application_id"], {1: earlier.ids}),
                repeated_row_problems(batch, "application_id", {1: earlier.rows}),
            ),
            repeats,
        ),
    )
    print(
        f"  {rows} rows: parse {result.parse:.3f} s, rules {result.rules:.3f} s, conform "
        f"{result.conform:.3f} s, index {result.index:.3f} s, cross-batch {result.cross_batch:.3f} s",
        flush=True,
    )
    return result
