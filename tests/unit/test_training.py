"""Training on tiny data, lineage tags and the demo source."""

from __future__ import annotations

import numpy as np
import pytest

from flows.logic.demo import generate_batch
from flows.logic.features import prepare_dataset
from flows.logic.lineage import REQUIRED_TAGS, lineage_tags, missing_lineage
from flows.logic.training import (
    best_candidate,
    candidate_overrides,
    fit,
    predict_proba,
    train_key,
    training_params,
)
from flows.logic.validation import conform


def test_demo_batches_are_deterministic_and_distinct() -> None:
    assert generate_batch(2, 100).equals(generate_batch(2, 100))
    assert not generate_batch(2, 100).equals(generate_batch(2, 100, seed=7))
    assert set(generate_batch(1, 100)["application_id"]).isdisjoint(generate_batch(2, 100)["application_id"])


def test_demo_batches_drift() -> None:
    first, third = generate_batch(1, 20_000), generate_batch(3, 20_000)
    assert third["credit_score"].mean() < first["credit_score"].mean() - 4
    assert third["annual_income"].median() > first["annual_income"].median()


def test_label_noise_weakens_the_signal() -> None:
    clean, noisy = generate_batch(1, 20_000), generate_batch(1, 20_000, label_noise=1.0)
    assert noisy["defaulted"].mean() == pytest.approx(0.5, abs=0.02)
    assert clean["defaulted"].mean() < 0.35


def test_demo_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_batch(0, 10)


def test_fit_learns_and_is_reproducible() -> None:
    dataset = prepare_dataset([conform(generate_batch(1, 3000))], 0.2, 0.15, 42)
    params = training_params(42, {"nthread": 1})
    first, second = fit(dataset, params), fit(dataset, params)
    assert first.valid_roc_auc > 0.65
    assert first.best_iteration == second.best_iteration
    holdout = dataset[dataset["split"] == "holdout"]
    np.testing.assert_array_equal(
        predict_proba(first.booster, holdout), predict_proba(second.booster, holdout)
    )


def test_train_key_ignores_threads_but_not_params() -> None:
    base = train_key("md5", training_params(1, {"nthread": 1}), "sha")
    assert base == train_key("md5", training_params(1, {"nthread": 8}), "sha")
    assert base != train_key("md5", training_params(1, {"max_depth": 3}), "sha")
    assert base != train_key("other", training_params(1), "sha")
    assert base != train_key("md5", training_params(1), "sha2")


def test_lineage_tags_are_complete() -> None:
    tags = lineage_tags(2, [1, 2], ["a", "b"], "d", "k", "sha", "run", "pipe")
    assert missing_lineage(tags) == []
    assert tags["lineage.raw_md5s"] == "1:a,2:b"
    assert missing_lineage({}) == list(REQUIRED_TAGS)


def test_lineage_needs_one_hash_per_batch() -> None:
    with pytest.raises(ValueError):
        lineage_tags(2, [1, 2], ["a"], "d", "k", "sha", "run", "pipe")


def test_candidates_start_with_the_defaults_and_are_distinct() -> None:
    overrides = candidate_overrides(4)
    assert overrides[0] == {}
    assert len({tuple(sorted(o.items())) for o in overrides}) == 4


@pytest.mark.parametrize("count", [0, 9])
def test_candidate_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match="candidates must be between 1 and 8"):
        candidate_overrides(count)


def test_best_candidate_prefers_higher_auc_then_the_earlier() -> None:
    assert best_candidate([0.7, 0.75, 0.72]) == 1
    assert best_candidate([0.75, 0.75]) == 0
    with pytest.raises(ValueError):
        best_candidate([])
