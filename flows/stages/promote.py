"""Promote: move the champion alias to the new version when, and only when, the gate passed."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.contracts import EvaluationResult, PromotionResult
from flows.settings import get_settings
from flows.stages.runner import publish
from flows.tasks import model


@flow(name="promote", log_prints=True)
def promote(evaluation: EvaluationResult) -> PromotionResult:
    settings = get_settings()
    logger = get_run_logger()
    if evaluation.promote:
        model.set_champion(evaluation.model_name, evaluation.model_version, settings)
        logger.info(
            "%s version %s is now '%s': %s",
            evaluation.model_name,
            evaluation.model_version,
            settings.champion_alias,
            evaluation.reason,
        )
    else:
        logger.info("champion unchanged: %s", evaluation.reason)
    current = model.champion(settings)
    return publish(
        PromotionResult(
            model_name=evaluation.model_name,
            model_version=evaluation.model_version,
            promoted=evaluation.promote,
            champion_version=str(current.version) if current else None,
        ),
        settings,
    )
