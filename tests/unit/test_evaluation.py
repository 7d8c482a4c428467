"""Holdout metrics and the promotion gate."""

from __future__ import annotations

import numpy as np
import pytest

from flows.logic.evaluation import (
    GateDecision,
    Metrics,
    champion_moved,
    comparison_markdown,
    holdout_metrics,
    promotion_gate,
)


def metrics(auc: float) -> Metrics:
    return {"roc_auc": auc, "log_loss": 0.5, "accuracy": 0.8, "rows": 100.0}


def gate(new: Metrics, old: Metrics | None, margin: float, is_champion: bool = False) -> GateDecision:
    return promotion_gate(new, old, "roc_auc", True, margin, is_champion)


def test_perfect_and_inverted_predictions() -> None:
    labels = np.array([0, 0, 1, 1])
    assert holdout_metrics("binary", labels, np.array([0.1, 0.2, 0.8, 0.9]))["roc_auc"] == 1.0
    inverted = holdout_metrics("binary", labels, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["roc_auc"] == 0.0
    assert inverted["accuracy"] == 0.0 and inverted["f1"] == 0.0


def test_each_task_has_its_metrics() -> None:
    assert set(holdout_metrics("binary", np.array([0, 1]), np.array([0.2, 0.7]))) == {
        "roc_auc",
        "pr_auc",
        "log_loss",
        "accuracy",
        "f1",
        "rows",
    }
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.6, 0.2, 0.2]])
    multi = holdout_metrics("multiclass", np.array([0, 1, 2, 1]), probabilities, classes=3)
    assert multi["accuracy"] == 0.75 and multi["rows"] == 4
    assert multi["macro_f1"] == pytest.approx(7 / 9)  # F1 2/3, 2/3 and 1
    regression = holdout_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert regression["mae"] == pytest.approx(2 / 3)
    assert regression["rmse"] == pytest.approx((4 / 3) ** 0.5)
    assert regression["r2"] == pytest.approx(1 - 4 / 2)


def test_metrics_reject_a_single_class_holdout() -> None:
    with pytest.raises(ValueError, match="only one class"):
        holdout_metrics("binary", np.array([1, 1]), np.array([0.2, 0.3]))


def test_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equal length"):
        holdout_metrics("binary", np.array([0, 1]), np.array([0.2]))


def test_first_model_is_promoted() -> None:
    decision = gate(metrics(0.6), None, 0.01)
    assert decision.promote and decision.reason == "no champion yet"


def test_promoted_when_gain_reaches_margin() -> None:
    assert gate(metrics(0.75), metrics(0.74), 0.01 - 1e-12).promote


def test_kept_when_gain_is_below_margin() -> None:
    decision = gate(metrics(0.745), metrics(0.74), 0.01)
    assert not decision.promote
    assert "below margin 0.01" in decision.reason and decision.reason.startswith("ROC AUC 0.7450")


def test_kept_when_worse() -> None:
    assert not gate(metrics(0.70), metrics(0.74), 0.0).promote


def test_negative_margin_allows_small_regressions() -> None:
    assert gate(metrics(0.735), metrics(0.74), -0.01).promote


def test_a_metric_where_lower_is_better_promotes_the_lower_value() -> None:
    better, worse = {"rmse": 10.0, "rows": 5.0}, {"rmse": 12.0, "rows": 5.0}
    decision = promotion_gate(better, worse, "rmse", False, 1.5)
    assert decision.promote and "RMSE 10.0000 beats champion 12.0000 by +2.0000" in decision.reason
    assert not promotion_gate(worse, better, "rmse", False, 0.0).promote
    assert not promotion_gate(better, worse, "rmse", False, 2.5).promote


def test_current_champion_is_not_promoted_again() -> None:
    decision = gate(metrics(0.74), metrics(0.74), 0.0, is_champion=True)
    assert not decision.promote and "already the champion" in decision.reason


def test_markdown_report_has_both_columns_and_the_verdict() -> None:
    new, old = metrics(0.8), metrics(0.7)
    text = comparison_markdown(2, "5", new, "4", old, gate(new, old, 0.01))
    assert "| roc_auc | 0.8000 | 0.7000 |" in text
    assert "Champion: 4" in text and "**promote**" in text
    counted = comparison_markdown(2, "5", new | {"rows": 8003.0}, None, None, gate(new, None, 0.0), "x.png")
    assert "| rows | 8003 | - |" in counted and "Plots on the holdout: x.png." in counted


def test_a_decision_against_the_current_champion_still_holds() -> None:
    assert champion_moved("3", "3") is None
    assert champion_moved(None, None) is None


def test_a_decision_against_a_replaced_champion_is_stale() -> None:
    assert champion_moved("1", "2") == "the champion was version 1 when evaluated and is version 2 now"
    assert champion_moved(None, "2") == "the champion was none when evaluated and is version 2 now"
    assert champion_moved("1", None) == "the champion was version 1 when evaluated and is none now"
