"""`mlops dataset init`'s draft: it parses, the sample it came from passes it, and each guess is sensible and
said. Public tables that scikit-learn ships (no download): breast cancer, wine, diabetes."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from flows.logic.contract import frame_problems
from flows.logic.definition import parse_definition
from flows.logic.drafting import draft_definition


def cancer_with_text_label() -> pd.DataFrame:
    """A binary table as a team would land it: a Yes/No label and no id column."""
    frame = load_breast_cancer(as_frame=True).frame
    return frame.assign(target=frame["target"].map({0: "Yes", 1: "No"})).rename(
        columns={"target": "malignant"}
    )


def test_a_text_binary_label_without_an_id() -> None:
    frame = cancer_with_text_label()
    text = draft_definition(frame, "breast-cancer", "malignant")
    definition = parse_definition(text, "draft")
    assert definition.label.task == "binary" and definition.positive_class == "Yes"
    assert "'Yes' reads as the positive answer" in text
    assert definition.id is None and "derived from each row's content" in text
    assert definition.metric_name == "roc_auc"
    assert frame_problems(frame, definition) == []


def test_multiclass_and_regression_are_guessed_from_the_label() -> None:
    wine = load_wine(as_frame=True).frame
    definition = parse_definition(draft_definition(wine, "wine", "target"), "draft")
    assert (definition.label.task, definition.label.classes, definition.metric_name) == (
        "multiclass",
        [0, 1, 2],
        "log_loss",
    )
    assert frame_problems(wine, definition) == []
    diabetes = load_diabetes(as_frame=True).frame
    definition = parse_definition(draft_definition(diabetes, "diabetes", "target"), "draft")
    assert (definition.label.task, definition.metric_name, definition.maximize) == (
        "regression",
        "rmse",
        False,
    )
    assert frame_problems(diabetes, definition) == []


def test_bounds_are_loose_so_a_plausible_later_value_passes() -> None:
    sample = pd.DataFrame({"income": [20_000.0, 50_000.0, 90_000.0] * 5, "y": [0, 1, 1] * 5})
    definition = parse_definition(draft_definition(sample, "loose", "y"), "draft")
    income = definition.column("income")
    assert income.min == 0 and income.max is not None and income.max >= 150_000
    later = pd.DataFrame({"income": [5_000.0, 120_000.0], "y": [0, 1]})
    assert frame_problems(later, definition) == []


def test_the_rarer_class_is_positive_when_no_value_reads_as_yes() -> None:
    sample = pd.DataFrame({"x": range(10), "outcome": ["stayed"] * 8 + ["churned"] * 2})
    text = draft_definition(sample, "churn", "outcome")
    assert parse_definition(text, "draft").positive_class == "churned"
    assert "'churned' is the rarer class (2 of 10 rows)" in text


def test_an_id_named_like_one_and_unique_is_taken() -> None:
    sample = pd.DataFrame({"customer_id": range(6), "x": [1.0, 2, 3, 4, 5, 6], "y": [0, 1] * 3})
    assert parse_definition(draft_definition(sample, "c", "y"), "draft").id == "customer_id"
    repeated = sample.assign(customer_id=[1, 1, 2, 3, 4, 5])
    assert parse_definition(draft_definition(repeated, "c", "y"), "draft").id is None
    assert parse_definition(draft_definition(repeated, "c", "y", id_column="x"), "draft").id == "x"


def test_nulls_in_the_sample_make_the_column_nullable_and_text_values_stay_text() -> None:
    sample = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "flag": ["Yes", "No", "Yes", "No"], "y": [0, 1, 0, 1]})
    definition = parse_definition(draft_definition(sample, "n", "y"), "draft")
    assert definition.column("x").nullable is True
    assert definition.column("flag").values == ["No", "Yes"], "Yes/No must not turn into booleans"


def test_an_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="--label 'target' is not a column"):
        draft_definition(pd.DataFrame({"x": [1]}), "x", "target")
