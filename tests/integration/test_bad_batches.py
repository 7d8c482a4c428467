"""Bad batches end with a clear error naming the problem, and change nothing anywhere."""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from flows.adapters.catalog import Catalog
from flows.adapters.landing import parse_batch
from flows.adapters.parquet import write_parquet
from flows.logic.contract import conform
from flows.logic.demo import generate_batch
from flows.stages.ingest import ingest
from flows.training_flow import training_pipeline
from tests.bad_files import BAD_FILES, GOOD_ROWS, csv_bytes, parquet_bytes
from tests.definitions import loan
from tests.integration.conftest import Platform
from tests.integration.helpers import clear_landing, land_bytes, land_frame, registry_state, remote_objects


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


# One kind per way a file is refused: its bytes (the landing adapter), its parse (pandas), its columns and
# its values (the contract). Every kind's message is checked at the unit layer; refusing changes nothing
# whatever the kind, which is what these check end to end.
END_TO_END = ("gzip file named .csv", "a row with too many fields", "missing column", "out of range")


@pytest.mark.parametrize("kind", END_TO_END)
def test_bad_files_are_rejected_and_change_nothing(after_batch_1: Platform, kind: str) -> None:
    [(make, message)] = [(make, message) for name, make, message in BAD_FILES if name == kind]
    reset_landing(after_batch_1)
    land_bytes(after_batch_1, "batch_2.csv", make(generate_batch(2, GOOD_ROWS)))
    assert_rejected_without_trace(after_batch_1, lambda: training_pipeline(2), message)


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
