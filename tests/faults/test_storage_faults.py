"""Issue 7, item 1: the real MinIO stops during a `dvc push` (ingest) and during a `dvc pull` (train).

The fault point is the first S3 upload (download) of the DVC operation: DVC has already talked to the
remote, then MinIO goes away. Back within the retry window (IO_RETRIES: 3 retries, 2 s, 4 s, 8 s), the
stage completes and every object verifies by hash; down for good, the stage fails after its retries
with an error naming the operation, and nothing is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from mlflow import MlflowClient

from devenv.services import LocalServices
from flows.adapters.catalog import Catalog
from flows.logic.demo import generate_batch
from flows.logic.tag_names import TRAIN_KEY_TAG
from flows.stages.ingest import ingest
from flows.stages.train import train
from flows.tasks import data
from tests.faults.conftest import (
    FirstCall,
    ServiceOutage,
    assert_nothing_lost,
    count_attempts,
    prepared_batch_1,
    registered_runs,
)
from tests.integration.conftest import Platform, new_platform, service_processes
from tests.integration.helpers import land_frame

ROWS = 2000
# The S3 client retries on its own (botocore and s3fs: a failed attempt takes ~10 s), so a 3 s or even a
# 10 s outage costs no task retry. A 20 s one fails the attempt, and a task retry (after 2 s, 4 s, ...)
# finds MinIO back: still inside the retry window (~50 s from the fault to the last failed attempt,
# measured with MinIO down for good).
SHORT_OUTAGE, LONG_OUTAGE = 3.0, 20.0


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    with service_processes(tmp_path_factory.mktemp("storage-faults")) as local:
        yield local


@pytest.fixture
def platform(services: LocalServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    yield new_platform(tmp_path, services, monkeypatch)
    services.start_minio()  # a test that left it down must not take the next one with it


def stop_minio_at_first(
    monkeypatch: pytest.MonkeyPatch, services: LocalServices, method: str, back_after: float | None
) -> tuple[FirstCall, ServiceOutage]:
    outage = ServiceOutage(services, "minio", back_after)
    return FirstCall(outage).install(monkeypatch, s3fs.S3FileSystem, method), outage


@pytest.mark.parametrize("outage_seconds", [SHORT_OUTAGE, LONG_OUTAGE])
def test_push_survives_minio_restart_within_retry_window(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch, outage_seconds: float
) -> None:
    land_frame(platform, 1, generate_batch(1, ROWS))
    attempts = count_attempts(monkeypatch, data.version_frame)
    fault, outage = stop_minio_at_first(monkeypatch, services, "_put_file", back_after=outage_seconds)

    result = ingest(1)
    ended = time.monotonic()
    outage.join(timeout=60)

    assert fault.fired_at is not None, "the push never uploaded: the fault was not injected"
    assert outage.ended_after_restart(ended), "ingest ended before MinIO was started again"
    if outage_seconds == LONG_OUTAGE:
        assert len(attempts) >= 2, "the upload succeeded while MinIO was down?"
    assert Catalog(platform.settings).raw_versions()[1] == result.raw_versions[0]
    assert_nothing_lost(services, platform.settings, model_versions=0)
    outage.report(f"push (ingest), back after {outage_seconds:.0f} s", attempts, ended)


def test_push_fails_cleanly_when_minio_stays_down(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    land_frame(platform, 1, generate_batch(1, ROWS))
    first = ingest(1).raw_versions[0]
    land_frame(platform, 2, generate_batch(2, ROWS))
    attempts = count_attempts(monkeypatch, data.version_frame)
    fault, outage = stop_minio_at_first(monkeypatch, services, "_put_file", back_after=None)

    with pytest.raises(Exception, match=r"dvc push of raw/batch_000002\.parquet to s3://.* failed"):
        ingest(2)
    ended = time.monotonic()

    assert fault.fired_at is not None
    assert len(attempts) == 4, "not 1 attempt + 3 retries"
    services.start_minio()
    assert Catalog(platform.settings).raw_versions() == {1: first}, "batch 2 recorded without its data"
    assert_nothing_lost(services, platform.settings, model_versions=0)
    outage.report("push (ingest), down for good", attempts, ended)


def test_pull_survives_minio_restart_within_retry_window(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    attempts = count_attempts(monkeypatch, data.pull_file)
    fault, outage = stop_minio_at_first(monkeypatch, services, "_get_file", back_after=LONG_OUTAGE)

    trained = train(dataset, 1)
    ended = time.monotonic()
    outage.join(timeout=60)

    assert fault.fired_at is not None, "the pull never downloaded: the fault was not injected"
    assert outage.ended_after_restart(ended), "train ended before MinIO was started again"
    assert len(attempts) >= 2, "the download succeeded while MinIO was down?"
    run = MlflowClient(platform.tracking_uri).get_run(trained.run_id)
    assert run.info.status == "FINISHED" and run.data.tags[TRAIN_KEY_TAG] == trained.train_key
    assert_nothing_lost(services, platform.settings, model_versions=0)  # evaluate registers, not train
    outage.report(f"pull (train), back after {LONG_OUTAGE:.0f} s", attempts, ended)


def test_pull_fails_cleanly_when_minio_stays_down(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    attempts = count_attempts(monkeypatch, data.pull_file)
    fault, outage = stop_minio_at_first(monkeypatch, services, "_get_file", back_after=None)

    with pytest.raises(Exception, match=rf"dvc pull of md5 {dataset.file.md5} from s3://.* failed"):
        train(dataset, 1)
    ended = time.monotonic()

    assert fault.fired_at is not None
    assert len(attempts) == 4, "not 1 attempt + 3 retries"
    services.start_minio()
    assert registered_runs(platform.settings) == []
    assert_nothing_lost(services, platform.settings, model_versions=0)
    outage.report("pull (train), down for good", attempts, ended)
