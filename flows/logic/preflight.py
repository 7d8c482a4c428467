"""The local engine's memory preflight: what a fit will hold, against what the process may hold. Pure."""

from __future__ import annotations

# The fit holds the frame, its float64 features, and copies of the train and valid rows' features for the
# quantile matrices: about frame + 2 x features. Measured on the loan demo (136 bytes a row as a frame, 27
# features): growth 3.6x the frame at 800k rows, this estimate 4.2x (15% over). tests/unit/test_memory.py
# checks it.
FEATURE_COPIES = 2


class MemoryPreflightError(RuntimeError):
    """The local engine would need more memory than this process may use."""


def fit_memory(rows: int, frame_bytes_per_row: float, features: int) -> int:
    """Bytes the local engine's fit grows by for `rows` rows of a frame holding `frame_bytes_per_row` a row,
    with `features` model inputs (float64 each)."""
    return int(rows * (frame_bytes_per_row + FEATURE_COPIES * 8 * features))


def memory_refusal(
    needed: int, in_use: int, limit: int | None, rows: int, bytes_per_row: float
) -> str | None:
    """Why the local engine must not start (with what to do instead), or None when it fits."""
    if limit is None or in_use + needed <= limit:
        return None
    gib = 1024**3
    return (
        f"training {rows:,} rows on the local engine needs about {(in_use + needed) / gib:.2f} GiB "
        f"({bytes_per_row:.0f} bytes a row as measured on a sample, plus {in_use / gib:.2f} GiB in use), "
        f"over this Job's memory limit of {limit / gib:.2f} GiB: it would be OOM-killed. Train on the Dask "
        "cluster instead: MLOPS_TRAIN_ENGINE=dask with MLOPS_DASK_ADDRESS (in the chart: "
        "dask.enabled=true), or raise the train deployment's memory_limit."
    )
