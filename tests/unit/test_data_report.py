"""The data report: profiles that stand for a batch, drift measured from them, and the definition's checks
turning findings into warnings or refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.logic.contract import conform
from flows.logic.data_report import DataReport, batch_profile, column_drift, data_report, report_table
from flows.logic.definition import DatasetDefinition
from flows.logic.demo import generate_batch
from flows.logic.validation import index_of
from tests.definitions import customers, loan


def loan_with(**checks: object) -> DatasetDefinition:
    definition = loan()
    return definition.model_copy(update={"checks": definition.checks.model_copy(update=checks)})


@pytest.fixture(scope="module")
def batches() -> list[pd.DataFrame]:
    return [conform(generate_batch(n, 5000), loan()) for n in (1, 2, 3)]


def report(frame: pd.DataFrame, earlier: list[pd.DataFrame], definition: DatasetDefinition) -> DataReport:
    index = index_of(frame, definition)
    profiles = {n: index_of(f, definition).profile for n, f in enumerate(earlier, 1)}
    return data_report(len(earlier) + 1, frame, definition, index.profile, profiles, index.duplicate_rows)


def test_batches_of_one_distribution_do_not_drift(batches: list[pd.DataFrame]) -> None:
    found = report(batches[2], batches[:2], loan())
    assert max(v for v in found.drift.values() if v is not None) < 0.05
    assert found.warnings == [] and found.refusals == []
    assert found.reference_batches == [1, 2] and found.rows == 5000


def test_a_shifted_column_warns_and_refuses_at_the_definitions_thresholds(
    batches: list[pd.DataFrame],
) -> None:
    shifted = batches[1].assign(age=(batches[1]["age"] + 20).clip(upper=100))
    warned = report(shifted, batches[:1], loan())
    assert warned.refusals == []
    [warning] = warned.warnings
    assert (
        warning.startswith("column 'age' drifted from batch 1: PSI ")
        and "(checks.drift_warn: 0.2)" in warning
    )
    refused = report(shifted, batches[:1], loan_with(drift_refuse=0.5))
    [refusal] = refused.refusals
    assert "column 'age' drifted from batch 1" in refusal and "checks.drift_refuse (0.5)" in refusal
    assert [r["finding"] for r in report_table(refused) if r["column"] == "age"] == ["refused"]


def test_a_category_whose_mix_changes_drifts(batches: list[pd.DataFrame]) -> None:
    renters = batches[1].assign(home_ownership="RENT")
    definition = loan()
    before = batch_profile(batches[0], definition)
    after = batch_profile(renters, definition)
    assert (column_drift(after, [before], "home_ownership", numeric=False) or 0) > 1.0
    assert (
        column_drift(batch_profile(batches[1], definition), [before], "home_ownership", False) or 1
    ) < 0.01


def test_repeated_rows_in_a_batch_warn_refuse_or_pass_as_declared(batches: list[pd.DataFrame]) -> None:
    frame = batches[0]
    repeated = pd.concat(
        [frame, frame.head(7).assign(application_id=frame["application_id"].head(7) + 10**9)]
    )
    assert report(repeated, [], loan()).duplicate_rows == 7
    assert "7 row(s) repeat another row" in report(repeated, [], loan()).warnings[0]
    assert report(repeated, [], loan_with(duplicate_rows="refuse")).refusals
    ignored = report(repeated, [], loan_with(duplicate_rows="ignore"))
    assert ignored.warnings == [] and ignored.refusals == []


def test_the_label_is_summarised_by_task(batches: list[pd.DataFrame]) -> None:
    counts = report(batches[0], [], loan()).label["counts"]
    assert sum(counts.values()) == 5000 and set(counts) == {"0", "1"}
    frame = pd.DataFrame(
        {
            "default": ["Yes", "No", "No"],
            "student": ["No", "No", "Yes"],
            "balance": [10.0, None, 30.0],
            "income": [1.0, 2.0, 3.0],
            "cards": [1, 2, 3],
        }
    )
    found = report(conform(frame, customers()), [], customers())
    assert found.label == {"counts": {"No": 2, "Yes": 1}}
    assert found.nulls["balance"] == 1 and "default" in found.nulls
