"""The train engines' memory preflights: what a fit will hold, against what the local process or the Dask
cluster's workers may hold. Pure."""

from __future__ import annotations

import pandas as pd

from flows.feature_code import DerivedFeatures, derive
from flows.logic.definition import DatasetDefinition
from flows.logic.features import build_features

# The fit holds the frame, its float64 features, and copies of the train and valid rows' features for the
# quantile matrices: about frame + 2 x features. Measured on the loan demo (136 bytes a row as a frame, 27
# features): growth 3.6x the frame at 800k rows, this estimate 4.2x (15% over). tests/unit/test_memory.py
# checks it.
FEATURE_COPIES = 2
# Rows the preflights measure: enough for a stable bytes-per-row figure, read in milliseconds.
SAMPLE_ROWS = 2_000
GIB = 1024**3


class MemoryPreflightError(RuntimeError):
    """The local engine would need more memory than this process may use."""


def fit_memory(rows: int, frame_bytes_per_row: float, features: int) -> int:
    """Bytes the local engine's fit grows by for `rows` rows of a frame holding `frame_bytes_per_row` a row,
    with `features` model inputs (float64 each)."""
    return int(rows * (frame_bytes_per_row + FEATURE_COPIES * 8 * features))


def sampled_fit_memory(
    sample: pd.DataFrame, rows: int, definition: DatasetDefinition, function: DerivedFeatures | None
) -> tuple[int, float]:
    """`fit_memory` for `rows` rows like the sample's (its first rows), and the bytes a row it comes to."""
    frame_bytes = float(sample.memory_usage(deep=True, index=False).sum()) / max(1, len(sample))
    derived = None if function is None else derive(function, sample, definition)
    needed = fit_memory(rows, frame_bytes, len(build_features(sample, definition, derived).columns))
    return needed, needed / max(1, rows)


def memory_refusal(
    needed: int, in_use: int, limit: int | None, rows: int, bytes_per_row: float
) -> str | None:
    """Why the local engine must not start (with what to do instead), or None when it fits."""
    if limit is None or in_use + needed <= limit:
        return None
    return (
        f"training {rows:,} rows on the local engine needs about {(in_use + needed) / GIB:.2f} GiB "
        f"({bytes_per_row:.0f} bytes a row as measured on a sample, plus {in_use / GIB:.2f} GiB in use), "
        f"over this Job's memory limit of {limit / GIB:.2f} GiB: it would be OOM-killed. Train on the Dask "
        "cluster instead: MLOPS_TRAIN_ENGINE=dask with MLOPS_DASK_ADDRESS (in the chart: "
        "dask.enabled=true), or raise the train deployment's memory_limit."
    )


def cluster_refusal(needed: int, worker_limits: list[int], rows: int, bytes_per_row: float) -> str | None:
    """Why the dask engine must not load the dataset (with what to do instead), or None when its workers
    together hold the fit. A worker without a memory limit (0) leaves nothing to check."""
    if not worker_limits or min(worker_limits) <= 0 or needed <= sum(worker_limits):
        return None
    return (
        f"training {rows:,} rows on the Dask cluster needs about {needed / GIB:.2f} GiB across its workers "
        f"({bytes_per_row:.0f} bytes a row as measured on a sample), more than the memory limits of its "
        f"{len(worker_limits)} workers together, {sum(worker_limits) / GIB:.2f} GiB: they would pause or be "
        "killed. Add workers (in the chart: dask.workers) or give each more memory "
        "(dask.worker.resources.limits.memory)."
    )
