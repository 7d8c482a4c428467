"""Reading a batch from the landing location: `batch_<N>.csv` or `batch_<N>.parquet`."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import fsspec
import pandas as pd

from flows.adapters.objectstore import open_fs
from flows.logic.file_checks import csv_bytes_problem, parquet_bytes_problem
from flows.logic.refusal import Refusal, quoted
from flows.settings import Settings

SUFFIXES = (".parquet", ".csv")


class LandingError(Refusal):
    """The landing file is missing, too big or unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [])


@dataclass(frozen=True)
class LandingFile:
    uri: str
    md5: str
    frame: pd.DataFrame


def landing_uri(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def landing_name(batch_number: int, suffix: str) -> str:
    """The file name a batch lands under, e.g. batch_3.csv."""
    return f"batch_{batch_number}{suffix}"


def _landed_paths(batch_number: int, fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    candidates = [f"{root.rstrip('/')}/{landing_name(batch_number, s)}" for s in SUFFIXES]
    return [p for p in candidates if fs.exists(p)]


def missing_batches(batches: Sequence[int], settings: Settings) -> list[int]:
    """Those of `batches` with no file in the landing location."""
    fs, root = open_fs(settings.resolved_landing_url, settings)
    return [b for b in batches if not _landed_paths(b, fs, root)]


def write_landing_batch(frame: pd.DataFrame, batch_number: int, fmt: str, settings: Settings) -> str:
    """Land a batch as CSV or Parquet; returns its URI."""
    base = settings.resolved_landing_url
    fs, root = open_fs(base, settings)
    fs.makedirs(root, exist_ok=True)
    name = landing_name(batch_number, f".{fmt}")
    with fs.open(f"{root.rstrip('/')}/{name}", "wb") as handle:
        if fmt == "csv":
            frame.to_csv(handle, index=False)
        else:
            frame.to_parquet(handle, index=False)
    return landing_uri(base, name)


def read_landing_batch(batch_number: int, settings: Settings) -> LandingFile:
    """The batch's rows, read only after the file is found, sized and hashed."""
    base = settings.resolved_landing_url
    fs, root = open_fs(base, settings)
    present = _landed_paths(batch_number, fs, root)
    if not present:
        names = " or ".join(landing_name(batch_number, s) for s in SUFFIXES)
        raise LandingError(f"batch {batch_number} does not exist: no {names} in {base}")
    if len(present) > 1:
        raise LandingError(f"batch {batch_number} is ambiguous: both .csv and .parquet in {base}")
    path = present[0]
    uri = landing_uri(base, path.rsplit("/", 1)[-1])
    size = int(fs.size(path))
    if size > settings.max_batch_bytes:
        raise LandingError(
            f"{uri} is {size} bytes, over the limit of {settings.max_batch_bytes} (MLOPS_MAX_BATCH_BYTES)"
        )
    data = fs.cat_file(path)
    return LandingFile(uri=uri, md5=hashlib.md5(data).hexdigest(), frame=parse_batch(data, uri))


def parse_batch(data: bytes, uri: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes; a wrong format or encoding, or any parse failure, is one clear error naming
    the file."""
    if not data:
        raise LandingError(f"{uri} is empty (0 bytes)")
    parquet = uri.endswith(".parquet")
    problem = parquet_bytes_problem(data) if parquet else csv_bytes_problem(data)
    if problem:
        raise LandingError(f"{uri} {problem}")
    try:
        frame = pd.read_parquet(io.BytesIO(data)) if parquet else _read_csv(data)
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise LandingError(f"{uri} is unreadable: {type(exc).__name__}: {exc}") from exc
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.name is None and index.start == 0 and index.step == 1:
        return frame
    if parquet:  # pandas wrote its index into the file's metadata (to_parquet without index=False)
        names = [str(n) for n in frame.index.names if n is not None]
        what = f"the column(s) {quoted(names)}" if names else "an index"
        raise LandingError(
            f"{uri} stores {what} as the table's index, not as columns: write it with "
            "frame.reset_index().to_parquet(path, index=False)"
        )
    # pandas takes the first column as an index when the rows have one field more than the header.
    raise LandingError(
        f"{uri} has one field more in its data rows than in its header (a comma at the end of each row?): "
        "remove the trailing commas"
    )


def _read_csv(data: bytes) -> pd.DataFrame:
    # utf-8-sig: a UTF-8 byte order mark (Excel's "CSV UTF-8" writes one) is dropped, not glued to the
    # first column's name; the rows are the same as without it.
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    # pandas renames a repeated header (age, age.1); validation must see the header as the file has it.
    header = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", header=None, nrows=1, dtype=str)
    names = [str(name) for name in header.iloc[0]] if len(header) else []
    if len(names) == len(frame.columns) and len(set(names)) < len(names):
        frame.columns = pd.Index(names)
    return frame
