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


def read_parquet(path: Path, filters: list[tuple[str, str, Any]] | None = None) -> pd.DataFrame:
    """The file as a frame (only the rows matching `filters`, pyarrow's DNF form, when given)."""
    table = pq.read_table(path, filters=filters)
    return table.to_pandas(self_destruct=True, split_blocks=True)


def read_parquet_head(path: Path | BinaryIO, rows: int) -> pd.DataFrame:
    """The file's first `rows` rows (fewer when it holds fewer), reading no more row groups than those."""
    file = pq.ParquetFile(path)
    batch = next(file.iter_batches(batch_size=rows), None)
    table = file.schema_arrow.empty_table() if batch is None else pa.Table.from_batches([batch])
    return table.to_pandas()
