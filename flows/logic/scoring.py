"""Batch scoring with an environment's pinned model: which model, and the predictions table. Pure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.logic.schema import ID_COLUMN

PROBABILITY_COLUMN = "default_probability"


def pinned_version(version: str, environment: str) -> str:
    """The pinned version; an environment with nothing pinned refuses to score rather than guess."""
    if not version:
        raise ValueError(
            f"no model is pinned for environment {environment!r}: MLOPS_SCORING_MODEL_VERSION is empty; "
            f"a deployed environment gets it from scoring.model.version in "
            f"infra/environments/{environment}/values.yaml (`mlops promote --to {environment}` writes it)"
        )
    return version


def prediction_frame(
    ids: pd.Series, probabilities: np.ndarray, model_name: str, model_version: str
) -> pd.DataFrame:
    """One row per application: its default probability and the model version that made it."""
    if len(ids) != len(probabilities):
        raise ValueError(f"{len(ids)} ids but {len(probabilities)} probabilities")
    return pd.DataFrame(
        {
            ID_COLUMN: ids.to_numpy(),
            PROBABILITY_COLUMN: np.asarray(probabilities, dtype="float64"),
            "model_name": model_name,
            "model_version": model_version,
        }
    )


def predictions_stem(batch_number: int, model_name: str, model_version: str) -> str:
    """Where one batch's predictions by one version go, under the environment's predictions root.

    Keyed by version, so scoring again with the same version rewrites the same file and a promotion never
    overwrites what the previous version predicted.
    """
    return f"batch_{batch_number}/{model_name}-v{model_version}"
