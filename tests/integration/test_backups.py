"""Backups of the object store, against the real MinIO, as the chart's backup and restore Jobs run them: with
the backup and restore identities the bucket set-up makes, a snapshot restores every object and dump, a
second snapshot copies only what changed, retention drops old snapshots and the blobs only they named, and a
restore refuses a corrupted dump or blob, or a snapshot that is not there, without writing what it could not
verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devenv.services import LocalServices
from flows.backup import BackupError, create, fetch
from flows.logic.storage_access import Bucket, access_key
from flows.storage_setup import set_up

DAY = dt.datetime(2026, 12, 1, 3, 17, tzinfo=dt.UTC)


class Install:
    """A tenant's own buckets of the three kinds plus a backups bucket, and the two backup identities."""

    def __init__(self, services: LocalServices, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.named: dict[Bucket, str] = {
            kind: f"bk-{tag}-{kind}" for kind in ("landing", "data", "artifacts", "backups")
        }
        self.services, self.tmp = services, tmp
        self.secrets = {role: secrets.token_urlsafe(30) for role in ("backup", "restore")}
        root = services.credentials()
        set_up(
            services.minio_url,
            (root["AWS_ACCESS_KEY_ID"], root["AWS_SECRET_ACCESS_KEY"]),
            list(self.named.values()),
            self.named,
            self.secrets,
        )
        self.root = services.s3_client()

    @property
    def sources(self) -> list[str]:
        return [self.named[kind] for kind in ("landing", "data", "artifacts")]

    def client(self, role: str) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.services.minio_url,
            aws_access_key_id=access_key(role),
            aws_secret_access_key=self.secrets[role],
            region_name="us-east-1",
        )

    def env(self, role: str, workdir: Path, **extra: str) -> dict[str, str]:
        workdir.mkdir(parents=True, exist_ok=True)
        return {
            "S3_ENDPOINT_URL": self.services.minio_url,
            "AWS_ACCESS_KEY_ID": access_key(role),
            "AWS_SECRET_ACCESS_KEY": self.secrets[role],
            "BACKUP_SOURCE_BUCKETS": ",".join(self.sources),
            "BACKUP_URL": f"s3://{self.named['backups']}/site-a",
            "BACKUP_DIR": str(workdir),
            **extra,
        }

    def dumps(self, workdir: Path, label: str) -> dict[str, bytes]:
        """Stand-ins for the init container's verified pg_dump files (the chart test runs the real one)."""
        workdir.mkdir(parents=True, exist_ok=True)
        written = {name: f"{label} {name} dump".encode() * 1000 for name in ("prefect", "mlflow")}
        for name, content in written.items():
            (workdir / f"{name}.dump").write_bytes(content)
        return written

    def backup(self, when: dt.datetime, label: str = "first", **extra: str) -> list[str]:
        workdir = self.tmp / f"backup-{when:%d%H%M%S}"
        self.dumps(workdir, label)
        return create(self.env("backup", workdir, **extra), when)

    def objects(self) -> dict[tuple[str, str], bytes]:
        return {
            (bucket, item["Key"]): self.root.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for bucket in self.sources
            for item in self.root.list_objects_v2(Bucket=bucket).get("Contents", [])
        }

    def keys(self, prefix: str) -> list[str]:
        listed = self.root.list_objects_v2(Bucket=self.named["backups"], Prefix=f"site-a/{prefix}")
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def empty_sources(self) -> None:
        for bucket, key in self.objects():
            self.root.delete_object(Bucket=bucket, Key=key)


@pytest.fixture
def install(services: LocalServices, tmp_path: Path) -> Install:
    made = Install(services, tmp_path)
    land, data, artifacts = made.sources
    made.root.put_object(Bucket=land, Key="loan/batch_1.csv", Body=b"a,b\n1,2\n")
    made.root.put_object(Bucket=data, Key="files/md5/ab/cdef", Body=b"parquet bytes")
    made.root.put_object(Bucket=data, Key="catalog/same.json", Body=b"parquet bytes")  # the same content
    # Over boto3's multipart threshold: its ETag is not its MD5, so the backup reads it to learn it.
    made.root.upload_file(str(big_file(tmp_path)), artifacts, "1/run/artifacts/model.ubj")
    return made


def big_file(tmp: Path) -> Path:
    path = tmp / "big"
    path.write_bytes(secrets.token_bytes(9 << 20))
    return path


def refused(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def test_a_snapshot_restores_every_object_and_dump_into_an_empty_store(
    install: Install, tmp_path: Path
) -> None:
    before = install.objects()
    written = install.dumps(tmp_path / "dumps", "first")
    lines = create(install.env("backup", tmp_path / "dumps"), DAY)
    assert lines[0].startswith("snapshot 20261201T031700Z at s3://")
    assert "objects: 4 in 3 buckets, 4 copied, 0 unchanged" in lines
    assert len(install.keys("blobs/")) == 3  # two objects share one content, stored once

    install.empty_sources()
    restored = fetch(install.env("restore", tmp_path / "restore"))
    assert install.objects() == before
    assert "objects: 4 restored, 0 already there" in restored
    for name, content in written.items():
        assert (tmp_path / "restore" / f"{name}.dump").read_bytes() == content
    # Again: nothing differs, nothing is written.
    assert "objects: 0 restored, 4 already there" in fetch(install.env("restore", tmp_path / "again"))


def test_a_restore_puts_back_a_rewritten_object_and_keeps_objects_the_snapshot_lacks(
    install: Install,
) -> None:
    install.backup(DAY)
    land, data, _ = install.sources
    install.root.put_object(Bucket=data, Key="catalog/same.json", Body=b"rewritten by mistake")
    install.root.put_object(Bucket=land, Key="loan/batch_2.csv", Body=b"landed after the backup")
    fetch(install.env("restore", install.tmp / "restore"))
    objects = install.objects()
    assert objects[(data, "catalog/same.json")] == b"parquet bytes"
    assert objects[(land, "loan/batch_2.csv")] == b"landed after the backup"  # a restore deletes nothing


def test_a_second_snapshot_copies_only_what_changed(install: Install) -> None:
    install.backup(DAY)
    blobs = install.keys("blobs/")
    data = install.sources[1]
    install.root.put_object(Bucket=data, Key="files/md5/ff/0011", Body=b"batch 2's dataset")
    lines = install.backup(DAY + dt.timedelta(days=1), "second")
    assert "objects: 5 in 3 buckets, 1 copied, 4 unchanged" in lines
    assert len(install.keys("blobs/")) == len(blobs) + 1
    install.empty_sources()
    fetch(install.env("restore", install.tmp / "restore", BACKUP_SNAPSHOT="20261201T031700Z"))
    assert (data, "files/md5/ff/0011") not in install.objects()  # the first snapshot did not hold it
    assert (install.tmp / "restore" / "mlflow.dump").read_bytes().startswith(b"first mlflow")


def test_retention_drops_old_snapshots_unfinished_ones_and_the_blobs_only_they_named(
    install: Install,
) -> None:
    data = install.sources[1]
    install.backup(DAY, BACKUP_KEEP="2")
    install.root.delete_object(Bucket=data, Key="files/md5/ab/cdef")
    install.root.delete_object(Bucket=data, Key="catalog/same.json")  # "parquet bytes" is in snapshot 1 only
    install.backup(DAY + dt.timedelta(days=1), BACKUP_KEEP="2")
    # A backup that died after its dumps: no manifest, so no restore reads it and the next backup clears it.
    install.root.put_object(
        Bucket=install.named["backups"], Key="site-a/snapshots/20261202T120000Z/prefect.dump", Body=b"cut off"
    )
    assert fetch(install.env("restore", install.tmp / "r1"))[0].startswith("snapshot 20261202T031700Z: dumps")
    lines = install.backup(DAY + dt.timedelta(days=2), BACKUP_KEEP="2")
    assert "removed snapshot 20261201T031700Z (keeping 2)" in lines
    assert "removed unfinished snapshot 20261202T120000Z" in lines
    assert "removed 1 blobs no kept snapshot names" in lines
    manifests = [key for key in install.keys("snapshots/") if key.endswith("manifest.json")]
    assert [key.split("/")[2] for key in manifests] == ["20261202T031700Z", "20261203T031700Z"]
    assert not [key for key in install.keys("snapshots/") if "20261201T" in key or "T120000Z" in key]
    gone = hashlib.md5(b"parquet bytes").hexdigest()
    assert not [key for key in install.keys("blobs/") if key.endswith(gone)]


def test_a_corrupted_dump_restores_nothing(install: Install) -> None:
    install.backup(DAY)
    key = "site-a/snapshots/20261201T031700Z/mlflow.dump"
    install.root.put_object(Bucket=install.named["backups"], Key=key, Body=b"bit rot")
    install.empty_sources()
    with pytest.raises(BackupError, match=r"mlflow dump has SHA-256 \w+, its manifest says \w+: nothing was"):
        fetch(install.env("restore", install.tmp / "restore"))
    assert install.objects() == {}
    assert not (install.tmp / "restore" / "mlflow.dump").exists()


def test_a_corrupted_blob_is_never_written_back(install: Install) -> None:
    install.backup(DAY)
    manifest = json.loads(
        install.root.get_object(
            Bucket=install.named["backups"], Key="site-a/snapshots/20261201T031700Z/manifest.json"
        )["Body"].read()
    )
    md5 = manifest["objects"][install.sources[0]]["loan/batch_1.csv"]["md5"]
    install.root.put_object(
        Bucket=install.named["backups"], Key=f"site-a/blobs/{md5[:2]}/{md5}", Body=b"a,b\n9,9\n"
    )
    install.empty_sources()
    with pytest.raises(BackupError, match=r"loan/batch_1.csv has MD5 \w+, not " + md5):
        fetch(install.env("restore", install.tmp / "restore"))
    assert (install.sources[0], "loan/batch_1.csv") not in install.objects()


def test_a_restore_of_a_snapshot_that_is_not_there_names_the_ones_that_are(install: Install) -> None:
    with pytest.raises(LookupError, match="holds no snapshot"):
        fetch(install.env("restore", install.tmp / "restore"))
    install.backup(DAY)
    with pytest.raises(
        LookupError, match="no snapshot '20261130T031700Z'; the destination holds 20261201T031700Z"
    ):
        fetch(install.env("restore", install.tmp / "restore", BACKUP_SNAPSHOT="20261130T031700Z"))


def test_a_backup_without_its_dumps_writes_nothing(install: Install) -> None:
    workdir = install.tmp / "no-dumps"
    with pytest.raises(BackupError, match=r"no dump of prefect, mlflow in .*: the dump step did not finish"):
        create(install.env("backup", workdir), DAY)
    assert install.keys("") == []


def test_the_backup_identities_may_only_read_one_side_and_write_the_other(install: Install) -> None:
    backups, data = install.named["backups"], install.sources[1]
    backup, restore = install.client("backup"), install.client("restore")
    assert refused(backup.put_object, Bucket=data, Key="x", Body=b"x") == "AccessDenied"
    assert refused(backup.get_object, Bucket=data, Key="catalog/same.json") == "ok"
    assert refused(backup.put_object, Bucket=backups, Key="x", Body=b"x") == "ok"
    assert refused(restore.put_object, Bucket=backups, Key="y", Body=b"y") == "AccessDenied"
    assert refused(restore.get_object, Bucket=backups, Key="x") == "ok"
    assert refused(restore.put_object, Bucket=data, Key="y", Body=b"y") == "ok"
