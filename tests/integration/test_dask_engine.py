"""The dask train engine against the real MinIO (its workers read the dataset from the DVC remote by md5),
on LocalClusters of 1 and 2 workers x 1 thread; and the pipeline 1 -> 2 -> 3 on it through the real MLflow,
Prefect API and MinIO. Also the local engine's memory preflight."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from flows.adapters import dask_engine
from flows.adapters.dvc_store import DvcStore, content_md5
from flows.adapters.memory import rss_bytes
from flows.adapters.parquet import write_parquet_parts
from flows.adapters.tracking import model_versions
from flows.contracts import FileVersion
from flows.feature_code import derive, derived_function
from flows.logic.demo import generate_batch
from flows.logic.features import SPLIT_COLUMN, build_features, prepare_dataset
from flows.logic.lineage import missing_lineage
from flows.logic.preflight import MemoryPreflightError
from flows.logic.tag_names import LINEAGE_DEVICE_TAG, LINEAGE_ENGINE_TAG, LINEAGE_WORKERS_TAG
from flows.logic.training import TrainedModel, fit, predict, training_params
from flows.settings import Settings
from flows.training_flow import training_pipeline
from tests.definitions import LOAN, loan
from tests.integration.conftest import DATA_BUCKET, Platform
from tests.integration.helpers import land_frame, registry_state

ROWS = 120_000  # at least 100k: the 2-worker model must be within 0.005 AUC of the local one there
PART_BYTES = 1024**2  # small parts, so that the test dataset has several (128 MiB would make it one)
PIPELINE_ROWS = 2500
FUNCTION = derived_function(loan(), LOAN.parent)


@pytest.fixture(scope="module")
def dataset(
    module_platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, list[dask_engine.Part]]:
    """A prepared loan dataset of ROWS rows pushed to the tenant's DVC remote as a directory of Parquet
    parts, as prepare pushes one: the frame, and its parts as its manifest lists them."""
    frame, _ = prepare_dataset([generate_batch(1, ROWS)], loan())
    workspace = tmp_path_factory.mktemp("dask-dataset")
    write_parquet_parts(frame, workspace / "dataset", PART_BYTES)
    version = DvcStore(workspace, module_platform.settings).push("dataset")
    assert version.md5 == content_md5(workspace / "dataset")  # `dvc add`'s own md5 of the directory
    return frame, dask_engine.dataset_parts(version, module_platform.settings)


@pytest.fixture(scope="module")
def local_model(dataset: tuple[pd.DataFrame, list[dask_engine.Part]]) -> TrainedModel:
    frame, _ = dataset
    return fit(frame, loan(), _params(), None if FUNCTION is None else derive(FUNCTION, frame, loan()))


@pytest.fixture(scope="module")
def two_workers() -> Iterator[Client]:
    with dask_engine.dask_client("local:2", threads=1) as client:
        yield client


def _params() -> dict[str, object]:
    return training_params(loan(), threads=1)


def _holdout_auc(frame: pd.DataFrame, model: TrainedModel) -> float:
    holdout = frame[frame[SPLIT_COLUMN] == "holdout"].reset_index(drop=True)
    derived = None if FUNCTION is None else derive(FUNCTION, holdout, loan())
    scores = predict(model.booster, build_features(holdout, loan(), derived), "binary")
    return float(roc_auc_score((holdout["defaulted"] == 1).to_numpy(), scores))


def _cluster_fit(client: Client, parts: list[dask_engine.Part], settings: Settings) -> TrainedModel:
    frame = dask_engine.load_dataset(client, parts, settings)
    return dask_engine.fit_on_cluster(client, frame, loan(), _params(), FUNCTION)


def test_every_worker_reads_its_parts_from_the_remote(
    module_platform: Platform, dataset: tuple[pd.DataFrame, list[dask_engine.Part]], two_workers: Client
) -> None:
    frame, files = dataset
    assert len(files) >= 3, "the test dataset should have several parts"
    remote = f"s3://{DATA_BUCKET}/{module_platform.data_prefix}/dvc/files/md5/"
    assert all(part.url == f"{remote}{part.md5[:2]}/{part.md5[2:]}" for part in files)
    parts = dask_engine.load_dataset(two_workers, files, module_platform.settings)
    held = two_workers.has_what()
    assert len(held) == 2 and all(held.values()), held
    rows = two_workers.run(
        lambda dask_worker: sum(len(v) for v in dask_worker.data.values() if isinstance(v, pd.DataFrame))
    )
    assert all(n > 0 for n in rows.values()) and sum(rows.values()) == len(frame), rows
    assert parts.shape[0].compute() == len(frame)


def test_one_worker_reproduces_the_local_engine_exactly(
    module_platform: Platform,
    dataset: tuple[pd.DataFrame, list[dask_engine.Part]],
    local_model: TrainedModel,
) -> None:
    frame, files = dataset
    with dask_engine.dask_client("local:1", threads=1) as client:
        model = _cluster_fit(client, files, module_platform.settings)
    assert model.best_iteration == local_model.best_iteration
    assert model.valid_curve == local_model.valid_curve
    holdout = frame[frame[SPLIT_COLUMN] == "holdout"].reset_index(drop=True)
    derived = None if FUNCTION is None else derive(FUNCTION, holdout, loan())
    features = build_features(holdout, loan(), derived)
    assert np.array_equal(
        predict(model.booster, features, "binary"), predict(local_model.booster, features, "binary")
    )


def test_two_workers_match_the_local_engine_within_tolerance(
    module_platform: Platform,
    dataset: tuple[pd.DataFrame, list[dask_engine.Part]],
    local_model: TrainedModel,
    two_workers: Client,
) -> None:
    frame, files = dataset
    model = _cluster_fit(two_workers, files, module_platform.settings)
    assert (model.train_rows, model.valid_rows) == (local_model.train_rows, local_model.valid_rows)
    assert abs(_holdout_auc(frame, model) - _holdout_auc(frame, local_model)) < 0.005


def _put(platform: Platform, md5: str, body: bytes) -> None:
    key = dask_engine.object_url(md5, platform.settings).removeprefix(f"s3://{DATA_BUCKET}/")
    platform.s3().put_object(Bucket=DATA_BUCKET, Key=key, Body=body)


def test_a_manifest_that_does_not_hash_to_its_md5_is_refused(module_platform: Platform) -> None:
    _put(
        module_platform,
        "0" * 32 + ".dir",
        b'[{"md5": "' + b"1" * 32 + b'", "relpath": "part-00000.parquet"}]',
    )
    forged = FileVersion(md5="0" * 32 + ".dir", size=1)
    with pytest.raises(dask_engine.DataVerificationError, match="hashes to md5"):
        dask_engine.dataset_parts(forged, module_platform.settings)


def test_a_part_that_does_not_hash_to_its_md5_is_refused_by_the_worker_that_reads_it(
    module_platform: Platform, dataset: tuple[pd.DataFrame, list[dask_engine.Part]], two_workers: Client
) -> None:
    frame, files = dataset
    # A true manifest whose second part's object holds other bytes (the first part's, a valid Parquet file).
    forged_md5 = "2" * 32
    entries = [
        {"md5": forged_md5 if i == 1 else p.md5, "relpath": f"part-{i:05d}.parquet"}
        for i, p in enumerate(files)
    ]
    manifest = json.dumps(entries, sort_keys=True).encode()
    _put(module_platform, f"{hashlib.md5(manifest).hexdigest()}.dir", manifest)
    body = module_platform.s3().get_object(
        Bucket=DATA_BUCKET, Key=files[0].url.removeprefix(f"s3://{DATA_BUCKET}/")
    )
    _put(module_platform, forged_md5, body["Body"].read())
    version = FileVersion(md5=f"{hashlib.md5(manifest).hexdigest()}.dir", size=len(frame))
    parts = dask_engine.dataset_parts(version, module_platform.settings)
    assert [p.md5 for p in parts] == [e["md5"] for e in entries]  # the manifest itself is genuine
    with pytest.raises(
        dask_engine.DataVerificationError, match=f"hashes to md5 {files[0].md5}, not {forged_md5}"
    ):
        dask_engine.load_dataset(two_workers, parts, module_platform.settings)


def _refusal(memory_limit: str, parts: list[dask_engine.Part], rows: int, settings: Settings) -> str | None:
    """The dask engine's preflight on 2 in-process workers of this memory limit each (threads: a worker
    process would be restarted by its nanny over so small a limit)."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            memory_limit=memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        refusal = dask_engine.cluster_memory_refusal(client, parts, rows, loan(), FUNCTION, settings)
        assert not any(client.has_what().values()), "the preflight loaded data"
    return refusal


def test_the_cluster_preflight_refuses_a_dataset_its_workers_cannot_hold_together(
    module_platform: Platform, dataset: tuple[pd.DataFrame, list[dask_engine.Part]]
) -> None:
    frame, files = dataset
    refusal = _refusal("16MiB", files, len(frame), module_platform.settings)
    assert refusal is not None
    assert f"training {len(frame):,} rows on the Dask cluster" in refusal
    assert "2 workers together, 0.03 GiB" in refusal and "dask.workers" in refusal
    # The positive control: workers with room for it pass.
    assert _refusal("2GiB", files, len(frame), module_platform.settings) is None


def test_the_pipeline_trains_each_batch_on_the_dask_engine(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TRAIN_ENGINE", "dask")
    monkeypatch.setenv("MLOPS_DASK_ADDRESS", "local:2")
    for batch in (1, 2, 3):
        land_frame(platform, batch, generate_batch(batch, PIPELINE_ROWS))
    summaries = [training_pipeline(batch) for batch in (1, 2, 3)]
    assert [s.model_version for s in summaries] == ["1", "2", "3"]
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    versions = sorted(model_versions(client, platform.settings.model_name), key=lambda v: int(v.version))
    assert [v.version for v in versions] == ["1", "2", "3"]
    for version in versions:
        tags = version.tags or {}
        assert missing_lineage(tags) == []
        assert (tags[LINEAGE_ENGINE_TAG], tags[LINEAGE_WORKERS_TAG], tags[LINEAGE_DEVICE_TAG]) == (
            "dask",
            "2",
            "cpu",
        )
    assert registry_state(platform)[1] is not None
    # The same inputs on the same engine and worker count: nothing is trained or registered again.
    again = training_pipeline(3)
    assert again.reused and again.model_version == "3" and registry_state(platform)[0] == ["1", "2", "3"]


def test_the_preflight_refuses_a_dataset_over_the_memory_limit(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    land_frame(platform, 1, generate_batch(1, PIPELINE_ROWS))
    # Less than the process holds already (its resident size moves as it runs: a limit just above it races).
    monkeypatch.setenv("MLOPS_MEMORY_LIMIT", str(1024**2))
    with pytest.raises(MemoryPreflightError) as refused:
        training_pipeline(1)
    message = str(refused.value)
    assert "MLOPS_TRAIN_ENGINE=dask" in message and "dask.enabled=true" in message
    assert f"training {PIPELINE_ROWS:,} rows" in message
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    experiment = client.get_experiment_by_name(platform.settings.experiment_name)
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    assert runs == [] and registry_state(platform)[0] == []
    # The positive control: with room for it, the same batch trains.
    monkeypatch.setenv("MLOPS_MEMORY_LIMIT", str(rss_bytes() + 2 * 1024**3))
    assert training_pipeline(1).model_version == "1"
