"""Bad batches end with a clear error naming the problem, and change nothing anywhere."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from flows.adapters.catalog import Catalog
from flows.logic.demo import generate_batch
from flows.training_flow import training_pipeline
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


# (name, how batch 2's landing file is made from a good frame, expected message)
BAD_FILES: list[tuple[str, Callable[[pd.DataFrame], bytes], str]] = [
    (
        "missing column",
        lambda f: csv_bytes(f.drop(columns=["credit_score"])),
        "missing columns: credit_score",
    ),
    (
        "wrong dtype",
        lambda f: csv_bytes(with_value("annual_income", "lots", object)(f)),
        "column 'annual_income' must be numeric",
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
        "label 'defaulted' has 1 value(s) outside {0, 1}",
    ),
    (
        "unknown category",
        lambda f: csv_bytes(with_value("purpose", "yacht")(f)),
        "column 'purpose' has unknown value(s) 'yacht'",
    ),
    ("extra column", lambda f: csv_bytes(f.assign(zip_code=12345)), "unexpected columns: zip_code"),
    (
        "infinity",
        lambda f: csv_bytes(with_value("debt_to_income", np.inf)(f)),
        "column 'debt_to_income' has 1 infinite",
    ),
    ("duplicate ids", lambda f: csv_bytes(duplicate_first_id(f)), "1 duplicate application_id value(s)"),
    ("empty file", lambda f: b"", "batch_2.csv is empty (0 bytes)"),
    ("header only", lambda f: csv_bytes(f.iloc[0:0]), "batch is empty (no rows)"),
    ("unreadable file", lambda f: gzip.compress(csv_bytes(f)), "batch_2.csv is unreadable"),
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


def test_truncated_parquet_is_unreadable(after_batch_1: Platform) -> None:
    reset_landing(after_batch_1)
    buffer = io.BytesIO()
    generate_batch(2, GOOD_ROWS).to_parquet(buffer, index=False)
    land_bytes(after_batch_1, "batch_2.parquet", buffer.getvalue()[: buffer.tell() // 2])
    assert_rejected_without_trace(
        after_batch_1, lambda: training_pipeline(2), "batch_2.parquet is unreadable"
    )


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (0, "batch_number must be a positive integer, got 0"),
        (-1, "batch_number must be a positive integer, got -1"),
        (3, "batch 3 cannot be ingested before batch 2"),
        (2, "batch 2 does not exist: no batch_2.parquet or batch_2.csv in s3://"),
    ],
)
def test_bad_batch_numbers_are_rejected_and_change_nothing(
    after_batch_1: Platform, batch: int, message: str
) -> None:
    reset_landing(after_batch_1)
    land_frame(after_batch_1, 3, generate_batch(3, GOOD_ROWS))
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(batch), message)


def test_a_changed_landing_file_for_an_ingested_batch_is_refused(after_batch_1: Platform) -> None:
    reset_landing(after_batch_1)
    land_frame(after_batch_1, 1, generate_batch(1, GOOD_ROWS + 1))
    try:
        assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(1), "batches are immutable")
    finally:
        land_frame(after_batch_1, 1, generate_batch(1, GOOD_ROWS))
