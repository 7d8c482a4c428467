"""Dataset definitions: the loan demo's parses, and each kind of bad definition gets one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.logic.definition import (
    DEFAULT_CANDIDATES,
    DEFAULT_PARAMS,
    DatasetDefinition,
    DefinitionError,
    parse_definition,
)
from flows.logic.demo import HOME_OWNERSHIP, PURPOSES

LOAN = Path(__file__).resolve().parents[2] / "datasets" / "loan-default" / "dataset.yaml"


def minimal(**changes: Any) -> dict[str, Any]:
    """A small valid definition: a text binary label, one number, one category, no id."""
    base: dict[str, Any] = {
        "name": "churn",
        "id": None,
        "columns": [
            {"name": "balance", "type": "number", "min": 0},
            {"name": "student", "type": "category", "values": ["Yes", "No"]},
            {"name": "default", "type": "category", "values": ["No", "Yes"]},
        ],
        "label": {"column": "default", "task": "binary", "positive_class": "Yes"},
    }
    return base | changes


def parse(data: dict[str, Any]) -> DatasetDefinition:
    return parse_definition(yaml.safe_dump(data), "dataset.yaml")


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(data)
    return caught.value.problems


def test_the_loan_demo_definition_declares_what_the_pipeline_trained_before_definitions() -> None:
    loan = parse_definition(LOAN.read_text(), str(LOAN))
    assert loan.id == "application_id" and loan.label.column == "defaulted"
    assert loan.column("home_ownership").values == list(HOME_OWNERSHIP)
    assert loan.column("purpose").values == list(PURPOSES)
    assert loan.training.params == DEFAULT_PARAMS
    assert loan.training.candidates == list(DEFAULT_CANDIDATES)
    assert (loan.training.rounds, loan.training.early_stopping) == (400, 30)
    assert (loan.split.holdout, loan.split.validation, loan.split.seed) == (0.2, 0.15, 42)
    assert (loan.metric_name, loan.maximize, loan.metric.margin) == ("roc_auc", True, 0.002)
    assert loan.class_names == [0, 1] and loan.features.derived == "flows.logic.features:loan_ratios"


def test_a_text_binary_label_names_its_positive_class_last() -> None:
    definition = parse(minimal())
    assert definition.class_names == ["No", "Yes"]
    assert definition.feature_columns == ["balance", "student"]
    assert definition.id is None


def test_metric_defaults_and_directions_follow_the_task() -> None:
    regression = minimal(
        columns=[{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
        label={"column": "y", "task": "regression"},
    )
    definition = parse(regression)
    assert (definition.metric_name, definition.maximize) == ("rmse", False)
    assert parse(regression | {"metric": {"name": "r2"}}).maximize is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"columns": [{"name": "balance", "type": "float"}]}, "columns[0].type: Input should be 'integer'"),
        (
            {"label": {"column": "target", "task": "binary"}},
            "label.column: 'target' is not among the columns",
        ),
        ({"id": "customer"}, "id: 'customer' is not among the columns"),
        (
            {"label": {"column": "default", "task": "binary", "positive_class": "Y"}},
            "positive_class 'Y' is not one of the label's values ('No', 'Yes')",
        ),
        (
            {"label": {"column": "default", "task": "binary", "positive_class": True}},
            "YAML reads an unquoted Yes/No/True/False as a boolean: quote it",
        ),
        ({"metric": {"name": "rmse"}}, "metric.name: 'rmse' does not fit a binary task"),
        ({"metric": {"name": "roc_auc", "direction": "minimize"}}, "roc_auc is always maximized"),
        ({"split": {"holdout": 0.5, "validation": 0.5}}, "leave no rows to train on"),
        ({"features": {"derived": "my features.py"}}, "is not an import path of the form"),
        ({"lable": {}}, "lable: unknown key (a typo?)"),
        ({"name": "Loan Default"}, "name: must be lowercase letters, digits and dashes"),
        ({"weight": "student"}, "weight: 'student' must be an integer or number column"),
        ({"split": {"group": "default"}}, "split.group: 'default' is the label"),
        ({"training": {"params": {"objective": "reg:squarederror"}}}, "objective follow from label.task"),
        ({"training": {"rounds": 10, "early_stopping": 30}}, "must be below training.rounds (10)"),
        ({"training": {"candidates": []}}, "training.candidates: give at least one parameter set"),
        ({"columns": [{"name": "split", "type": "number"}]}, "'split': the platform names its own columns"),
        ({"columns": [{"name": "row_id", "type": "integer"}]}, "'row_id': the platform names its own"),
        (
            {"checks": {"drift_warn": 0.3, "drift_refuse": 0.1}},
            "checks: drift_refuse (0.1) is below drift_warn",
        ),
        ({"checks": {"duplicate_rows": "drop"}}, "checks.duplicate_rows: Input should be 'warn'"),
        ({"checks": {"drift_warn": 0}}, "checks.drift_warn: Input should be greater than 0"),
        (
            {"columns": [{"name": "balance", "type": "number", "min": -5}], "weight": "balance"},
            "weight: 'balance' must be an integer or number column, not nullable, with min: 0 or above",
        ),
    ],
)
def test_a_bad_definition_gets_one_clear_error(change: dict[str, Any], expected: str) -> None:
    data = minimal()
    for key, value in change.items():
        if key == "columns":
            data["columns"] = value + data["columns"][1:]
        else:
            data[key] = value
    found = problems(data)
    assert len(found) == 1, found
    assert expected in found[0]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ({"name": "student", "type": "category", "values": []}, "the list cannot be empty"),
        ({"name": "student", "type": "category"}, "a category needs its list of values"),
        ({"name": "student", "type": "number", "min": 5, "max": 1}, "min 5 is above max 1"),
        ({"name": "student", "type": "category", "values": ["a", "a"]}, "a value is listed twice"),
        ({"name": "student", "type": "category", "min": 1, "values": ["a"]}, "min/max only apply to"),
        ({"name": "student", "type": "category", "values": [True, False]}, "quote them"),
        ({"name": "student", "type": "text"}, "free text cannot be a feature"),
        ({"name": "student", "type": "integer", "values": [1.5]}, "must be whole numbers"),
    ],
)
def test_a_bad_column_gets_one_clear_error(column: dict[str, Any], expected: str) -> None:
    data = minimal()
    data["columns"] = [data["columns"][0], column, data["columns"][2]]
    found = problems(data)
    assert len(found) == 1, found
    assert expected in found[0]


def test_duplicate_columns_and_missing_id_key_are_refused() -> None:
    data = minimal()
    data["columns"] = [*data["columns"], {"name": "balance", "type": "number"}]
    assert problems(data) == ["columns: 'balance' declared more than once"]
    without_id = minimal()
    del without_id["id"]
    assert "write `id: null` to derive one from content" in problems(without_id)[0]


def test_label_rules_per_task() -> None:
    three = minimal(label={"column": "default", "task": "multiclass", "classes": ["No", "Yes"]})
    assert "at least three" in problems(three)[0]
    text_regression = minimal(label={"column": "default", "task": "regression"})
    assert "a regression label must be an integer or number column" in problems(text_regression)[0]
    nullable = minimal()
    nullable["columns"][2] = nullable["columns"][2] | {"nullable": True}
    assert "nullable but label.missing is 'refuse'" in problems(nullable)[0]
    nullable["label"] = nullable["label"] | {"missing": "drop"}
    assert parse(nullable).label.missing == "drop"


def test_not_yaml_or_not_a_mapping_is_refused() -> None:
    for text in ("name: [", "- a list"):
        with pytest.raises(DefinitionError, match=r"dataset\.yaml is not a valid dataset definition"):
            parse_definition(text, "dataset.yaml")
