"""The dask training engine: XGBoost's own Dask interface (`xgboost.dask`) on a Dask cluster.

The workers read the dataset's Parquet parts straight from the DVC remote by their md5s (listed in its
`.dir` manifest), each worker its own share, and verify each part's bytes against its md5: the train Job
never holds the data. xgboost.dask returns a plain Booster: logging, registration, evaluation and scoring
stay as they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

import flows
from flows.adapters.cpu import cpu_budget
from flows.adapters.dvc_store import DIR_SUFFIX, is_directory
from flows.adapters.objectstore import open_fs
from flows.adapters.parquet import read_parquet_head
from flows.contracts import FileVersion
from flows.feature_code import DATASET_MODULE_PREFIX, DerivedFeatures
from flows.logic.definition import DatasetDefinition
from flows.logic.features import SPLIT_COLUMN
from flows.logic.preflight import SAMPLE_ROWS, cluster_refusal, sampled_fit_memory
from flows.logic.training import TrainedModel, model_inputs, trained_model
from flows.settings import Settings

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

LABEL, WEIGHT = "__label__", "__weight__"
# How long train waits for the cluster's workers: XGBoost has no elastic recovery, all must be up first.
WORKERS_TIMEOUT_S = 300


class DataVerificationError(RuntimeError):
    """An object in the DVC remote does not hash to the md5 it is stored under."""


@contextmanager
def dask_client(address: str, workers: int = 0, threads: int = 0) -> Iterator[Client]:
    """A client of the cluster at `address` (`tcp://...`), or of a LocalCluster of N worker processes
    (`local:N`, of `threads` threads each; 0: the CPUs shared among them), once `workers` workers (at
    least one) are up."""
    from distributed import Client, LocalCluster

    if address.startswith("local:"):
        count = int(address.removeprefix("local:"))
        with (
            _without_model_code_on_path(),
            LocalCluster(
                n_workers=count,
                threads_per_worker=threads or max(1, cpu_budget() // count),
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    with Client(address, timeout=WORKERS_TIMEOUT_S) as client:
        client.wait_for_workers(max(1, workers), timeout=WORKERS_TIMEOUT_S)
        yield client


@contextmanager
def _without_model_code_on_path() -> Iterator[None]:
    """sys.path without the folders of models this process has loaded: MLflow puts a model's code (its own
    copy of `flows`, without the stages) first on the path, and worker processes spawned with that path
    would import that copy and fail. The workers start with the project's path; this process keeps its."""
    project = str(Path(flows.__file__).resolve().parents[1])
    saved = list(sys.path)
    sys.path[:] = [
        p
        for p in saved
        if not (Path(p or ".") / "flows").is_dir() or str(Path(p or ".").resolve()) == project
    ]
    try:
        yield
    finally:
        sys.path[:] = saved


def worker_count(client: Client) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def worker_memory_limits(client: Client) -> list[int]:
    """Each worker's memory limit in bytes (0: none), as the scheduler knows it (a worker's own cgroup's
    by default)."""
    return [int(w.get("memory_limit") or 0) for w in client.scheduler_info(n_workers=-1)["workers"].values()]


@dataclass(frozen=True)
class Part:
    """One Parquet file of a dataset in the DVC remote: its md5 and where DVC keeps it."""

    md5: str
    url: str


def dataset_parts(version: FileVersion, settings: Settings) -> list[Part]:
    """The dataset's Parquet parts in their order, from its DVC `.dir` manifest (verified by its md5); a
    dataset prepared as one file is its one part."""
    if not is_directory(version):
        return [Part(version.md5, object_url(version.md5, settings))]
    url = object_url(version.md5, settings)
    fs, path = open_fs(url, settings)
    with fs.open(path, "rb") as handle:
        manifest = handle.read()
    _verify(manifest, version.md5.removesuffix(DIR_SUFFIX), url)
    entries = sorted(json.loads(manifest), key=lambda entry: entry["relpath"])
    return [Part(entry["md5"], object_url(entry["md5"], settings)) for entry in entries]


def cluster_memory_refusal(
    client: Client,
    parts: list[Part],
    rows: int,
    definition: DatasetDefinition,
    function: DerivedFeatures | None,
    settings: Settings,
) -> str | None:
    """Why the workers cannot hold the fit of this dataset (what to do instead), or None: its first rows
    read from the remote measure its bytes a row, as the local engine's preflight does."""
    fs, path = open_fs(parts[0].url, settings)
    with fs.open(path, "rb") as handle:
        sample = read_parquet_head(handle, SAMPLE_ROWS)
    needed, per_row = sampled_fit_memory(sample, rows, definition, function)
    return cluster_refusal(needed, worker_memory_limits(client), rows, per_row)


def object_url(md5: str, settings: Settings) -> str:
    """Where DVC keeps the object with this md5 in its remote (DVC 3's layout)."""
    return f"{settings.dvc_remote_url}/files/md5/{md5[:2]}/{md5[2:]}"


def _verify(content: bytes, md5: str, url: str) -> None:
    found = hashlib.md5(content).hexdigest()
    if found != md5:
        raise DataVerificationError(f"{url} hashes to md5 {found}, not {md5}")


def _read_piece(part: Part, index: int, count: int, options: dict[str, Any]) -> pd.DataFrame:
    """On a worker: the part's bytes from the remote, verified by its md5, and the `index`-th of `count`
    equal slices of its rows."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    with fsspec.open(part.url, "rb", **options) as handle:
        content = handle.read()
    _verify(content, part.md5, part.url)
    table = pq.read_table(pa.BufferReader(content))
    start, end = table.num_rows * index // count, table.num_rows * (index + 1) // count
    return table.slice(start, end - start).to_pandas()


def load_dataset(client: Client, parts: list[Part], settings: Settings) -> dd.DataFrame:
    """The dataset as a Dask frame held in the workers' memory, each worker reading its pieces straight
    from the remote by their md5s: piece i on the i-th worker (by address), at least one on each (a part
    is sliced when there are fewer parts than workers), so that every worker trains on its share and the
    same cluster places the same rows the same way each time."""
    import dask.dataframe as dd
    from distributed import wait

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    slices = -(-len(workers) // len(parts))  # ceil: every worker gets a piece
    options = settings.storage_options() if parts[0].url.startswith("s3://") else {}
    pieces = [(part, index) for part in parts for index in range(slices)]
    held = [
        client.submit(
            _read_piece,
            part,
            index,
            slices,
            options,
            workers=[workers[i % len(workers)]],
            allow_other_workers=False,
            pure=False,
        )
        for i, (part, index) in enumerate(pieces)
    ]
    wait(held)
    failed = next((future for future in held if future.status == "error"), None)
    if failed is not None:
        failed.result()  # raises the worker's error (a part that does not hash to its md5)
    meta = client.submit(lambda frame: frame.iloc[:0], held[0]).result()
    return dd.from_delayed(held, meta=meta, verify_meta=False)


def _ship_by_value(function: DerivedFeatures | None) -> None:
    """A derived-feature module imported from a dataset's folder is not importable on the workers: send its
    code with the function instead of its name."""
    import cloudpickle

    module = None if function is None else sys.modules.get(function.__module__)
    if module is not None and module.__name__.startswith(DATASET_MODULE_PREFIX):
        cloudpickle.register_pickle_by_value(module)


def _inputs_of(part: pd.DataFrame, definition: DatasetDefinition, function: DerivedFeatures | None) -> Any:
    """One partition as model inputs: the features, the label, the weight and the split."""
    from flows.feature_code import derive

    part = part.reset_index(drop=True)
    derived = None if function is None else derive(function, part, definition)
    inputs = model_inputs(part, definition, derived)
    out = inputs.features
    out[LABEL] = inputs.labels
    if inputs.weights is not None:
        out[WEIGHT] = inputs.weights
    out[SPLIT_COLUMN] = inputs.split
    return out


def fit_on_cluster(
    client: Client,
    dataset: dd.DataFrame,
    definition: DatasetDefinition,
    params: dict[str, Any],
    function: DerivedFeatures | None,
) -> TrainedModel:
    """Boost with xgboost.dask on 'train' with early stopping on 'valid', as the local engine does."""
    from xgboost import dask as dxgb

    _ship_by_value(function)
    meta = _inputs_of(dataset._meta, definition, function)
    inputs = dataset.map_partitions(_inputs_of, definition, function, meta=meta).persist()
    columns = [c for c in meta.columns if c not in (LABEL, WEIGHT, SPLIT_COLUMN)]
    train = inputs[inputs[SPLIT_COLUMN] == "train"]
    valid = inputs[inputs[SPLIT_COLUMN] == "valid"]
    train_rows, valid_rows = (int(n) for n in client.compute([train.shape[0], valid.shape[0]], sync=True))
    if not train_rows or not valid_rows:
        raise ValueError("the dataset needs rows in both the 'train' and 'valid' splits")
    weighted = WEIGHT in meta.columns
    dtrain = dxgb.DaskQuantileDMatrix(
        client, train[columns], train[LABEL], weight=train[WEIGHT] if weighted else None
    )
    dvalid = dxgb.DaskQuantileDMatrix(
        client, valid[columns], valid[LABEL], weight=valid[WEIGHT] if weighted else None, ref=dtrain
    )
    output = dxgb.train(
        client,
        {k: v for k, v in params.items() if k != "nthread"},  # each worker boosts with its own threads
        dtrain,
        num_boost_round=definition.training.rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=definition.training.early_stopping,
        verbose_eval=False,
    )
    return trained_model(output["booster"], params, output["history"], train_rows, valid_rows)


def sample_rows(dataset: dd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """A few 'valid' rows of the dataset, for the model's signature and input example."""
    valid = dataset[dataset[SPLIT_COLUMN] == "valid"]
    return valid.head(rows, npartitions=-1).reset_index(drop=True)
