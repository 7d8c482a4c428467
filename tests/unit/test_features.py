"""Features, the stable split and dataset preparation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.logic.demo import ID_STRIDE, generate_batch
from flows.logic.features import (
    FEATURE_COLUMNS,
    assign_split,
    build_features,
    prepare_dataset,
    stable_unit_interval,
)
from flows.logic.validation import conform


def test_features_are_numeric_and_complete() -> None:
    raw = conform(generate_batch(1, 200))
    features = build_features(raw)
    assert tuple(features.columns) == FEATURE_COLUMNS
    assert all(features[c].dtype == np.float64 for c in features.columns)
    assert np.isfinite(features.to_numpy()).all()


def test_one_hot_marks_exactly_one_category_per_row() -> None:
    features = build_features(conform(generate_batch(1, 200)))
    home = [c for c in FEATURE_COLUMNS if c.startswith("home_ownership__")]
    assert (features[home].sum(axis=1) == 1).all()


def test_ratio_features() -> None:
    raw = conform(generate_batch(1, 3))
    features = build_features(raw)
    expected = raw["loan_amount"] / raw["annual_income"]
    np.testing.assert_allclose(features["loan_to_income"], expected)


def test_build_features_does_not_mutate_input() -> None:
    raw = conform(generate_batch(1, 20))
    before = raw.copy()
    build_features(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_unit_interval_is_deterministic_and_uniform() -> None:
    ids = pd.Series(np.arange(100_000, dtype=np.int64))
    u = stable_unit_interval(ids, 42)
    np.testing.assert_array_equal(u, stable_unit_interval(ids, 42))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    assert not np.array_equal(u, stable_unit_interval(ids, 43))


def test_split_of_a_row_never_changes_when_batches_are_added() -> None:
    first = generate_batch(1, 2000)
    later = pd.concat([generate_batch(2, 3000), first, generate_batch(3, 1000)])
    alone = assign_split(first["application_id"], 0.2, 0.15, 7)
    together = assign_split(later["application_id"], 0.2, 0.15, 7)
    mapping = dict(zip(later["application_id"], together, strict=True))
    assert [mapping[i] for i in first["application_id"]] == list(alone)


def test_split_fractions() -> None:
    split = assign_split(pd.Series(np.arange(50_000, dtype=np.int64)), 0.2, 0.15, 1)
    shares = split.value_counts(normalize=True)
    assert shares["holdout"] == pytest.approx(0.2, abs=0.01)
    assert shares["valid"] == pytest.approx(0.15, abs=0.01)


def test_prepare_dataset_holds_all_rows_with_split_and_label() -> None:
    batches = [conform(generate_batch(n, 500)) for n in (1, 2)]
    dataset = prepare_dataset(batches, 0.2, 0.15, 42)
    assert len(dataset) == 1000
    assert set(dataset["split"]) == {"train", "valid", "holdout"}
    assert dataset["application_id"].is_unique
    assert (dataset["application_id"] // ID_STRIDE).tolist() == [1] * 500 + [2] * 500


def test_prepare_dataset_is_deterministic() -> None:
    batches = [conform(generate_batch(1, 300))]
    pd.testing.assert_frame_equal(
        prepare_dataset(batches, 0.2, 0.15, 42), prepare_dataset(batches, 0.2, 0.15, 42)
    )


def test_prepare_dataset_rejects_ids_repeated_across_batches() -> None:
    one = conform(generate_batch(1, 10))
    with pytest.raises(ValueError, match="appear in more than one batch"):
        prepare_dataset([one, one], 0.2, 0.15, 42)


def test_prepare_dataset_needs_a_batch() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        prepare_dataset([], 0.2, 0.15, 42)
