"""Features, labels, row ids and the stable split, all from a dataset definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.logic.contract import conform
from flows.logic.demo import ID_STRIDE, generate_batch
from flows.logic.features import (
    ROW_ID_COLUMN,
    UnseenCategory,
    assign_split,
    build_features,
    encode_labels,
    feature_names,
    loan_ratios,
    prepare_dataset,
    stable_unit_interval,
    with_ids,
)
from tests.definitions import customers, loan

# The loan demo's model inputs before definitions existed: the same columns in the same order.
LOAN_FEATURES = (
    ["age", "annual_income", "employment_years", "credit_score", "debt_to_income", "open_accounts"]
    + ["delinquencies_2y", "loan_amount", "term_months", "loan_to_income", "payment_to_income", "log_income"]
    + [f"home_ownership__{v}" for v in ("RENT", "OWN", "MORTGAGE", "OTHER")]
    + [
        f"purpose__{v}"
        for v in ("debt_consolidation", "credit_card", "home_improvement", "car", "medical", "small_business")
    ]
    + ["purpose__other"]
)


def customer_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "default": ["No", "Yes", "No", "No"],
            "student": ["Yes", "No", "No", "Yes"],
            "balance": [100.0, None, 2500.5, 100.0],
            "income": [40000.0, 12000.0, 55000.0, 40000.0],
            "cards": [1, 0, 3, 1],
        }
    )


def loan_features(rows: int = 200) -> pd.DataFrame:
    raw = conform(generate_batch(1, rows), loan())
    return build_features(raw, loan(), loan_ratios(raw))


def test_the_loan_demo_keeps_its_features_in_their_order() -> None:
    features = loan_features()
    assert list(features.columns) == LOAN_FEATURES
    assert feature_names(loan(), ["loan_to_income", "payment_to_income", "log_income"]) == LOAN_FEATURES
    assert all(features[c].dtype == np.float64 for c in features.columns)
    assert np.isfinite(features.to_numpy()).all()


def test_one_hot_marks_exactly_one_category_per_row() -> None:
    features = loan_features()
    home = [c for c in LOAN_FEATURES if c.startswith("home_ownership__")]
    assert (features[home].sum(axis=1) == 1).all()


def test_ratio_features() -> None:
    raw = conform(generate_batch(1, 3), loan())
    features = build_features(raw, loan(), loan_ratios(raw))
    np.testing.assert_allclose(features["loan_to_income"], raw["loan_amount"] / raw["annual_income"])


def test_build_features_does_not_mutate_input() -> None:
    raw = conform(generate_batch(1, 20), loan())
    before = raw.copy()
    build_features(raw, loan(), loan_ratios(raw))
    pd.testing.assert_frame_equal(raw, before)


def test_a_null_number_is_missing_and_a_null_category_is_all_zeros() -> None:
    rows = customer_rows().assign(student=pd.Series(["Yes", None, "No", "Yes"], dtype=object))
    columns = customers().model_dump()["columns"]
    columns[1]["nullable"] = True
    definition = customers(columns=columns)
    features = build_features(conform(rows, definition), definition)
    assert list(features.columns) == ["balance", "income", "cards", "student__No", "student__Yes"]
    assert np.isnan(features["balance"].iloc[1])
    assert list(features[["student__No", "student__Yes"]].iloc[1]) == [0.0, 0.0]


def test_an_unseen_category_is_refused_or_missing_as_the_definition_says() -> None:
    rows = customer_rows().assign(student=["Yes", "Maybe", "No", "Yes"])
    with pytest.raises(UnseenCategory, match=r"column 'student' has 1 value\(s\).*'Maybe'"):
        build_features(rows, customers())
    lenient = customers(features={"unseen_categories": "missing"})
    features = build_features(rows, lenient)
    assert list(features[["student__No", "student__Yes"]].iloc[1]) == [0.0, 0.0]


def test_labels_are_encoded_for_each_task() -> None:
    rows = conform(customer_rows(), customers())
    assert encode_labels(rows["default"], customers()).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert encode_labels(pd.Series([0, 1, 1]), loan()).tolist() == [0.0, 1.0, 1.0]
    kind = {"name": "kind", "type": "category", "values": ["a", "b", "c"]}
    multiclass = customers(
        columns=[*customers().model_dump()["columns"][1:], kind],
        label={"column": "kind", "task": "multiclass", "classes": ["c", "a", "b"]},
    )
    assert encode_labels(pd.Series(["a", "b", "c", "a"]), multiclass).tolist() == [1.0, 2.0, 0.0, 1.0]
    regression = customers(label={"column": "income", "task": "regression"}, metric={"name": "mae"})
    assert encode_labels(rows["income"], regression).tolist() == rows["income"].tolist()


def test_without_an_id_equal_rows_get_equal_ids_and_the_same_split() -> None:
    rows = conform(customer_rows(), customers())
    framed = with_ids(rows, customers())
    assert framed.columns[0] == ROW_ID_COLUMN
    ids = framed[ROW_ID_COLUMN]
    assert ids[0] == ids[3]  # rows 0 and 3 are equal
    assert ids.nunique() == 3
    assert with_ids(rows.iloc[::-1].reset_index(drop=True), customers())[ROW_ID_COLUMN].iloc[0] == ids[3]
    split = assign_split(framed, customers())
    assert split[0] == split[3]


def test_rows_of_a_group_share_their_split() -> None:
    definition = customers(
        columns=customers().model_dump()["columns"] + [{"name": "household", "type": "integer"}],
        split={"group": "household", "holdout": 0.3, "validation": 0.3},
    )
    rows = pd.concat([customer_rows()] * 50, ignore_index=True)
    rows["income"] = np.arange(len(rows), dtype="float64")
    rows["household"] = np.arange(len(rows)) // 4
    framed = with_ids(conform(rows, definition), definition)
    split = pd.Series(assign_split(framed, definition))
    assert split.groupby(rows["household"]).nunique().max() == 1
    assert set(split) == {"train", "valid", "holdout"}
    assert "household" not in definition.feature_columns


def test_unit_interval_is_deterministic_and_uniform() -> None:
    keys = np.arange(100_000, dtype=np.uint64)
    u = stable_unit_interval(keys, 42)
    np.testing.assert_array_equal(u, stable_unit_interval(keys, 42))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    assert not np.array_equal(u, stable_unit_interval(keys, 43))


def test_split_of_a_row_never_changes_when_batches_are_added() -> None:
    first = generate_batch(1, 2000)
    later = pd.concat([generate_batch(2, 3000), first, generate_batch(3, 1000)])
    alone = assign_split(first, loan())
    together = assign_split(later, loan())
    mapping = dict(zip(later["application_id"], together, strict=True))
    assert [mapping[i] for i in first["application_id"]] == list(alone)


def test_the_loan_split_is_what_it_was_before_definitions() -> None:
    """An integer id is its own key: splitmix64 of the id, salted with the seed, as before."""
    ids = np.arange(10**10, 10**10 + 5000, dtype=np.int64)
    u = stable_unit_interval(ids.astype(np.uint64), 42)
    expected = np.where(u < 0.2, "holdout", np.where(u < 0.35, "valid", "train"))
    np.testing.assert_array_equal(assign_split(pd.DataFrame({"application_id": ids}), loan()), expected)


def test_split_fractions() -> None:
    split = pd.Series(assign_split(pd.DataFrame({"application_id": np.arange(50_000)}), loan()))
    shares = split.value_counts(normalize=True)
    assert shares["holdout"] == pytest.approx(0.2, abs=0.01)
    assert shares["valid"] == pytest.approx(0.15, abs=0.01)


def test_prepare_dataset_holds_all_rows_with_split_and_label() -> None:
    batches = [conform(generate_batch(n, 500), loan()) for n in (1, 2)]
    dataset, dropped = prepare_dataset(batches, loan())
    assert len(dataset) == 1000 and dropped == 0
    assert set(dataset["split"]) == {"train", "valid", "holdout"}
    assert dataset["application_id"].is_unique
    assert (dataset["application_id"] // ID_STRIDE).tolist() == [1] * 500 + [2] * 500
    assert list(dataset.columns) == [c.name for c in loan().columns] + ["split"]


def test_prepare_dataset_is_deterministic() -> None:
    batches = [conform(generate_batch(1, 300), loan())]
    pd.testing.assert_frame_equal(prepare_dataset(batches, loan())[0], prepare_dataset(batches, loan())[0])


def test_rows_without_a_label_are_dropped_when_the_definition_says_so() -> None:
    columns = customers().model_dump()["columns"]
    columns[0]["nullable"] = True
    definition = customers(columns=columns, label={**customers().label.model_dump(), "missing": "drop"})
    labels = pd.Series(["No", None, "Yes", None], dtype=object)
    rows = conform(customer_rows().assign(default=labels), definition)
    dataset, dropped = prepare_dataset([rows], definition)
    assert dropped == 2 and dataset["default"].tolist() == ["No", "Yes"]


def test_prepare_dataset_rejects_ids_repeated_across_batches() -> None:
    one = conform(generate_batch(1, 10), loan())
    with pytest.raises(ValueError, match="appear in more than one batch"):
        prepare_dataset([one, one], loan())


def test_prepare_dataset_needs_a_batch() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        prepare_dataset([], loan())


def test_a_nullable_integer_label_is_encoded_whether_or_not_its_batch_has_a_null() -> None:
    columns = customers().model_dump()["columns"] + [
        {"name": "churned", "type": "integer", "values": [0, 1], "nullable": True}
    ]
    definition = customers(columns=columns, label={"column": "churned", "task": "binary", "missing": "drop"})
    with_null = conform(customer_rows().assign(churned=pd.Series([1, None, 0, 1], dtype=object)), definition)
    without = conform(customer_rows().assign(churned=[1, 0, 0, 1]), definition)
    assert with_null["churned"].dtype == without["churned"].dtype == np.float64  # same hashes, same ids
    dataset, dropped = prepare_dataset([with_null], definition)
    assert dropped == 1 and encode_labels(dataset["churned"], definition).tolist() == [1.0, 0.0, 1.0]
    assert (
        with_ids(without, definition)[ROW_ID_COLUMN][0] == with_ids(with_null, definition)[ROW_ID_COLUMN][0]
    )


def test_names_xgboost_refuses_are_spelt_so_it_takes_them() -> None:
    columns = customers().model_dump()["columns"]
    columns[1]["values"] = ["<25", "[25, 60]"]
    definition = customers(columns=columns)
    rows = customer_rows().assign(student=["<25", "[25, 60]", "<25", "<25"])
    features = build_features(conform(rows, definition), definition)
    assert [c for c in features.columns if c.startswith("student")] == ["student__lt 25", "student__(25, 60)"]
    assert features["student__lt 25"].tolist() == [1.0, 0.0, 1.0, 1.0]


def test_a_category_of_numeric_codes_one_hot_encodes_as_it_validates() -> None:
    columns = customers().model_dump()["columns"]
    columns[1]["values"] = ["1", "2"]
    definition = customers(columns=columns)
    rows = customer_rows().assign(student=[1, 2, 2, 1])  # as a CSV reader gives codes
    features = build_features(rows, definition)
    assert features["student__1"].tolist() == [1.0, 0.0, 0.0, 1.0]
