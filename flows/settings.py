"""One typed settings object: every endpoint, bucket, credential and switch comes from here."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Read from `MLOPS_*` environment variables.

    S3 credentials are never settings: boto3, s3fs and DVC read the standard `AWS_ACCESS_KEY_ID` /
    `AWS_SECRET_ACCESS_KEY` variables themselves (in a cluster, from a Secret).
    """

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default=Path(".mlops"),
        description="Local state of the embedded mode: SQLite databases, artifacts, the DVC remote folder, "
        "workspaces, logs.",
    )
    datasets_dir: Path = Field(
        default=Path("datasets"),
        description="Dataset definitions: `<dir>/<name>/dataset.yaml` (`mlops dataset init` drafts one).",
    )
    dataset: str = Field(
        default="loan-default",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="The dataset a pipeline trains when its parameters name none.",
    )
    landing_url: str = Field(
        default="",
        description="Where batches land: a folder or `s3://bucket/prefix`; each dataset's in "
        "`<url>/<dataset>/batch_<N>.csv` (or `.parquet`). Empty: `<home>/landing`.",
    )
    data_url: str = Field(
        default="",
        description="Root of the versioned data: the DVC remote (`<url>/dvc`), the data catalog "
        "(`<url>/catalog/<dataset>`), published definitions, stage results, predictions. "
        "Empty: `<home>/data`.",
    )
    mlflow_tracking_uri: str = Field(
        default="",
        description="An MLflow server (`http://...`, which switches to services mode) or a database URI. "
        "Empty: SQLite in `<home>/mlflow.db`.",
    )
    # MLflow's client retries every request itself, by default 7 times over ~4 minutes, before the I/O
    # tasks' own retries even start: a server down for good held a stage for ~16 minutes. Here each
    # request retries for ~31 s (1, 2, 4, 8, 16 s), most of a server restart (10-55 s measured); the
    # tasks' retries cover the rest, and a server down for good fails a stage in minutes, not ~16.
    mlflow_http_retries: int = Field(
        default=5, ge=0, description="MLflow's client retries per request, under the tasks' own retries."
    )
    mlflow_http_backoff_factor: int = Field(
        default=1, ge=0, description="Seconds of the first MLflow retry's wait, doubled each time."
    )
    s3_endpoint_url: str = Field(
        default="",
        description="An S3-compatible endpoint (MinIO: `http://127.0.0.1:9000`). Empty: AWS itself.",
    )
    experiment_override: str = Field(
        default="",
        validation_alias="MLOPS_EXPERIMENT_NAME",
        description="The MLflow experiment. Empty: the dataset's name. Set it only where one dataset is "
        "trained.",
    )
    model_override: str = Field(
        default="",
        validation_alias="MLOPS_MODEL_NAME",
        description="The registered model. Empty: `<dataset>-xgb`. Set it only where one dataset is trained.",
    )
    champion_alias: str = Field(
        default="champion", description="The registry alias the gate moves to the best version."
    )
    max_batch_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Landing files larger than this are refused before anything is read into memory.",
    )
    train_engine: Literal["local", "dask"] = Field(
        default="local",
        description="How train fits XGBoost: `local` (in the stage's own process) or `dask` (xgboost.dask on "
        "the cluster `MLOPS_DASK_ADDRESS` names: for data larger than one Job's memory).",
    )
    dask_address: str = Field(
        default="local:2",
        pattern=r"^(local:[1-9][0-9]{0,2}|(tcp|tls)://\S+)$",
        description="The dask engine's scheduler (`tcp://host:8786`; in a cluster the chart's, with "
        "`dask.enabled`), or `local:N`: a LocalCluster of N worker processes on this machine.",
    )
    dask_workers: int = Field(
        default=0,
        ge=0,
        description="Workers the dask engine waits for before training (XGBoost cannot add one later); "
        "0: one. The chart sets its worker replicas.",
    )
    device: Literal["cpu", "cuda"] = Field(
        default="cpu",
        description="XGBoost's `device`: `cuda` trains on the GPU (the flow-runner-gpu image, the "
        "`train-gpu` deployment).",
    )
    dataset_part_bytes: int = Field(
        default=32 * 1024**2,
        ge=1024**2,
        description="Bytes of each Parquet part of a prepared dataset (a DVC directory): each part is one "
        "task of a Dask worker, read whole by its md5 (docs/scaling.md says why 32 MiB).",
    )
    memory_limit: int = Field(
        default=0,
        ge=0,
        description="Bytes the local train engine may use, for its preflight. 0: this process's cgroup "
        "limit (a Job's memory limit), else none.",
    )
    train_deployment: str = Field(
        default="train",
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="The deployment of the train flow that the pipeline runs on the pool: `train`, or "
        "`train-gpu` (one NVIDIA GPU on a GPU node), or one of your own.",
    )
    stage_runner: Literal["auto", "inline", "deployments"] = Field(
        default="auto",
        description="How the pipeline launches its stages: `inline` (subflows in its own process), "
        "`deployments` (each its own flow run on the work pool), `auto` (deployments when the pipeline "
        "itself runs from a deployment).",
    )
    prefect_database: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="The database of `make up`'s Prefect server: SQLite, or a local PostgreSQL for several "
        'pipelines at once (SQLite answers "database is locked" under that load).',
    )
    code_version: str = Field(
        default="",
        description="Recorded as lineage. Empty: the git commit. In a cluster: the image digest.",
    )
    environment: str = Field(
        default="local",
        pattern=r"^[a-z][a-z0-9-]{0,30}$",
        description="The environment (dev, prod): recorded with predictions, part of their path.",
    )
    scoring_model_name: str = Field(
        default="",
        description="The model the scoring flow uses (in a cluster: `scoring.model.name` of the "
        "environment's values). Empty: the model name above.",
    )
    scoring_model_version: str = Field(
        default="",
        pattern=r"^$|^[1-9][0-9]*$",
        description="The pinned version the scoring flow uses. Empty: nothing is pinned and scoring refuses.",
    )

    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def experiment_name(self) -> str:
        return self.experiment_override or self.dataset

    @property
    def model_name(self) -> str:
        return self.model_override or f"{self.dataset}-xgb"

    def for_dataset(self, name: str) -> Settings:
        """These settings for another dataset: its landing folder, catalog, experiment and model."""
        return (
            self if name == self.dataset else Settings.model_validate(self.model_dump() | {"dataset": name})
        )

    @property
    def mode(self) -> Literal["embedded", "services"]:
        """Embedded when no tracking server is configured."""
        return "services" if self.mlflow_tracking_uri.startswith("http") else "embedded"

    @property
    def resolved_landing_url(self) -> str:
        """Where this dataset's batches land: <landing>/<dataset>/batch_<N>.csv (or .parquet)."""
        return f"{(self.landing_url or str(self.home_dir / 'landing')).rstrip('/')}/{self.dataset}"

    @property
    def resolved_data_url(self) -> str:
        return (self.data_url or str(self.home_dir / "data")).rstrip("/")

    @property
    def dvc_remote_url(self) -> str:
        return f"{self.resolved_data_url}/dvc"

    @property
    def catalog_url(self) -> str:
        """This dataset's catalog: its raw batches, datasets and retractions."""
        return f"{self.resolved_data_url}/catalog/{self.dataset}"

    @property
    def definitions_url(self) -> str:
        """Dataset definitions by the hash of their text, as stages read them."""
        return f"{self.resolved_data_url}/definitions"

    @property
    def stage_results_url(self) -> str:
        """Where a stage run from a deployment leaves its (small) result for the pipeline."""
        return f"{self.resolved_data_url}/stage-results"

    @property
    def predictions_url(self) -> str:
        """Where the scoring flow writes, per environment: <data>/predictions/<environment>/."""
        return f"{self.resolved_data_url}/predictions/{self.environment}"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def local_artifact_root(self) -> Path:
        return self.home_dir / "mlartifacts"

    @property
    def workspace_dir(self) -> Path:
        """Scratch space for DVC workspaces; safe to delete, everything lives in the remote."""
        return self.home_dir / "workspace"

    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs options for the landing and data locations (credentials from the env)."""
        if self.s3_endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}}
        return {}


def use_embedded_prefect(settings: Settings) -> None:
    """Before Prefect is imported: the embedded runs' Prefect keeps its history in <MLOPS_HOME>/prefect (so
    `make ui-prefect` shows it, wherever MLOPS_HOME is), with no analytics and time for its temporary server
    to start on a loaded machine (its default 20 s was missed). What the environment sets already wins."""
    home = Path(os.environ.setdefault("PREFECT_HOME", str(settings.home_dir / "prefect")))
    home.mkdir(parents=True, exist_ok=True)  # Prefect creates its home, but not the folders above it
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def get_settings() -> Settings:
    """Settings as the environment says now (read anew so tests and CLIs can change it)."""
    return Settings()
