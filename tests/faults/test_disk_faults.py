"""Issue 7, item 5: the stage's disk fills up during a `dvc pull`, or its workspace cannot be created.

Root ignores file permissions, so "unwritable" is made another way: MLOPS_HOME (workspaces and DVC
caches) is a tmpfs of its own, mounted for the test, and the fault point, the pull's first download from
MinIO, fills it to the last byte. A full disk is the same for root as for anyone. The other case is an
MLOPS_HOME whose parent is a file, which no user can create.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs

from devenv.services import LocalServices
from flows.adapters.catalog import Catalog
from flows.logic.demo import generate_batch
from flows.stages.ingest import ingest
from flows.stages.prepare import prepare
from flows.tasks import data
from tests.faults.conftest import FirstCall, assert_nothing_lost, count_attempts
from tests.integration.conftest import Platform, new_platform, service_processes
from tests.integration.helpers import land_frame

ROWS = 2000
TMPFS_SIZE = "16m"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    with service_processes(tmp_path_factory.mktemp("disk-faults")) as local:
        yield local


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own where MLOPS_HOME will be (new_platform puts it at <root>/home)."""
    home = tmp_path / "home"
    home.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(home)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mount.stderr.strip()}")
    try:
        yield home
    finally:
        subprocess.run(["umount", "--lazy", str(home)], check=True)


def fill(directory: Path) -> Path:
    """Write a file until the disk under `directory` has no byte left."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        while chunk:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
    return filler


def test_full_disk_during_pull_names_the_path_and_records_nothing(
    small_disk: Path, services: LocalServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform: Platform = new_platform(tmp_path, services, monkeypatch)
    assert platform.settings.home_dir == small_disk
    land_frame(platform, 1, generate_batch(1, ROWS))
    raw_versions = ingest(1).raw_versions
    fillers: list[Path] = []
    with pytest.MonkeyPatch.context() as fault_point:
        attempts = count_attempts(fault_point, data.fetch_frame)
        fault = FirstCall(lambda: fillers.append(fill(small_disk))).install(
            fault_point, s3fs.S3FileSystem, "_get_file"
        )
        with pytest.raises(OSError, match="No space left on device") as failure:
            prepare(raw_versions)

    assert fault.fired_at is not None
    assert failure.value.errno == errno.ENOSPC
    assert str(platform.settings.workspace_dir) in str(failure.value), "the error does not name the path"
    assert len(attempts) == 1, "a full disk was retried"
    assert Catalog(platform.settings).datasets() == [], "a dataset recorded without its data"
    # Space freed, the stage runs again and records its dataset.
    fillers[0].unlink()
    prepared = prepare(raw_versions)
    assert not prepared.reused
    assert_nothing_lost(services, platform.settings, model_versions=0)


def test_workspace_under_a_file_names_the_path_and_records_nothing(
    services: LocalServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = new_platform(tmp_path, services, monkeypatch)
    land_frame(platform, 1, generate_batch(1, ROWS))
    raw_versions = ingest(1).raw_versions
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the stage's home should be\n")
    monkeypatch.setenv("MLOPS_HOME", str(blocker / "home"))

    with pytest.raises(NotADirectoryError) as failure:
        prepare(raw_versions)

    assert str(blocker) in str(failure.value)
    assert Catalog(platform.settings).datasets() == []
    assert_nothing_lost(services, platform.settings, model_versions=0)
