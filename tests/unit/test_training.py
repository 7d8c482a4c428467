"""Training on tiny data, lineage tags and the demo source."""

from __future__ import annotations

import numpy as np
import pytest

from flows.logic.contract import conform
from flows.logic.demo import generate_batch
from flows.logic.features import build_features, loan_ratios, prepare_dataset
from flows.logic.lineage import REQUIRED_TAGS, lineage_tags, missing_lineage
from flows.logic.training import (
    best_candidate,
    fit,
    logged_params,
    predict,
    task_params,
    train_key,
    training_params,
)
from tests.definitions import customers, loan


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
    dataset, _ = prepare_dataset([conform(generate_batch(1, 3000), loan())], loan())
    params = training_params(loan(), {"nthread": 1})
    derived = loan_ratios(dataset)
    first, second = fit(dataset, loan(), params, derived), fit(dataset, loan(), params, derived)
    assert first.valid_metric == "roc_auc" and first.valid_score > 0.65
    assert first.best_iteration == second.best_iteration
    features = build_features(dataset, loan(), derived)[dataset["split"].to_numpy() == "holdout"]
    np.testing.assert_array_equal(
        predict(first.booster, features, "binary"), predict(second.booster, features, "binary")
    )


def test_the_task_fixes_objective_classes_and_early_stopping_metric() -> None:
    assert task_params(loan()) == {"objective": "binary:logistic", "eval_metric": "auc"}
    kind = {"name": "kind", "type": "category", "values": ["a", "b", "c"]}
    multiclass = customers(
        columns=[*customers().model_dump()["columns"][1:], kind],
        label={"column": "kind", "task": "multiclass", "classes": ["a", "b", "c"]},
    )
    assert task_params(multiclass) == {
        "objective": "multi:softprob",
        "num_class": 3,
        "eval_metric": "mlogloss",
    }
    regression = customers(label={"column": "income", "task": "regression"}, metric={"name": "mae"})
    assert task_params(regression) == {"objective": "reg:squarederror", "eval_metric": "mae"}
    params = training_params(regression, {"max_depth": 2})
    assert params["max_depth"] == 2 and params["seed"] == 42 and params["objective"] == "reg:squarederror"


def test_train_key_ignores_threads_but_not_params() -> None:
    def key(dataset: str = "md5", definition: str = "def", code: str = "sha", **overrides: object) -> str:
        return train_key(dataset, training_params(loan(), overrides), definition, loan(), code)

    base = key(nthread=1)
    assert base == key(nthread=8)
    assert base != key(max_depth=3)
    assert base != key(dataset="other")
    assert base != key(code="sha2")
    assert base != key(definition="def2")


def test_train_key_names_the_dask_engine_and_its_worker_count() -> None:
    params = training_params(loan())

    def key(engine: str = "local", workers: int = 1) -> str:
        return train_key("md5", params, "def", loan(), "sha", engine, workers)

    assert key() == train_key("md5", params, "def", loan(), "sha")  # the local engine's keys as before
    assert key("local", 4) == key()  # the local engine has no workers to count
    assert len({key(), key("dask", 1), key("dask", 2)}) == 3


def test_the_device_is_a_parameter_only_off_the_cpu() -> None:
    assert "device" not in training_params(loan())
    cuda = training_params(loan(), device="cuda")
    assert cuda["device"] == "cuda" and cuda["tree_method"] == training_params(loan())["tree_method"]
    base = train_key("md5", training_params(loan()), "def", loan(), "sha")
    assert train_key("md5", cuda, "def", loan(), "sha") != base


def test_lineage_tags_are_complete() -> None:
    tags = lineage_tags("loans", "def", 2, [1, 2], ["a", "b"], "d", "k", "sha", "run", "pipe")
    assert missing_lineage(tags) == []
    assert tags["lineage.raw_md5s"] == "1:a,2:b"
    assert missing_lineage({}) == list(REQUIRED_TAGS)


def test_lineage_needs_one_hash_per_batch() -> None:
    with pytest.raises(ValueError):
        lineage_tags("loans", "def", 2, [1, 2], ["a"], "d", "k", "sha", "run", "pipe")


def test_candidates_start_with_the_defaults_and_are_distinct() -> None:
    overrides = loan().training.first_candidates(4)
    assert overrides[0] == {}
    assert len({tuple(sorted(o.items())) for o in overrides}) == 4


@pytest.mark.parametrize("count", [0, 9])
def test_candidate_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match="candidates must be between 1 and 8"):
        loan().training.first_candidates(count)


def test_best_candidate_prefers_the_better_score_then_the_earlier() -> None:
    assert best_candidate([0.7, 0.75, 0.72], maximize=True) == 1
    assert best_candidate([0.75, 0.75], maximize=True) == 0
    assert best_candidate([3.0, 2.0, 2.0], maximize=False) == 1
    with pytest.raises(ValueError):
        best_candidate([], maximize=True)


def test_logged_params_are_typed_as_they_were_given() -> None:
    params = {"eta": 0.1, "lambda": 1e-05, "max_depth": 6, "tree_method": "hist", "eval_metric": ["auc"]}
    params |= {"verbosity": 0, "use_rmm": False, "missing": float("nan")}
    typed = logged_params({k: str(v) for k, v in params.items()})
    assert {k: v for k, v in typed.items() if k != "missing"} == {
        k: v for k, v in params.items() if k != "missing"
    }
    assert typed["missing"] != typed["missing"]  # NaN
    assert isinstance(typed["max_depth"], int) and isinstance(typed["eta"], float)
