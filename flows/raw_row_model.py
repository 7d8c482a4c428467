"""The registered model: an MLflow pyfunc that scores rows exactly as they land (MLflow's models-from-code).

MLflow saves this file with the model and runs it on load; the definition, the booster and (when it is a file
beside the definition) the derived-feature code are the model's artifacts, and the few modules it imports
travel with it as `code_paths`. So `mlflow.pyfunc.load_model(...).predict(raw_rows)` and
`mlflow models serve` need nothing of this project installed. Binary and multiclass models answer one
probability per class, in columns named after the classes; regression models the predicted values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.pyfunc.model import PythonModel

from flows.feature_code import derive, derived_function
from flows.logic.definition import DatasetDefinition, parse_definition
from flows.logic.features import build_features
from flows.logic.training import predict

BOOSTER, DEFINITION, FEATURES = "booster", "definition", "features"


def model_output(predictions: np.ndarray, definition: DatasetDefinition) -> pd.DataFrame | np.ndarray:
    """What the model answers: class probabilities named by class, or the regression values."""
    task = definition.label.task
    names = [str(c) for c in definition.class_names]
    predictions = np.asarray(predictions, dtype="float64")  # XGBoost's float32, as the signature's double
    if task == "binary":
        return pd.DataFrame({names[0]: 1.0 - predictions, names[1]: predictions})
    if task == "multiclass":
        return pd.DataFrame(predictions, columns=names)
    return predictions


class RawRowModel(PythonModel):
    def load_context(self, context: Any) -> None:
        text = Path(context.artifacts[DEFINITION]).read_text()
        self.definition = parse_definition(text, "the model's dataset definition")
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts[BOOSTER])
        features = context.artifacts.get(FEATURES)
        code = Path(features) if features else None
        self.derived = derived_function(self.definition, Path(context.artifacts[DEFINITION]).parent, code)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        rows = pd.DataFrame(model_input).reset_index(drop=True)
        derived = None if self.derived is None else derive(self.derived, rows, self.definition)
        features = build_features(rows, self.definition, derived)
        return model_output(predict(self.booster, features, self.definition.label.task), self.definition)


mlflow.models.set_model(RawRowModel())
