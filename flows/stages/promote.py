"""Promote: move the champion alias to the new version when, and only when, the gate passed against the
version that is still champion (one promote runs at a time: its deployment's concurrency limit)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.contracts import DefinitionRef, EvaluationResult, PromotionResult
from flows.logic.evaluation import champion_moved
from flows.stages.runner import publish, stage_settings
from flows.tasks import versions


@flow(name="promote", log_prints=True)
def promote(evaluation: EvaluationResult, definition: DefinitionRef | None = None) -> PromotionResult:
    settings, definition = stage_settings(definition)
    logger = get_run_logger()
    current = versions.champion(settings)
    moved = champion_moved(evaluation.champion_version, str(current.version) if current else None)
    promoted = evaluation.promote and moved is None
    if promoted:
        versions.set_champion(evaluation.model_name, evaluation.model_version, settings)
        current = versions.champion(settings)
        logger.info(
            "%s version %s is now '%s': %s",
            evaluation.model_name,
            evaluation.model_version,
            settings.champion_alias,
            evaluation.reason,
        )
    elif evaluation.promote:
        logger.warning("champion unchanged, the evaluation is stale: %s", moved)
    else:
        logger.info("champion unchanged: %s", evaluation.reason)
    return publish(
        PromotionResult(
            model_name=evaluation.model_name,
            model_version=evaluation.model_version,
            promoted=promoted,
            stale=evaluation.promote and moved is not None,
            champion_version=str(current.version) if current else None,
        ),
        settings,
    )
