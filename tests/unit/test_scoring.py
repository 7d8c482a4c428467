"""Scoring logic: the pinned version, the predictions table and where it goes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.logic.contract import conform, frame_problems
from flows.logic.demo import generate_batch
from flows.logic.scoring import pinned_version, prediction_frame, predictions_stem
from tests.definitions import loan


def test_an_environment_without_a_pin_refuses_to_score() -> None:
    assert pinned_version("3", "prod") == "3"
    with pytest.raises(ValueError, match=r"no model is pinned for environment 'prod'.*environments/prod"):
        pinned_version("", "prod")


def test_predictions_carry_the_version_that_made_them() -> None:
    ids = pd.Series([7, 3, 9], name="application_id")
    answer = pd.DataFrame({"0": [0.9, 0.5, 0.1], "1": [0.1, 0.5, 0.9]})
    frame = prediction_frame(ids, answer, "m", "4")
    assert list(frame.columns) == [
        "application_id",
        "probability_0",
        "probability_1",
        "model_name",
        "model_version",
    ]
    assert frame["application_id"].tolist() == [7, 3, 9] and frame["probability_1"].tolist() == [
        0.1,
        0.5,
        0.9,
    ]
    assert set(frame["model_version"]) == {"4"} and set(frame["model_name"]) == {"m"}
    with pytest.raises(ValueError, match="3 ids but 2 predictions"):
        prediction_frame(ids, answer.head(2), "m", "4")


def test_a_regression_prediction_is_one_value_per_row() -> None:
    frame = prediction_frame(pd.Series([0, 1], name="row"), np.array([1.5, 2.5]), "m", "1")
    assert list(frame.columns) == ["row", "prediction", "model_name", "model_version"]


def test_predictions_are_keyed_by_batch_and_version() -> None:
    assert predictions_stem(4, "m", "2") == "batch_4/m-v2"
    assert predictions_stem(4, "m", "2") != predictions_stem(4, "m", "3")


def test_a_batch_to_score_may_come_without_its_label_but_not_without_features() -> None:
    batch = generate_batch(1, 50).drop(columns=["defaulted"])
    assert frame_problems(batch, loan(), label_required=False) == []
    assert frame_problems(batch, loan()) == ["missing columns: 'defaulted'"]  # training still needs it
    assert "defaulted" not in conform(batch, loan(), label_required=False).columns
    assert frame_problems(batch.drop(columns=["age"]), loan(), label_required=False) == [
        "missing columns: 'age'"
    ]
