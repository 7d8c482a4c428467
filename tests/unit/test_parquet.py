"""Parquet written a row group at a time, or as parts, and read back gives exactly the frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from flows.adapters.dvc_store import content_md5
from flows.adapters.parquet import (
    parts_of,
    read_parquet,
    read_parquet_head,
    write_parquet,
    write_parquet_parts,
)
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


def test_parts_are_about_the_size_asked_and_read_back_as_the_frame_in_order(tmp_path: Path) -> None:
    frame, _ = prepare_dataset([generate_batch(1, 60_000)], loan())
    part_bytes = 256 * 1024
    count = write_parquet_parts(frame, tmp_path / "dataset", part_bytes)
    parts = parts_of(tmp_path / "dataset")
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(count)] and count >= 4
    sizes = [part.stat().st_size for part in parts]
    assert all(0.5 * part_bytes < size < 1.2 * part_bytes for size in sizes), sizes
    rows = [pq.ParquetFile(part).metadata.num_rows for part in parts]
    assert max(rows) - min(rows) <= 1, rows  # equal rows: workers given as many parts hold as many rows
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "dataset"), frame)
    holdout = read_parquet(tmp_path / "dataset", [(SPLIT_COLUMN, "==", "holdout")])
    pd.testing.assert_frame_equal(holdout, frame[frame[SPLIT_COLUMN] == "holdout"].reset_index(drop=True))
    pd.testing.assert_frame_equal(read_parquet_head(tmp_path / "dataset", 10), frame.head(10))


def test_the_same_frame_gives_the_same_parts_byte_for_byte(tmp_path: Path) -> None:
    """A re-run of prepare must push the same DVC directory (same md5), or it would rewrite history."""
    frame, _ = prepare_dataset([generate_batch(1, 30_000)], loan())
    write_parquet_parts(frame, tmp_path / "a", 128 * 1024)
    write_parquet_parts(frame, tmp_path / "b", 128 * 1024)
    assert content_md5(tmp_path / "a") == content_md5(tmp_path / "b")
    assert content_md5(tmp_path / "a").endswith(".dir")


def test_an_empty_frame_is_one_part_that_keeps_its_columns(tmp_path: Path) -> None:
    frame = generate_batch(1, 10).iloc[:0]
    assert write_parquet_parts(frame, tmp_path / "dataset", 1024**2) == 1
    assert list(read_parquet(tmp_path / "dataset").columns) == list(frame.columns)


def test_a_directorys_md5_is_the_one_dvc_gives_it(tmp_path: Path) -> None:
    """content_md5 computes DVC's `.dir` hash (tests/integration checks it against `dvc add` itself)."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "p0").write_bytes(b"a")
    (tmp_path / "d" / "p1").write_bytes(b"bb")
    # DVC 3's `.dir` manifest of these two files, and its md5 (`dvc add d`).
    assert content_md5(tmp_path / "d") == "7bb0b5d70f85b6ff84db2eed8254cefb.dir"
    assert content_md5(tmp_path / "d" / "p1") == "21ad0bd836b90d08f4cf640b4c298e7c"
