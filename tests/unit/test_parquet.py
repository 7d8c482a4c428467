"""Parquet written a row group at a time and read column by column gives back exactly the frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from flows.adapters.parquet import read_parquet, write_parquet
from flows.logic.demo import generate_batch
from flows.logic.features import SPLIT_COLUMN, prepare_dataset
from tests.definitions import loan


def test_round_trip_is_exact_across_row_groups(tmp_path: Path) -> None:
    frame, _ = prepare_dataset([generate_batch(1, 1000)], loan())
    path = tmp_path / "d.parquet"
    write_parquet(frame, path, rows_per_group=300)
    assert pq.ParquetFile(path).num_row_groups == 4
    pd.testing.assert_frame_equal(read_parquet(path), frame)
    pd.testing.assert_frame_equal(read_parquet(path), pd.read_parquet(path))


def test_a_filter_reads_one_split(tmp_path: Path) -> None:
    frame, _ = prepare_dataset([generate_batch(1, 1000)], loan())
    path = tmp_path / "d.parquet"
    write_parquet(frame, path, rows_per_group=300)
    holdout = read_parquet(path, [(SPLIT_COLUMN, "==", "holdout")])
    expected = frame[frame[SPLIT_COLUMN] == "holdout"].reset_index(drop=True)
    assert len(holdout) > 0
    pd.testing.assert_frame_equal(holdout, expected)


def test_an_empty_frame_keeps_its_columns(tmp_path: Path) -> None:
    frame = generate_batch(1, 10).iloc[:0]
    path = tmp_path / "empty.parquet"
    write_parquet(frame, path)
    assert list(read_parquet(path).columns) == list(frame.columns)
