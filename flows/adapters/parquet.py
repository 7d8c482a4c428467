"""Parquet in and out with bounded memory: the pipeline's frames are its largest objects.

`DataFrame.to_parquet` converts the whole frame to Arrow before writing, and `pd.read_parquet` holds the
Arrow table and the frame at once: both double the frame in memory. Here writing goes a row group at a
time, and reading frees each Arrow column as soon as pandas has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_GROUP = 131_072


def write_parquet(frame: pd.DataFrame, path: Path, rows_per_group: int = ROWS_PER_GROUP) -> None:
    if frame.empty:
        frame.to_parquet(path, index=False)
        return
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, len(frame), rows_per_group):
            chunk = pa.Table.from_pandas(frame.iloc[start : start + rows_per_group], preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, chunk.schema)
            writer.write_table(chunk)
    finally:
        if writer is not None:
            writer.close()


def parts_of(path: Path) -> list[Path]:
    """The Parquet files of a dataset: the file itself, or a directory's parts in their order."""
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def write_parquet_parts(frame: pd.DataFrame, directory: Path, part_bytes: int) -> int:
    """The frame as Parquet parts of about `part_bytes` each (`part-00000.parquet`, ...), its rows in order;
    how many. As many parts as `part_bytes` over the bytes a row the first rows take as Parquet asks for,
    of equal rows (so that workers given as many parts hold as many rows)."""
    directory.mkdir(parents=True, exist_ok=True)
    count = -(-len(frame) // _rows_per_part(frame, part_bytes))  # ceil
    rows = max(1, -(-len(frame) // max(1, count)))
    starts = range(0, max(1, len(frame)), rows)
    for number, start in enumerate(starts):
        write_parquet(frame.iloc[start : start + rows], directory / f"part-{number:05d}.parquet")
    return len(starts)


# Rows written to measure a frame's Parquet bytes a row: enough to amortise the footer, in milliseconds.
_MEASURED_ROWS = 20_000


def _rows_per_part(frame: pd.DataFrame, part_bytes: int) -> int:
    if frame.empty:
        return 1
    sample = frame.iloc[:_MEASURED_ROWS]
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), buffer)
    return max(1, int(part_bytes * len(sample) / buffer.getvalue().size))


def read_parquet(path: Path, filters: list[tuple[str, str, Any]] | None = None) -> pd.DataFrame:
    """The file, or the directory's parts in order, as a frame (only the rows matching `filters`,
    pyarrow's DNF form, when given)."""
    tables = [pq.read_table(part, filters=filters) for part in parts_of(path)]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return table.to_pandas(self_destruct=True, split_blocks=True)


def read_parquet_head(path: Path | BinaryIO, rows: int) -> pd.DataFrame:
    """The file's (a directory's first part's) first `rows` rows (fewer when it holds fewer), reading no
    more row groups than those."""
    file = pq.ParquetFile(parts_of(path)[0] if isinstance(path, Path) else path)
    batch = next(file.iter_batches(batch_size=rows), None)
    table = file.schema_arrow.empty_table() if batch is None else pa.Table.from_batches([batch])
    return table.to_pandas()
