"""Section 2: DVC push/pull of a dataset to/from MinIO against boto3 moving the same bytes."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.adapters.dvc_store import DvcStore
from flows.settings import Settings

BUCKET = "mlops-data"


@dataclass
class Transfers:
    size_bytes: int
    dvc_push: list[float] = field(default_factory=list)
    dvc_pull: list[float] = field(default_factory=list)
    boto3_upload: list[float] = field(default_factory=list)
    boto3_download: list[float] = field(default_factory=list)


def _timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def measure(dataset: Path, repeats: int, work: Path, endpoint_url: str, s3: Any) -> Transfers:
    """Every repeat pushes to a fresh remote prefix and pulls into a fresh workspace and cache, so DVC
    never skips a transfer because the object is already there."""
    result = Transfers(dataset.stat().st_size)
    for i in range(repeats):
        settings = Settings(data_url=f"s3://{BUCKET}/bench-dvc-{i}", s3_endpoint_url=endpoint_url)
        pushing = work / f"push-{i}"
        store = DvcStore(pushing, settings)
        shutil.copyfile(dataset, pushing / "dataset.parquet")
        seconds, version = _timed(lambda store=store: store.push("dataset.parquet"))
        result.dvc_push.append(seconds)

        puller = DvcStore(work / f"pull-{i}", settings)
        seconds, _ = _timed(lambda puller=puller, version=version: puller.pull(version, "dataset.parquet"))
        result.dvc_pull.append(seconds)

        key = f"bench-boto3-{i}/dataset.parquet"
        seconds, _ = _timed(lambda key=key: s3.upload_file(str(dataset), BUCKET, key))
        result.boto3_upload.append(seconds)
        target = work / f"boto3-{i}.parquet"
        seconds, _ = _timed(lambda key=key, target=target: s3.download_file(BUCKET, key, str(target)))
        result.boto3_download.append(seconds)
        for path in (pushing, work / f"pull-{i}", target):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        print(
            f"  transfer #{i + 1}: dvc push {result.dvc_push[-1]:.2f} s, pull {result.dvc_pull[-1]:.2f} s; "
            f"boto3 up {result.boto3_upload[-1]:.2f} s, down {result.boto3_download[-1]:.2f} s",
            flush=True,
        )
    return result
