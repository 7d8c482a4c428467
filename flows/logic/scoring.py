"""Batch scoring with an environment's pinned model: which model, and the predictions table. Pure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# A prediction's columns: `probability_<class>` per class (classification), or `prediction` (regression).
PROBABILITY_PREFIX, PREDICTION_COLUMN = "probability_", "prediction"
# The row a prediction belongs to when the dataset has no id column: its position in the scored file.
ROW_COLUMN = "row"


def pinned_version(version: str, environment: str) -> str:
    """The pinned version; an environment with nothing pinned refuses to score rather than guess."""
    if not version:
        raise ValueError(
            f"no model is pinned for environment {environment!r}: MLOPS_SCORING_MODEL_VERSION is empty; "
            f"a deployed environment gets it from scoring.model.version in "
            f"infra/environments/{environment}/values.yaml (`mlops promote --to {environment}` writes it)"
        )
    return version


def prediction_frame(ids: pd.Series, answer: Any, model_name: str, model_version: str) -> pd.DataFrame:
    """One row per scored row: its id, the model's answer (a probability per class, or the predicted
    value) and the model version that made it."""
    if isinstance(answer, pd.DataFrame):
        values = answer.reset_index(drop=True).add_prefix(PROBABILITY_PREFIX)
    else:
        values = pd.DataFrame({PREDICTION_COLUMN: np.asarray(answer, dtype="float64").reshape(-1)})
    if len(ids) != len(values):
        raise ValueError(f"{len(ids)} ids but {len(values)} predictions")
    out = pd.DataFrame({str(ids.name): ids.to_numpy()})
    for column in values.columns:
        out[column] = values[column].to_numpy(dtype="float64")
    out["model_name"] = model_name
    out["model_version"] = model_version
    return out


def predictions_stem(batch_number: int, model_name: str, model_version: str) -> str:
    """Where one batch's predictions by one version go, under the environment's predictions root.

    Keyed by version, so scoring again with the same version rewrites the same file and a promotion never
    overwrites what the previous version predicted.
    """
    return f"batch_{batch_number}/{model_name}-v{model_version}"
