"""Bad landing files, each with the message a person gets for it: the unit layer checks every kind
(tests/unit/test_bad_files.py), the integration layer one kind per refusal path end to end."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable

import numpy as np
import pandas as pd

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
