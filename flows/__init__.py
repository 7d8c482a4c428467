"""The training pipeline: Prefect flows over pure logic, DVC-versioned data, MLflow models."""

import os

# XGBoost's OpenMP threads spin while they wait for each other. On a CPU shared with anything else (a
# Kubernetes node, a CFS quota, the other stages) the spinning steals the time the work needs: on 2
# cores with one busy neighbour, 1M rows trained in 20 s spinning and 13 s passive (8 s alone either
# way). Set before anything loads libgomp, which reads it once; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# MLflow draws a progress bar for every artifact download (each model load): noise in stage logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# A registered model brings its own few modules and pins (flows/raw_row_model.py); MLflow would also copy this
# project's uv.lock into every model, so that a uv env-manager rebuilds all of the project to serve it.
os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")

# The embedded mode's temporary Prefect server must come up within this; Prefect's 20 s default is missed
# on a busy 2-core machine (measured: CLI runs failed with "Timed out while attempting to connect to
# ephemeral Prefect API server" at load 16). Read when prefect is first imported, hence here.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
