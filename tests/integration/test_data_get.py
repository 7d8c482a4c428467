"""Any model version's data is one plain DVC command away: `mlops data get`, or the catalog's own `.dvc`
files with `dvc pull`, restore byte-identical files (by md5) in a fresh directory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from flows.adapters.catalog import Catalog
from flows.adapters.dvc_store import content_md5
from flows.logic.demo import generate_batch
from flows.training_flow import training_pipeline
from tests.integration.conftest import DATA_BUCKET, Platform
from tests.integration.helpers import land_frame


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def mlops(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a process of its own, with the tenant's environment."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], env=dict(os.environ), capture_output=True, text=True
    )


def test_mlops_data_get_restores_a_versions_dataset_and_raw_batches(
    platform: Platform, tmp_path: Path
) -> None:
    for batch in (1, 2):
        land_frame(platform, batch, generate_batch(batch, 1500))
        summary = training_pipeline(batch)
    model = platform.settings.model_name
    tags = MlflowClient(platform.tracking_uri).get_model_version(model, summary.model_version).tags
    target = tmp_path / "restored"

    got = mlops("data", "get", f"{model}/{summary.model_version}", str(target), "--raw")
    assert got.returncode == 0, got.stderr[-3000:]
    out = got.stdout
    assert content_md5(target / "dataset") == tags["lineage.dataset_md5"]  # a directory of parts
    raws = dict(item.split(":") for item in tags["lineage.raw_md5s"].split(","))
    for number, md5 in raws.items():
        assert md5_of(target / "raw" / f"batch_{int(number):06d}.parquet") == md5
    assert "dvc pull dataset.dvc raw/batch_000001.parquet.dvc raw/batch_000002.parquet.dvc" in out
    assert f"dvc remote add --force --default storage s3://{DATA_BUCKET}/" in out
    config = (target / ".dvc" / "config").read_text()
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in config, "a credential was written into the folder"

    missing = mlops("data", "get", f"{model}/99", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no model version" in missing.stderr


def test_the_catalog_keeps_a_standard_dvc_file_beside_each_version(
    platform: Platform, tmp_path: Path
) -> None:
    land_frame(platform, 1, generate_batch(1, 1500))
    summary = training_pipeline(1)
    catalog = Catalog(platform.settings)
    dataset = catalog.dataset_by_md5(summary.dataset_md5)
    assert dataset is not None
    fresh = tmp_path / "plain"
    fresh.mkdir()
    s3 = platform.s3()
    for key, name in (
        (
            f"{platform.data_prefix}/catalog/loan-default/datasets/{dataset.key}.dvc",
            f"{dataset.key}.dvc",
        ),
        (
            f"{platform.data_prefix}/catalog/loan-default/raw/batch_000001.parquet.dvc",
            "batch_000001.parquet.dvc",
        ),
    ):
        (fresh / name).write_bytes(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())
    dvc = [sys.executable, "-m", "dvc"]
    for args in (
        ["init", "--no-scm"],
        ["remote", "add", "-d", "store", platform.settings.dvc_remote_url],
        ["remote", "modify", "store", "endpointurl", platform.services.minio_url],
        ["pull"],
    ):
        subprocess.run([*dvc, *args], cwd=fresh, check=True, capture_output=True)
    assert content_md5(fresh / dataset.key) == summary.dataset_md5
    assert md5_of(fresh / "batch_000001.parquet") == summary.raw_md5
