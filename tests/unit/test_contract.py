"""The pandera schema built from a definition: the loan demo's batches pass, and each broken rule is one
sentence that names the column (quoted) and gives a count and an example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flows.logic.contract import build_schema, frame_problems
from flows.logic.definition import DatasetDefinition, parse_definition
from flows.logic.demo import generate_batch
from flows.logic.refusal import quoted

LOAN = Path(__file__).resolve().parents[2] / "datasets" / "loan-default" / "dataset.yaml"


@pytest.fixture(scope="module")
def loan() -> DatasetDefinition:
    return parse_definition(LOAN.read_text(), str(LOAN))


@pytest.fixture
def batch() -> pd.DataFrame:
    return generate_batch(1, 200)


def test_demo_batches_are_valid(loan: DatasetDefinition) -> None:
    for number in (1, 2, 3):
        assert frame_problems(generate_batch(number, 500), loan) == []


def test_the_schema_is_strict_and_knows_every_column(loan: DatasetDefinition) -> None:
    schema = build_schema(loan)
    assert list(schema.columns) == [c.name for c in loan.columns]
    assert schema.strict is True
    assert [c.name for c in schema.columns["application_id"].checks][-1] == "unique"
    assert "defaulted" not in build_schema(loan, label_required=False).columns


def test_names_are_quoted_so_surrounding_spaces_show(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    renamed = batch.rename(columns={"age": "age ", "purpose": "goal"})
    assert frame_problems(renamed, loan) == [
        "column names with spaces around them: 'age ': remove the spaces (the definition declares 'age')",
        "missing columns: 'purpose'",
        "unexpected columns: 'goal'",
    ]


def test_a_comma_and_space_separator_is_named(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    spaced = batch.rename(columns={c: f" {c}" for c in batch.columns[1:]})
    assert frame_problems(spaced, loan) == [
        "columns are separated by ', ' (a comma and a space), not commas: land comma-separated CSV"
    ]


def test_timestamps_in_a_numeric_column_are_named(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    stamped = batch.assign(annual_income=pd.Timestamp("2024-03-01") + pd.to_timedelta(batch.index, "D"))
    assert frame_problems(stamped, loan) == [
        "column 'annual_income' holds dates or times (e.g. 2024-03-01 00:00:00); it must be numeric"
    ]


def test_a_long_list_of_names_is_cut_at_twenty_with_a_count() -> None:
    assert quoted([f"c{i}" for i in range(25)]).endswith("'c19' and 5 more")
    assert quoted(["a", "b"]) == "'a', 'b'"


def test_duplicated_columns_and_an_empty_batch(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    doubled = pd.concat([batch, batch[["age"]]], axis=1)
    assert frame_problems(doubled, loan) == ["duplicated columns: 'age'"]
    assert frame_problems(batch.iloc[0:0], loan) == ["batch is empty (no rows)"]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "annual_income",
            "lots",
            "column 'annual_income' must be numeric: 1 value(s) are not numbers (e.g. 'lots')",
        ),
        ("annual_income", np.inf, "column 'annual_income' has 1 infinite or overflowing value(s)"),
        ("annual_income", 1e300, "column 'annual_income' has 1 value(s) outside [1, 1e+08] (e.g. 1e+300)"),
        ("age", str(10**30), "column 'age' has 1 value(s) outside [18, 100] (e.g. 1e+30)"),
        ("credit_score", 700.5, "column 'credit_score' must hold whole numbers: 1 value(s) have a fraction"),
        ("loan_amount", None, "column 'loan_amount' has 1 null value(s)"),
        (
            "home_ownership",
            "CASTLE",
            "column 'home_ownership' has 1 value(s) not among its values (e.g. 'CASTLE')",
        ),
        ("defaulted", 2, "label 'defaulted' has 1 value(s) not among its values (e.g. 2"),
    ],
)
def test_each_broken_rule_is_one_sentence(
    loan: DatasetDefinition, batch: pd.DataFrame, column: str, value: Any, expected: str
) -> None:
    bad = batch.astype({column: object})
    bad.loc[3, column] = value
    found = frame_problems(bad, loan)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_duplicate_ids_are_counted_with_an_example(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    bad = batch.copy()
    repeated = int(bad["application_id"].iloc[4])
    bad["application_id"] = bad["application_id"].where(bad.index != 5, repeated)
    assert frame_problems(bad, loan) == [f"1 duplicate 'application_id' value(s) (e.g. {repeated})"]


def test_every_problem_is_reported_at_once_in_column_order(
    loan: DatasetDefinition, batch: pd.DataFrame
) -> None:
    bad = batch.astype({"age": object, "purpose": object})
    bad.loc[1, "purpose"] = "yacht"
    bad.loc[2, "age"] = "old"
    found = frame_problems(bad, loan)
    assert [p.split("'")[1] for p in found] == ["age", "purpose"]


def test_a_label_may_be_absent_for_scoring(loan: DatasetDefinition, batch: pd.DataFrame) -> None:
    assert frame_problems(batch.drop(columns=["defaulted"]), loan, label_required=False) == []
    assert frame_problems(batch.drop(columns=["defaulted"]), loan) == ["missing columns: 'defaulted'"]


def test_a_multiclass_label_without_values_holds_only_its_classes() -> None:
    text = """
name: kinds
id: null
columns:
  - {name: x, type: number}
  - {name: kind, type: text}
label: {column: kind, task: multiclass, classes: [a, b, c]}
"""
    definition = parse_definition(text, "kinds")
    rows = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "kind": ["a", "b", "c", "d"]})
    assert frame_problems(rows, definition) == [
        "label 'kind' has 1 value(s) not among its values (e.g. 'd'); allowed: 'a', 'b', 'c'"
    ]
