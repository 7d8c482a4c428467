"""parse_batch: landing bytes to a frame, with the header as the file has it, or one clear LandingError."""

from __future__ import annotations

import codecs
import io
import re

import pandas as pd
import pytest

from flows.adapters.landing import LandingError, parse_batch
from flows.logic.contract import conform, frame_problems
from flows.logic.demo import generate_batch
from tests.definitions import loan

URI = "s3://landing/batch_1.csv"


def test_a_utf8_byte_order_mark_is_dropped_and_the_rows_are_the_same() -> None:
    data = generate_batch(1, 30).to_csv(index=False).encode()
    with_bom = parse_batch(codecs.BOM_UTF8 + data, URI)
    assert list(with_bom.columns) == list(parse_batch(data, URI).columns)
    assert frame_problems(with_bom, loan()) == []
    pd.testing.assert_frame_equal(conform(with_bom, loan()), conform(parse_batch(data, URI), loan()))


def test_a_repeated_header_reaches_validation_unrenamed() -> None:
    frame = generate_batch(1, 5)
    data = pd.concat([frame, frame[["age"]]], axis=1).to_csv(index=False).encode()
    assert frame_problems(parse_batch(data, URI), loan()) == ["duplicated columns: 'age'"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "batch_1.csv is empty (0 bytes)"),
        ("a,b\n1,é\n".encode("latin-1"), "batch_1.csv is not UTF-8 text: byte 0xe9 at line 2"),
        (b"\n\n", "batch_1.csv is unreadable: EmptyDataError"),
    ],
)
def test_unparseable_bytes_name_the_file(data: bytes, message: str) -> None:
    with pytest.raises(LandingError, match=re.escape(message)):
        parse_batch(data, URI)


def test_a_trailing_comma_on_every_data_row_is_named() -> None:
    lines = generate_batch(1, 5).to_csv(index=False).splitlines()
    data = "\n".join([lines[0], *(line + "," for line in lines[1:])]).encode()
    with pytest.raises(LandingError, match=re.escape("one field more in its data rows than in its header")):
        parse_batch(data, URI)


def test_an_id_stored_as_the_parquet_index_is_named() -> None:
    buffer = io.BytesIO()
    generate_batch(1, 5).set_index("application_id").to_parquet(buffer)
    with pytest.raises(LandingError) as refused:
        parse_batch(buffer.getvalue(), "s3://landing/batch_1.parquet")
    assert "stores the column(s) 'application_id' as the table's index, not as columns" in str(refused.value)
