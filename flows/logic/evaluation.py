"""Holdout metrics and the promotion gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

# The gate's decision, as a tag on the model version (and its run): what `mlops promote` checks.
GATE_DECISION_TAG = "gate.decision"
GATE_PROMOTE, GATE_KEEP = "promote", "keep"


@dataclass(frozen=True)
class Metrics:
    roc_auc: float
    log_loss: float
    accuracy: float
    rows: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    new_roc_auc: float
    champion_roc_auc: float | None
    margin: float


def holdout_metrics(labels: np.ndarray, probabilities: np.ndarray) -> Metrics:
    """ROC AUC, log loss and accuracy at 0.5 of predicted default probabilities."""
    if len(labels) == 0 or len(labels) != len(probabilities):
        raise ValueError("labels and probabilities must be non-empty and of equal length")
    if len(np.unique(labels)) < 2:
        raise ValueError("the holdout holds only one class; ROC AUC is undefined")
    return Metrics(
        roc_auc=float(roc_auc_score(labels, probabilities)),
        log_loss=float(log_loss(labels, probabilities, labels=[0, 1])),
        accuracy=float(accuracy_score(labels, probabilities >= 0.5)),
        rows=len(labels),
    )


def promotion_gate(
    new: Metrics, champion: Metrics | None, margin: float, is_champion: bool = False
) -> GateDecision:
    """Promote the first model, or one whose ROC AUC beats the champion's by at least `margin`."""
    if is_champion:
        return GateDecision(
            False,
            "this version is already the champion",
            new.roc_auc,
            champion.roc_auc if champion else None,
            margin,
        )
    if champion is None:
        return GateDecision(True, "no champion yet", new.roc_auc, None, margin)
    gain = new.roc_auc - champion.roc_auc
    if gain >= margin:
        reason = f"ROC AUC {new.roc_auc:.4f} beats champion {champion.roc_auc:.4f} by {gain:+.4f}"
        return GateDecision(True, f"{reason} (margin {margin:g})", new.roc_auc, champion.roc_auc, margin)
    reason = f"ROC AUC {new.roc_auc:.4f} vs champion {champion.roc_auc:.4f} ({gain:+.4f})"
    return GateDecision(False, f"{reason} is below margin {margin:g}", new.roc_auc, champion.roc_auc, margin)


def rerun_decision(decision: GateDecision, first_tags: Mapping[str, str]) -> GateDecision:
    """The decision of a re-run on a version evaluated before: never a promotion. Its first decision stands
    (the one `mlops promote` trusts); a re-run that moved the champion would rewrite history."""
    first = f"{first_tags.get(GATE_DECISION_TAG, '?')}: {first_tags.get('gate.reason', '')}"
    reason = f"re-run of a version evaluated before (its decision stands: {first}); now {decision.reason}"
    return replace(decision, promote=False, reason=reason)


def champion_moved(evaluated_against: str | None, current: str | None) -> str | None:
    """Why a gate decision made against `evaluated_against` no longer holds, or None if it still does.

    Two pipelines may evaluate against the same champion; the second to promote would otherwise
    replace the first's model without ever being compared with it.
    """
    if evaluated_against == current:
        return None
    before = f"version {evaluated_against}" if evaluated_against else "none"
    now = f"version {current}" if current else "none"
    return f"the champion was {before} when evaluated and is {now} now"


def comparison_markdown(
    batch_number: int,
    version: str,
    new: Metrics,
    champion_version: str | None,
    champion: Metrics | None,
    decision: GateDecision,
) -> str:
    """The evaluation report, as the Prefect artifact shows it."""
    lines = [
        f"# Evaluation of version {version} (batch {batch_number})",
        "",
        "| metric | new | champion |",
        "|---|---|---|",
    ]
    for name in ("roc_auc", "log_loss", "accuracy", "rows"):
        champ = "-" if champion is None else f"{getattr(champion, name):.4f}"
        lines.append(f"| {name} | {getattr(new, name):.4f} | {champ} |")
    verdict = "**promote**" if decision.promote else "**keep champion**"
    lines += [
        "",
        f"Champion: {champion_version or 'none'}. Decision: {verdict}: {decision.reason}.",
    ]
    return "\n".join(lines)
