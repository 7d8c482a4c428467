"""Bad batches end with a clear error naming the problem, and change nothing anywhere."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.adapters.catalog import Catalog
from flows.adapters.landing import parse_batch
from flows.adapters.parquet import write_parquet
from flows.logic.contract import conform
from flows.logic.demo import generate_batch
from flows.stages.ingest import ingest
from flows.training_flow import training_pipeline
from tests.definitions import loan
from tests.integration.conftest import Platform
from tests.integration.helpers import clear_landing, land_bytes, land_frame, registry_state, remote_objects

GOOD_ROWS = 1200


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def with_value(
    column: str, value: object, dtype: type | None = None
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        values = frame[column].to_numpy(dtype=dtype, copy=True)
        values[3] = value
        return frame.assign(**{column: values})

    return change


def duplicate_first_id(frame: pd.DataFrame) -> pd.DataFrame:
    ids = frame["application_id"].to_numpy(copy=True)
    ids[1] = ids[0]
    return frame.assign(application_id=ids)


def with_text(column: str, text: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Row 3 of `column` replaced by `text`, written into the CSV as is."""
    return with_value(column, text, object)


def repeated_column(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame[["age"]]], axis=1)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def xlsx_like(frame: pd.DataFrame) -> bytes:
    """A zip archive, as an Excel workbook is, holding the CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sheet1.csv", csv_bytes(frame))
    return buffer.getvalue()


def trailing_commas(frame: pd.DataFrame) -> bytes:
    """A comma at the end of every data row, not of the header: pandas would shift every column by one."""
    header, *rows = frame.to_csv(index=False).splitlines()
    return "\n".join([header, *(row + "," for row in rows)]).encode() + b"\n"


def many_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, pd.DataFrame({f"extra_{i}": 0 for i in range(3000)}, index=frame.index)], axis=1)


# (name, how batch 2's landing file is made from a good frame, expected message)
BAD_FILES: list[tuple[str, Callable[[pd.DataFrame], bytes], str]] = [
    (
        "missing column",
        lambda f: csv_bytes(f.drop(columns=["credit_score"])),
        "missing columns: 'credit_score'",
    ),
    (
        "text in a numeric column",
        lambda f: csv_bytes(with_text("annual_income", "lots")(f)),
        "column 'annual_income' must be numeric: 1 value(s) are not numbers (e.g. 'lots')",
    ),
    (
        "mixed types in an integer column",
        lambda f: csv_bytes(with_text("age", "forty")(f)),
        "column 'age' must be numeric: 1 value(s) are not numbers (e.g. 'forty')",
    ),
    (
        "fraction in an integer column",
        lambda f: csv_bytes(with_value("credit_score", 700.5, float)(f)),
        "column 'credit_score' must hold whole numbers",
    ),
    (
        "label nulls",
        lambda f: csv_bytes(with_value("defaulted", np.nan, float)(f)),
        "label 'defaulted' has 1 null value(s)",
    ),
    (
        "out of range",
        lambda f: csv_bytes(with_value("age", 150)(f)),
        "column 'age' has 1 value(s) outside [18, 100]",
    ),
    (
        "label not 0/1",
        lambda f: csv_bytes(with_value("defaulted", 3)(f)),
        "label 'defaulted' has 1 value(s) not among its values (e.g. 3); allowed: 0, 1",
    ),
    (
        "label -1",
        lambda f: csv_bytes(with_value("defaulted", -1)(f)),
        "label 'defaulted' has 1 value(s) not among its values (e.g. -1); allowed: 0, 1",
    ),
    (
        "label as true/false",
        lambda f: csv_bytes(f.assign(defaulted=f["defaulted"].map({0: "false", 1: "true"}))),
        "label 'defaulted' holds true/false values; it must be numeric",
    ),
    (
        "unknown category",
        lambda f: csv_bytes(with_value("purpose", "yacht")(f)),
        "column 'purpose' has 1 value(s) not among its values (e.g. 'yacht')",
    ),
    ("extra column", lambda f: csv_bytes(f.assign(zip_code=12345)), "unexpected columns: 'zip_code'"),
    (
        "3,000 extra columns: 20 named, the rest counted",
        lambda f: csv_bytes(many_columns(f)),
        "unexpected columns: 'extra_0', 'extra_1', 'extra_2', 'extra_3', 'extra_4', 'extra_5', 'extra_6', "
        "'extra_7', 'extra_8', 'extra_9', 'extra_10', 'extra_11', 'extra_12', 'extra_13', 'extra_14', "
        "'extra_15', 'extra_16', 'extra_17', 'extra_18', 'extra_19' and 2980 more",
    ),
    (
        "names that differ only by surrounding spaces",
        lambda f: csv_bytes(f.rename(columns={"age": " age", "purpose": "purpose "})),
        "column names with spaces around them: ' age', 'purpose ': remove the spaces "
        "(the definition declares 'age', 'purpose')",
    ),
    (
        "a comma and a space between columns",
        lambda f: csv_bytes(f).replace(b",", b", "),
        "columns are separated by ', ' (a comma and a space), not commas",
    ),
    (
        "a trailing comma on the data rows only",
        trailing_commas,
        "batch_2.csv has one field more in its data rows than in its header (a comma at the end of each row",
    ),
    ("duplicated column", lambda f: csv_bytes(repeated_column(f)), "duplicated columns: 'age'"),
    (
        "infinity",
        lambda f: csv_bytes(with_value("debt_to_income", np.inf)(f)),
        "column 'debt_to_income' has 1 infinite or overflowing value(s)",
    ),
    (
        "number overflowing a float",
        lambda f: csv_bytes(with_text("annual_income", "1e400")(f)),
        "column 'annual_income' has 1 infinite or overflowing value(s)",
    ),
    (
        "huge number",
        lambda f: csv_bytes(with_value("loan_amount", 1e300)(f)),
        "column 'loan_amount' has 1 value(s) outside [100, 1e+07] (e.g. 1e+300)",
    ),
    (
        "integer beyond int64",
        lambda f: csv_bytes(with_text("age", str(10**30))(f)),
        "column 'age' has 1 value(s) outside [18, 100] (e.g. 1e+30)",
    ),
    ("duplicate ids", lambda f: csv_bytes(duplicate_first_id(f)), "1 duplicate 'application_id' value(s)"),
    ("empty file", lambda f: b"", "batch_2.csv is empty (0 bytes)"),
    ("blank lines only", lambda f: b"\n\n", "batch_2.csv is unreadable: EmptyDataError"),
    ("header only", lambda f: csv_bytes(f.iloc[0:0]), "batch is empty (no rows)"),
    (
        "a row with too many fields",
        lambda f: csv_bytes(f) + b"1,2,3,4,5,6,7,8,9,10,11,12,13,14\n",
        "batch_2.csv is unreadable: ParserError",
    ),
    (
        "semicolon-separated",
        lambda f: f.to_csv(index=False, sep=";").encode(),
        "columns are separated by ';', not commas",
    ),
    (
        "tab-separated",
        lambda f: f.to_csv(index=False, sep="\t").encode(),
        "columns are separated by tabs, not commas",
    ),
    (
        "Latin-1 bytes",
        lambda f: csv_bytes(with_value("purpose", "café")(f)).decode().encode("latin-1"),
        "batch_2.csv is not UTF-8 text: byte 0xe9 at line 5",
    ),
    (
        "UTF-16",
        lambda f: f.to_csv(index=False).encode("utf-16"),
        "batch_2.csv is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8",
    ),
    (
        "gzip file named .csv",
        lambda f: gzip.compress(csv_bytes(f)),
        "batch_2.csv is gzip-compressed, not a CSV file: land it uncompressed",
    ),
    (
        "Parquet file named .csv",
        parquet_bytes,
        "batch_2.csv is a Parquet file, not a CSV file: land it as batch_<N>.parquet",
    ),
    (
        "Excel workbook named .csv",
        xlsx_like,
        "batch_2.csv is a zip archive (an Excel workbook?), not a CSV file: export it as CSV",
    ),
]


@pytest.fixture(scope="module")
def after_batch_1(module_platform: Platform) -> Platform:
    """Batch 1 ingested and trained; every test here must leave it so (that is what they check)."""
    land_frame(module_platform, 1, generate_batch(1, GOOD_ROWS))
    training_pipeline(1)
    return module_platform


def reset_landing(platform: Platform) -> None:
    """Only the good batch 1 in the landing location."""
    clear_landing(platform)
    land_frame(platform, 1, generate_batch(1, GOOD_ROWS))


def assert_rejected_without_trace(platform: Platform, run: Callable[[], object], message: str) -> None:
    objects, registry = remote_objects(platform), registry_state(platform)
    raws = Catalog(platform.settings).raw_versions()
    with pytest.raises(Exception, match=re.escape(message)):
        run()
    assert remote_objects(platform) == objects, "the DVC remote or catalog changed"
    assert registry_state(platform) == registry, "the model registry changed"
    assert Catalog(platform.settings).raw_versions() == raws


def test_bad_files_are_rejected_and_change_nothing(after_batch_1: Platform) -> None:
    platform = after_batch_1
    good = generate_batch(2, GOOD_ROWS)
    for name, make, message in BAD_FILES:
        reset_landing(platform)
        land_bytes(platform, "batch_2.csv", make(good))
        print(f"bad batch kind: {name}")
        assert_rejected_without_trace(platform, lambda: training_pipeline(2), message)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda data: data[: len(data) // 2], "batch_2.parquet is not a complete Parquet file"),
        (lambda data: data[: len(data) - 1], "batch_2.parquet is not a complete Parquet file"),
        (lambda data: b"application_id,age\n1,30\n", "batch_2.parquet is not a Parquet file"),
    ],
    ids=["truncated in half", "last byte missing", "CSV named .parquet"],
)
def test_broken_parquet_is_rejected_and_changes_nothing(
    after_batch_1: Platform, cut: Callable[[bytes], bytes], message: str
) -> None:
    reset_landing(after_batch_1)
    land_bytes(after_batch_1, "batch_2.parquet", cut(parquet_bytes(generate_batch(2, GOOD_ROWS))))
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(2), message)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda f: f.assign(annual_income=pd.Timestamp("2024-03-01") + pd.to_timedelta(f.index, "s")),
            "column 'annual_income' holds dates or times (e.g. 2024-03-01 00:00:00); it must be numeric",
        ),
        (
            lambda f: f.set_index("application_id"),
            "batch_2.parquet stores the column(s) 'application_id' as the table's index, not as columns",
        ),
    ],
    ids=["timestamps in a numeric column", "the id as the Parquet index"],
)
def test_parquet_mistakes_are_named_and_change_nothing(
    after_batch_1: Platform, make: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    reset_landing(after_batch_1)
    buffer = io.BytesIO()
    make(generate_batch(2, GOOD_ROWS)).to_parquet(buffer)  # as pandas writes it by default: with its index
    land_bytes(after_batch_1, "batch_2.parquet", buffer.getvalue())
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(2), message)


def test_a_batch_over_the_size_limit_is_refused_before_it_is_read(
    after_batch_1: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_landing(after_batch_1)
    data = csv_bytes(generate_batch(2, GOOD_ROWS))
    land_bytes(after_batch_1, "batch_2.csv", data)
    monkeypatch.setenv("MLOPS_MAX_BATCH_BYTES", str(len(data) - 1))
    message = f"batch_2.csv is {len(data)} bytes, over the limit of {len(data) - 1} (MLOPS_MAX_BATCH_BYTES)"
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(2), message)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (0, "batch_number: Input should be greater than or equal to 1"),
        (-1, "batch_number: Input should be greater than or equal to 1"),
        (10**12, "batch_number: Input should be less than or equal to 999999"),
        (1.5, "batch_number: Input should be a valid integer, got a number with a fractional part"),
        ("two", "batch_number: Input should be a valid integer, unable to parse string as an integer"),
        (3, "batch 3 cannot be ingested before batch 2"),
        (2, "batch 2 does not exist: no batch_2.parquet or batch_2.csv in s3://"),
    ],
)
def test_bad_batch_numbers_are_rejected_and_change_nothing(
    after_batch_1: Platform, batch: object, message: str
) -> None:
    reset_landing(after_batch_1)
    land_frame(after_batch_1, 3, generate_batch(3, GOOD_ROWS))
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(batch), message)  # type: ignore[call-overload]


def test_a_utf8_byte_order_mark_is_dropped_and_the_same_data_is_ingested(
    platform: Platform, tmp_path: Path
) -> None:
    """Excel's "CSV UTF-8" starts with a byte order mark. It carries no data, so the batch is accepted, and
    its raw version is byte for byte the one the same file without the mark gives (not a column named
    '\\ufeffapplication_id', nor a rejection that sends someone to strip invisible bytes by hand)."""
    plain = csv_bytes(generate_batch(1, GOOD_ROWS))
    land_bytes(platform, "batch_1.csv", codecs.BOM_UTF8 + plain)
    ingested = ingest(1)
    expected = tmp_path / "expected.parquet"
    write_parquet(conform(parse_batch(plain, "batch_1.csv"), loan()), expected)
    version = ingested.raw_versions[0]
    assert version.rows == GOOD_ROWS
    assert version.file.md5 == hashlib.md5(expected.read_bytes()).hexdigest()


def test_a_changed_landing_file_for_an_ingested_batch_is_refused(after_batch_1: Platform) -> None:
    reset_landing(after_batch_1)
    land_frame(after_batch_1, 1, generate_batch(1, GOOD_ROWS + 1))
    try:
        assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(1), "batches are immutable")
    finally:
        land_frame(after_batch_1, 1, generate_batch(1, GOOD_ROWS))


def test_reused_ids_copies_and_repeated_rows_are_refused_at_ingest_and_the_next_good_batch_trains(
    platform: Platform,
) -> None:
    """The wedge: batch 2 reusing batch 1's ids used to be versioned by ingest, then fail every prepare, and
    no corrected batch could land after it; batch 1's rows under new ids were trained on and promoted.
    Now ingest refuses each and writes nothing."""
    first = generate_batch(1, GOOD_ROWS)
    land_frame(platform, 1, first)
    training_pipeline(1)
    reused = generate_batch(2, GOOD_ROWS)
    reused.loc[:9, "application_id"] = first["application_id"].iloc[:10].to_numpy()
    land_frame(platform, 2, reused)
    message = (
        f"10 'application_id' value(s) were already used by batch 1 (e.g. {first['application_id'].iloc[0]})"
    )
    assert_rejected_without_trace(platform, lambda: training_pipeline(2), message)

    land_bytes(platform, "batch_2.csv", csv_bytes(first))  # a copy of batch 1's file
    assert_rejected_without_trace(platform, lambda: training_pipeline(2), "byte-identical to the one batch 1")

    # Batch 1's rows under new ids: they would land in the holdout too and inflate the gate's metric.
    copied = first.assign(application_id=first["application_id"] + 5 * 10**9)
    land_frame(platform, 2, copied)
    message = f"{GOOD_ROWS} row(s) repeat rows of batch 1 under new 'application_id' values"
    assert_rejected_without_trace(platform, lambda: training_pipeline(2), message)

    land_frame(platform, 2, generate_batch(2, GOOD_ROWS))  # the corrected batch 2
    summary = training_pipeline(2)
    assert summary.rows == 2 * GOOD_ROWS and summary.model_version == "2"
