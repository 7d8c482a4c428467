"""Scoring logic: the pinned version, the predictions table and where it goes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.logic.demo import generate_batch
from flows.logic.scoring import PROBABILITY_COLUMN, pinned_version, prediction_frame, predictions_stem
from flows.logic.validation import conform, find_problems


def test_an_environment_without_a_pin_refuses_to_score() -> None:
    assert pinned_version("3", "prod") == "3"
    with pytest.raises(ValueError, match=r"no model is pinned for environment 'prod'.*environments/prod"):
        pinned_version("", "prod")


def test_predictions_carry_the_version_that_made_them() -> None:
    ids = pd.Series([7, 3, 9])
    frame = prediction_frame(ids, np.array([0.1, 0.5, 0.9]), "m", "4")
    assert list(frame.columns) == ["application_id", PROBABILITY_COLUMN, "model_name", "model_version"]
    assert frame["application_id"].tolist() == [7, 3, 9]
    assert set(frame["model_version"]) == {"4"} and set(frame["model_name"]) == {"m"}
    with pytest.raises(ValueError, match="3 ids but 2 probabilities"):
        prediction_frame(ids, np.array([0.1, 0.5]), "m", "4")


def test_predictions_are_keyed_by_batch_and_version() -> None:
    assert predictions_stem(4, "m", "2") == "batch_4/m-v2"
    assert predictions_stem(4, "m", "2") != predictions_stem(4, "m", "3")


def test_a_batch_to_score_may_come_without_its_label_but_not_without_features() -> None:
    batch = generate_batch(1, 50).drop(columns=["defaulted"])
    assert find_problems(batch, label_required=False) == []
    assert find_problems(batch) == ["missing columns: defaulted"]  # training still needs it
    assert "defaulted" not in conform(batch, label_required=False).columns
    assert find_problems(batch.drop(columns=["age"]), label_required=False) == ["missing columns: age"]
    labelled = generate_batch(1, 50).assign(defaulted=2)
    assert find_problems(labelled, label_required=False) == [
        "label 'defaulted' has 50 value(s) outside {0, 1} (e.g. 2)"
    ]
