"""Every validation rule of the loan demo's definition and across batches, each with a passing and a failing
case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.contracts import MAX_BATCH_NUMBER
from flows.logic.contract import conform, frame_problems
from flows.logic.demo import generate_batch
from flows.logic.validation import (
    BatchRejected,
    check_batch_order,
    identical_file_problem,
    index_of,
    repeated_row_problems,
    reused_id_problems,
    row_hashes,
    sorted_ids,
)
from tests.definitions import loan


@pytest.fixture
def batch() -> pd.DataFrame:
    return generate_batch(1, 50)


def test_demo_batch_is_valid(batch: pd.DataFrame) -> None:
    assert frame_problems(batch, loan()) == []


def test_missing_column_is_named(batch: pd.DataFrame) -> None:
    assert frame_problems(batch.drop(columns=["credit_score"]), loan()) == ["missing columns: 'credit_score'"]


def test_unexpected_column_is_named(batch: pd.DataFrame) -> None:
    assert frame_problems(batch.assign(extra=1), loan()) == ["unexpected columns: 'extra'"]


def test_duplicated_column_is_named(batch: pd.DataFrame) -> None:
    doubled = pd.concat([batch, batch[["age"]]], axis=1)
    assert frame_problems(doubled, loan()) == ["duplicated columns: 'age'"]


def test_empty_batch_is_rejected(batch: pd.DataFrame) -> None:
    assert frame_problems(batch.iloc[0:0], loan()) == ["batch is empty (no rows)"]


def test_text_in_numeric_column_is_named_with_an_example(batch: pd.DataFrame) -> None:
    bad = batch.astype({"annual_income": object})
    bad.loc[3, "annual_income"] = "lots"
    assert frame_problems(bad, loan()) == [
        "column 'annual_income' must be numeric: 1 value(s) are not numbers (e.g. 'lots')"
    ]


def test_numbers_too_big_for_int64_are_numbers_out_of_range(batch: pd.DataFrame) -> None:
    bad = batch.astype({"age": object})
    bad.loc[3, "age"] = str(10**30)  # what a CSV reader leaves for an integer beyond int64
    assert frame_problems(bad, loan()) == ["column 'age' has 1 value(s) outside [18, 100] (e.g. 1e+30)"]


def test_huge_float_is_out_of_range(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[3, "annual_income"] = 1e300
    assert frame_problems(bad, loan()) == [
        "column 'annual_income' has 1 value(s) outside [1, 1e+08] (e.g. 1e+300)"
    ]


def test_numeric_text_columns_are_conformed_to_numbers(batch: pd.DataFrame) -> None:
    as_text = batch.astype({"age": str, "annual_income": str})
    assert frame_problems(as_text, loan()) == []
    pd.testing.assert_frame_equal(conform(as_text, loan()), conform(batch, loan()))


@pytest.mark.parametrize(("separator", "name"), [(";", "';'"), ("\t", "tabs"), ("|", "'|'")])
def test_a_header_joined_by_another_separator_is_named(
    batch: pd.DataFrame, separator: str, name: str
) -> None:
    one_column = pd.DataFrame({separator.join(batch.columns): ["x"]})
    message = f"columns are separated by {name}, not commas: land comma-separated CSV"
    assert frame_problems(one_column, loan()) == [message]


def test_a_single_unknown_column_is_not_taken_for_a_separator_problem() -> None:
    problems = frame_problems(pd.DataFrame({"notes;remarks": ["x"]}), loan())
    assert problems[0].startswith("missing columns: 'application_id'")


def test_fractional_value_in_integer_column(batch: pd.DataFrame) -> None:
    bad = batch.astype({"age": "float64"})
    bad.loc[0, "age"] = 30.5
    assert frame_problems(bad, loan()) == [
        "column 'age' must hold whole numbers: 1 value(s) have a fraction (e.g. 30.5)"
    ]


def test_whole_floats_are_accepted_for_integer_columns(batch: pd.DataFrame) -> None:
    assert frame_problems(batch.astype({"age": "float64"}), loan()) == []


def test_label_nulls_are_counted(batch: pd.DataFrame) -> None:
    bad = batch.astype({"defaulted": "float64"})
    bad.loc[[1, 2], "defaulted"] = np.nan
    assert frame_problems(bad, loan()) == ["label 'defaulted' has 2 null value(s)"]


def test_feature_nulls_are_counted(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[5, "purpose"] = None
    assert frame_problems(bad, loan()) == ["column 'purpose' has 1 null value(s)"]


def test_out_of_range_value_is_reported_with_an_example(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[0, "age"] = 150
    assert frame_problems(bad, loan()) == ["column 'age' has 1 value(s) outside [18, 100] (e.g. 150)"]


def test_label_outside_zero_one(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[0, "defaulted"] = 2
    assert frame_problems(bad, loan()) == [
        "label 'defaulted' has 1 value(s) not among its values (e.g. 2); allowed: 0, 1"
    ]


def test_infinite_value(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[0, "debt_to_income"] = np.inf
    assert frame_problems(bad, loan()) == ["column 'debt_to_income' has 1 infinite or overflowing value(s)"]


def test_unknown_category(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[0, "home_ownership"] = "CASTLE"
    problems = frame_problems(bad, loan())
    assert len(problems) == 1
    assert problems[0].startswith(
        "column 'home_ownership' has 1 value(s) not among its values (e.g. 'CASTLE')"
    )


def test_duplicate_ids(batch: pd.DataFrame) -> None:
    ids = batch["application_id"].to_numpy(copy=True)
    ids[1] = ids[0]
    assert frame_problems(batch.assign(application_id=ids), loan()) == [
        f"1 duplicate 'application_id' value(s) (e.g. {ids[0]})"
    ]


def test_boolean_column_is_not_numeric(batch: pd.DataFrame) -> None:
    bad = batch.assign(defaulted=batch["defaulted"].astype(bool))
    assert frame_problems(bad, loan()) == ["label 'defaulted' holds true/false values; it must be numeric"]


def test_all_problems_are_listed_not_just_the_first(batch: pd.DataFrame) -> None:
    bad = batch.copy()
    bad.loc[0, "age"] = 5
    bad.loc[0, "credit_score"] = 9000
    assert len(frame_problems(bad, loan())) == 2


@pytest.mark.parametrize("number", [0, -1, True, 1.5])
def test_batch_number_must_be_a_positive_integer(number: object) -> None:
    assert check_batch_order(number, []) == [  # type: ignore[arg-type]
        f"batch_number must be a positive integer, got {number!r}"
    ]


def test_batch_number_has_an_upper_bound() -> None:
    assert check_batch_order(MAX_BATCH_NUMBER, range(1, 3)) == [
        f"batch {MAX_BATCH_NUMBER} cannot be ingested before batch 3 (ingested so far: [1, 2])"
    ]
    assert check_batch_order(MAX_BATCH_NUMBER + 1, []) == [
        f"batch_number must be at most {MAX_BATCH_NUMBER}, got {MAX_BATCH_NUMBER + 1}"
    ]
    assert check_batch_order(10**30, []) == [f"batch_number must be at most {MAX_BATCH_NUMBER}, got {10**30}"]


def test_batches_are_ingested_in_order() -> None:
    assert check_batch_order(1, []) == []
    assert check_batch_order(2, [1]) == []
    assert check_batch_order(2, [1, 2]) == []  # re-ingestion
    assert check_batch_order(3, [1]) == ["batch 3 cannot be ingested before batch 2 (ingested so far: [1])"]


def test_rejection_message_lists_the_problems() -> None:
    exc = BatchRejected(4, ["a", "b"])
    assert str(exc) == "batch 4 rejected: a; b"


def test_conform_orders_columns_and_does_not_mutate(batch: pd.DataFrame) -> None:
    shuffled = batch[list(reversed(batch.columns))].astype({"age": "float64"})
    before = shuffled.copy()
    out = conform(shuffled, loan())
    assert list(out.columns) == [c.name for c in loan().columns]
    assert out["age"].dtype == np.int64
    pd.testing.assert_frame_equal(shuffled, before)


def test_ids_used_by_an_earlier_batch_are_counted_per_batch_with_an_example() -> None:
    earlier = {1: sorted_ids(pd.Series([5, 1, 3])), 2: sorted_ids(pd.Series([10, 20]))}
    assert reused_id_problems(pd.Series([2, 4, 6], name="application_id"), earlier) == []
    problems = reused_id_problems(pd.Series([7, 3, 20, 1], name="application_id"), earlier)
    assert problems == [
        "2 'application_id' value(s) were already used by batch 1 (e.g. 3): ids are never reused across "
        "batches; land only new rows",
        "1 'application_id' value(s) were already used by batch 2 (e.g. 20): ids are never reused across "
        "batches; land only new rows",
    ]
    assert reused_id_problems(pd.Series([99], name="id"), {1: sorted_ids(pd.Series([], dtype="int64"))}) == []


def test_an_id_index_is_sorted_and_unique() -> None:
    assert sorted_ids(pd.Series([3, 1, 3, 2])).tolist() == [1, 2, 3]


def test_a_file_identical_to_an_earlier_batch_is_named() -> None:
    assert identical_file_problem("abc", {1: "xyz"}) is None
    assert identical_file_problem("abc", {2: "abc", 1: "abc"}) == (
        "the file is byte-identical to the one batch 1 was ingested from (md5 abc)"
    )


def test_rows_that_repeat_an_earlier_batch_under_new_ids_are_counted_with_an_example() -> None:
    first = conform(generate_batch(1, 40), loan())
    copied = first.assign(application_id=first["application_id"] + 10**9)
    earlier = {1: index_of(first, loan()).rows}
    assert repeated_row_problems(conform(generate_batch(2, 40), loan()), "application_id", earlier) == []
    [problem] = repeated_row_problems(copied, "application_id", earlier)
    assert problem.startswith(
        f"40 row(s) repeat rows of batch 1 under new 'application_id' values (e.g. 'application_id' "
        f"{copied['application_id'].iloc[0]})"
    )
    one_changed = copied.assign(age=copied["age"].where(copied.index != 0, 99))
    assert repeated_row_problems(one_changed, "application_id", earlier)[0].startswith("39 row(s)")


def test_a_row_hash_ignores_the_id_and_sees_every_other_column() -> None:
    rows = conform(generate_batch(1, 3), loan())

    def hashes(frame: pd.DataFrame) -> pd.Series:
        return row_hashes(frame, "application_id")

    assert (hashes(rows) == hashes(rows.assign(application_id=[7, 8, 9]))).all()
    assert (hashes(rows) != hashes(rows.assign(defaulted=1 - rows["defaulted"]))).all()
