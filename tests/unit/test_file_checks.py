"""Landing bytes a parser would choke on are named before it sees them; good CSV and Parquet pass."""

from __future__ import annotations

import codecs
import gzip
import io

import pandas as pd
import pytest

from flows.logic import file_checks
from flows.logic.demo import generate_batch
from flows.logic.file_checks import csv_bytes_problem, parquet_bytes_problem, utf8_problem


@pytest.fixture
def csv() -> bytes:
    return generate_batch(1, 20).to_csv(index=False).encode()


@pytest.fixture
def parquet() -> bytes:
    buffer = io.BytesIO()
    generate_batch(1, 20).to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_utf8_csv_passes_with_or_without_a_byte_order_mark(csv: bytes) -> None:
    assert csv_bytes_problem(csv) is None
    assert csv_bytes_problem(codecs.BOM_UTF8 + csv) is None


def test_latin1_bytes_are_located_by_line_and_column() -> None:
    data = "a,b\n1,café\n".encode("latin-1")
    assert csv_bytes_problem(data) == (
        "is not UTF-8 text: byte 0xe9 at line 2, column 6 (Latin-1 or Windows-1252?): save it as UTF-8"
    )


def test_invalid_utf8_across_a_chunk_boundary_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_checks, "_CHUNK", 4)
    # "é" (2 bytes) split by the boundary at 4 decodes; the stray 0xff at offset 7 does not.
    data = "abcé,x".encode() + b"\xff\n"
    assert utf8_problem("abcé,x\n".encode()) is None
    problem = utf8_problem(data)
    assert problem is not None and "byte 0xff at line 1, column 8" in problem


@pytest.mark.parametrize(("encoding", "name"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_wide_encodings_are_named(encoding: str, name: str) -> None:
    problem = csv_bytes_problem("a,b\n1,2\n".encode(encoding))
    assert problem == f"is {name} text (it starts with a {name} byte order mark): save it as UTF-8"


def test_other_formats_under_a_csv_name_are_named(csv: bytes, parquet: bytes) -> None:
    assert csv_bytes_problem(gzip.compress(csv)) == "is gzip-compressed, not a CSV file: land it uncompressed"
    assert csv_bytes_problem(parquet) == "is a Parquet file, not a CSV file: land it as batch_<N>.parquet"
    assert csv_bytes_problem(b"PK\x03\x04rest") == (
        "is a zip archive (an Excel workbook?), not a CSV file: export it as CSV"
    )


def test_whole_parquet_passes(parquet: bytes) -> None:
    assert parquet_bytes_problem(parquet) is None
    pd.read_parquet(io.BytesIO(parquet))  # and it really is one


def test_truncated_or_foreign_parquet_is_named(csv: bytes, parquet: bytes) -> None:
    assert parquet_bytes_problem(parquet[: len(parquet) // 2]) == (
        "is not a complete Parquet file (its PAR1 footer is missing: a truncated upload?)"
    )
    assert parquet_bytes_problem(b"PAR1") is not None
    assert parquet_bytes_problem(csv) == "is not a Parquet file (it does not start with PAR1)"
