"""Holdout metrics and the promotion gate."""

from __future__ import annotations

import numpy as np
import pytest

from flows.logic.evaluation import (
    Metrics,
    champion_moved,
    comparison_markdown,
    holdout_metrics,
    promotion_gate,
)


def metrics(auc: float) -> Metrics:
    return Metrics(roc_auc=auc, log_loss=0.5, accuracy=0.8, rows=100)


def test_perfect_and_inverted_predictions() -> None:
    labels = np.array([0, 0, 1, 1])
    assert holdout_metrics(labels, np.array([0.1, 0.2, 0.8, 0.9])).roc_auc == 1.0
    inverted = holdout_metrics(labels, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted.roc_auc == 0.0
    assert inverted.accuracy == 0.0


def test_metrics_reject_a_single_class_holdout() -> None:
    with pytest.raises(ValueError, match="only one class"):
        holdout_metrics(np.array([1, 1]), np.array([0.2, 0.3]))


def test_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equal length"):
        holdout_metrics(np.array([0, 1]), np.array([0.2]))


def test_first_model_is_promoted() -> None:
    decision = promotion_gate(metrics(0.6), None, 0.01)
    assert decision.promote and decision.reason == "no champion yet"


def test_promoted_when_gain_reaches_margin() -> None:
    assert promotion_gate(metrics(0.75), metrics(0.74), 0.01 - 1e-12).promote


def test_kept_when_gain_is_below_margin() -> None:
    decision = promotion_gate(metrics(0.745), metrics(0.74), 0.01)
    assert not decision.promote
    assert "below margin 0.01" in decision.reason


def test_kept_when_worse() -> None:
    assert not promotion_gate(metrics(0.70), metrics(0.74), 0.0).promote


def test_negative_margin_allows_small_regressions() -> None:
    assert promotion_gate(metrics(0.735), metrics(0.74), -0.01).promote


def test_current_champion_is_not_promoted_again() -> None:
    decision = promotion_gate(metrics(0.74), metrics(0.74), 0.0, is_champion=True)
    assert not decision.promote and "already the champion" in decision.reason


def test_markdown_report_has_both_columns_and_the_verdict() -> None:
    new, old = metrics(0.8), metrics(0.7)
    text = comparison_markdown(2, "5", new, "4", old, promotion_gate(new, old, 0.01))
    assert "| roc_auc | 0.8000 | 0.7000 |" in text
    assert "Champion: 4" in text and "**promote**" in text


def test_a_decision_against_the_current_champion_still_holds() -> None:
    assert champion_moved("3", "3") is None
    assert champion_moved(None, None) is None


def test_a_decision_against_a_replaced_champion_is_stale() -> None:
    assert champion_moved("1", "2") == "the champion was version 1 when evaluated and is version 2 now"
    assert champion_moved(None, "2") == "the champion was none when evaluated and is version 2 now"
    assert champion_moved("1", None) == "the champion was version 1 when evaluated and is none now"
