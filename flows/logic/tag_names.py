"""Every tag the platform writes on MLflow runs and model versions, named once. `mlops lineage`, `mlops
promote`, the gate and the tests read these names; renaming one is a migration of every registry."""

from __future__ import annotations

# Lineage: where a version came from (each version and its run carry them; `mlops lineage` checks them).
LINEAGE_DATASET_TAG = "lineage.dataset"
LINEAGE_DEFINITION_TAG = "lineage.dataset_definition"  # the sha256 of the definition's text
LINEAGE_BATCH_NUMBER_TAG = "lineage.batch_number"
LINEAGE_BATCHES_TAG = "lineage.batches"
LINEAGE_RAW_MD5S_TAG = "lineage.raw_md5s"
LINEAGE_DATASET_MD5_TAG = "lineage.dataset_md5"
LINEAGE_DATASET_KEY_TAG = "lineage.dataset_key"
LINEAGE_CODE_VERSION_TAG = "lineage.code_version"
LINEAGE_FLOW_RUN_TAG = "lineage.prefect_flow_run_id"
LINEAGE_PIPELINE_RUN_TAG = "lineage.prefect_pipeline_run_id"
# How the model was boosted: the engine (local, dask), its worker count, XGBoost's device (cpu, cuda).
LINEAGE_ENGINE_TAG = "lineage.train_engine"
LINEAGE_WORKERS_TAG = "lineage.train_workers"
LINEAGE_DEVICE_TAG = "lineage.device"

# The gate's first evaluation of a version: its record, which `mlops promote` trusts.
GATE_DECISION_TAG = "gate.decision"
GATE_REASON_TAG = "gate.reason"
GATE_MARGIN_TAG = "gate.margin"
GATE_CHAMPION_VERSION_TAG = "gate.champion_version"
GATE_DATA_REPORT_TAG = "gate.data_report"

# The platform's bookkeeping.
TRAIN_KEY_TAG = "mlops.train_key"  # the hash of everything a training run depends on: a re-run finds it
THREADS_TAG = "mlops.threads"
MODEL_URI_TAG = "mlops.model_uri"
MODEL_VERSION_TAG = "mlops.model_version"
BATCH_NUMBER_TAG = "mlops.batch_number"
EVALUATION_OF_TAG = "mlops.evaluation_of"  # a repeated evaluation's run: <model>/<version>
REPRODUCTION_OF_TAG = "mlops.reproduction_of"  # `mlops reproduce`'s run: <model>/<version>
