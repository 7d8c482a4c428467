"""`python -m flows.backup create|fetch`: the object half of the chart's backup and restore Jobs.

`create` runs after the backup Job's init container has dumped and verified the databases into BACKUP_DIR: it
uploads each dump (read back and compared by SHA-256), copies every object of the install's buckets that the
previous snapshot does not already hold unchanged, writes the snapshot's manifest last, and drops what
retention no longer keeps (flows.logic.backup_plan has the layout). `fetch` runs before the restore Job's
pg_restore: it downloads the chosen snapshot's dumps into BACKUP_DIR, verified, and then puts back every
object whose live copy differs, each verified by its MD5 before it is written. It never deletes a live object.

Environment: S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the live store, the Job's identity);
BACKUP_SOURCE_BUCKETS (comma-separated); BACKUP_URL (s3://bucket[/prefix]); BACKUP_S3_ENDPOINT_URL,
BACKUP_AWS_ACCESS_KEY_ID, BACKUP_AWS_SECRET_ACCESS_KEY (the destination, when it is another store);
BACKUP_DIR (default /backup), BACKUP_DATABASES (default prefect,mlflow), BACKUP_KEEP (default 7),
BACKUP_SNAPSHOT (default latest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.logic.backup_plan import (
    LATEST,
    DumpEntry,
    Manifest,
    ObjectEntry,
    blob_key,
    choose,
    expired,
    known_md5,
    plain_md5,
    snapshot_id,
    snapshot_key,
    split_url,
    unreferenced,
)

MANIFEST = "manifest.json"
CHUNK = 8 << 20


class BackupError(RuntimeError):
    """A backup or restore that must stop: the message says what is wrong and what was left unchanged."""


@dataclass(frozen=True)
class Stores:
    live: Any  # boto3 S3 client of the install's store
    backups: Any  # boto3 S3 client of the destination
    bucket: str  # the destination's bucket and prefix
    prefix: str
    workdir: Path


def s3_client(endpoint: str, key_id: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    # Standard retries take refused connections too: a new pod's first ones can be refused until the node's
    # NetworkPolicy enforcer has added its address, and a store may be restarting.
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def stores(environ: Mapping[str, str]) -> Stores:
    endpoint, key_id, secret = (
        environ["S3_ENDPOINT_URL"],
        environ["AWS_ACCESS_KEY_ID"],
        environ["AWS_SECRET_ACCESS_KEY"],
    )
    bucket, prefix = split_url(environ["BACKUP_URL"])
    return Stores(
        live=s3_client(endpoint, key_id, secret),
        backups=s3_client(
            environ.get("BACKUP_S3_ENDPOINT_URL") or endpoint,
            environ.get("BACKUP_AWS_ACCESS_KEY_ID") or key_id,
            environ.get("BACKUP_AWS_SECRET_ACCESS_KEY") or secret,
        ),
        bucket=bucket,
        prefix=prefix,
        workdir=Path(environ.get("BACKUP_DIR", "/backup")),
    )


def listing(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def digest(path: Path, algorithm: str) -> str:
    hashed = hashlib.new(algorithm)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            hashed.update(chunk)
    return hashed.hexdigest()


def download(s3: Any, bucket: str, key: str, path: Path, algorithm: str) -> str:
    """Streams an object to a file; returns its digest."""
    hashed = hashlib.new(algorithm)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with path.open("wb") as file:
        while chunk := body.read(CHUNK):
            hashed.update(chunk)
            file.write(chunk)
    return hashed.hexdigest()


def snapshots(found: Stores) -> dict[str, list[str]]:
    """Snapshot id -> its keys, for every snapshot directory (complete or not) at the destination."""
    keys: dict[str, list[str]] = {}
    root = f"{found.prefix}snapshots/"
    for item in listing(found.backups, found.bucket, root):
        snapshot = item["Key"][len(root) :].split("/", 1)[0]
        keys.setdefault(snapshot, []).append(item["Key"])
    return keys


def complete(found: dict[str, list[str]], prefix: str) -> list[str]:
    return sorted(s for s, keys in found.items() if snapshot_key(prefix, s, MANIFEST) in keys)


def read_manifest(found: Stores, snapshot: str) -> Manifest:
    body = found.backups.get_object(Bucket=found.bucket, Key=snapshot_key(found.prefix, snapshot, MANIFEST))
    manifest: Manifest = json.loads(body["Body"].read())
    return manifest


def blobs(found: Stores) -> set[str]:
    return {
        item["Key"].rsplit("/", 1)[-1]
        for item in listing(found.backups, found.bucket, f"{found.prefix}blobs/")
    }


def create(environ: Mapping[str, str], now: dt.datetime) -> list[str]:
    """One snapshot of the dumps in BACKUP_DIR and of the source buckets; returns its summary lines."""
    keep = int(environ.get("BACKUP_KEEP", "7"))
    expired([], keep)  # a bad retention stops the backup before it writes anything
    found = stores(environ)
    databases = [name for name in environ.get("BACKUP_DATABASES", "prefect,mlflow").split(",") if name]
    missing = [name for name in databases if not (found.workdir / f"{name}.dump").is_file()]
    if missing:
        raise BackupError(f"no dump of {', '.join(missing)} in {found.workdir}: the dump step did not finish")
    existing = snapshots(found)
    done = complete(existing, found.prefix)
    snapshot = snapshot_id(now)
    if snapshot in existing:
        raise BackupError(f"snapshot {snapshot} exists already at {environ['BACKUP_URL']}")
    previous = read_manifest(found, done[-1]) if done else None
    manifest: Manifest = {"id": snapshot, "created": now.isoformat(), "databases": {}, "objects": {}}
    for name in databases:
        manifest["databases"][name] = upload_dump(found, snapshot, found.workdir / f"{name}.dump")
    stored = blobs(found)
    copied = 0
    for bucket in [b for b in environ.get("BACKUP_SOURCE_BUCKETS", "").split(",") if b]:
        entries: dict[str, ObjectEntry] = {}
        for item in listing(found.live, bucket, ""):
            key, etag, size = item["Key"], item["ETag"], int(item["Size"])
            md5 = known_md5(previous, bucket, key, etag, size)
            if md5 is None or md5 not in stored:
                md5 = copy_to_blob(found, bucket, key, etag, stored)
                copied += 1
            entries[key] = {"md5": md5, "bytes": size, "etag": etag}
        manifest["objects"][bucket] = entries
    found.backups.put_object(
        Bucket=found.bucket,
        Key=snapshot_key(found.prefix, snapshot, MANIFEST),
        Body=json.dumps(manifest, indent=1, sort_keys=True).encode(),
    )
    objects = sum(len(entries) for entries in manifest["objects"].values())
    lines = [
        f"snapshot {snapshot} at {environ['BACKUP_URL']}: "
        + ", ".join(f"{name} dump {entry['bytes']} bytes" for name, entry in manifest["databases"].items()),
        f"objects: {objects} in {len(manifest['objects'])} buckets, {copied} copied, "
        f"{objects - copied} unchanged",
    ]
    return lines + prune(found, [*done, snapshot], existing, keep)


def upload_dump(found: Stores, snapshot: str, path: Path) -> DumpEntry:
    """Uploads a dump and reads it back: the stored copy must have the file's SHA-256."""
    sha256, key = digest(path, "sha256"), snapshot_key(found.prefix, snapshot, path.name)
    found.backups.upload_file(str(path), found.bucket, key)
    with tempfile.TemporaryDirectory(dir=found.workdir) as scratch:
        stored = download(found.backups, found.bucket, key, Path(scratch) / path.name, "sha256")
    if stored != sha256:
        raise BackupError(f"{key} reads back with SHA-256 {stored}, not {sha256}: no manifest was written")
    return {"sha256": sha256, "bytes": path.stat().st_size}


def copy_to_blob(found: Stores, bucket: str, key: str, etag: str, stored: set[str]) -> str:
    """Copies one live object to its content's blob (once per content); returns its MD5."""
    with tempfile.TemporaryDirectory(dir=found.workdir) as scratch:
        path = Path(scratch) / "object"
        md5 = download(found.live, bucket, key, path, "md5")
        expected = plain_md5(etag)
        if expected is not None and expected != md5:
            raise BackupError(f"s3://{bucket}/{key} read with MD5 {md5}, its ETag says {expected}")
        if md5 not in stored:
            found.backups.upload_file(str(path), found.bucket, blob_key(found.prefix, md5))
            stored.add(md5)
    return md5


def prune(found: Stores, done: list[str], existing: dict[str, list[str]], keep: int) -> list[str]:
    """Drops expired snapshots (the manifest first, so none is ever half there), directories of snapshots that
    never finished, and the blobs no kept snapshot names."""
    lines = []
    for snapshot in expired(done, keep):
        manifest = snapshot_key(found.prefix, snapshot, MANIFEST)
        found.backups.delete_object(Bucket=found.bucket, Key=manifest)
        for key in existing[snapshot]:
            if key != manifest:
                found.backups.delete_object(Bucket=found.bucket, Key=key)
        lines.append(f"removed snapshot {snapshot} (keeping {keep})")
    for snapshot in sorted(set(existing) - set(done)):
        for key in existing[snapshot]:
            found.backups.delete_object(Bucket=found.bucket, Key=key)
        lines.append(f"removed unfinished snapshot {snapshot}")
    kept = [read_manifest(found, snapshot) for snapshot in done[-keep:]]
    dropped = unreferenced(blobs(found), kept)
    for md5 in dropped:
        found.backups.delete_object(Bucket=found.bucket, Key=blob_key(found.prefix, md5))
    if dropped:
        lines.append(f"removed {len(dropped)} blobs no kept snapshot names")
    return lines


def fetch(environ: Mapping[str, str]) -> list[str]:
    """Downloads the chosen snapshot's dumps into BACKUP_DIR (verified) and puts its objects back."""
    found = stores(environ)
    snapshot = choose(complete(snapshots(found), found.prefix), environ.get("BACKUP_SNAPSHOT") or LATEST)
    manifest = read_manifest(found, snapshot)
    for name, dump in manifest["databases"].items():
        path = found.workdir / f"{name}.dump"
        sha256 = download(
            found.backups, found.bucket, snapshot_key(found.prefix, snapshot, path.name), path, "sha256"
        )
        if sha256 != dump["sha256"]:
            path.unlink()
            raise BackupError(
                f"snapshot {snapshot}'s {name} dump has SHA-256 {sha256}, its manifest says "
                f"{dump['sha256']}: nothing was restored; choose another snapshot (backup.restoreSnapshot)"
            )
    stored = blobs(found)
    lost = sorted({e["md5"] for objects in manifest["objects"].values() for e in objects.values()} - stored)
    if lost:
        raise BackupError(
            f"snapshot {snapshot} names {len(lost)} blobs the destination lacks: nothing was restored"
        )
    restored = unchanged = 0
    for bucket, entries in manifest["objects"].items():
        live = {item["Key"]: item["ETag"] for item in listing(found.live, bucket, "")}
        for key, entry in entries.items():
            etag = live.get(key)
            if etag is not None and (etag == entry["etag"] or plain_md5(etag) == entry["md5"]):
                unchanged += 1
                continue
            restore_object(found, bucket, key, entry)
            restored += 1
    return [
        f"snapshot {snapshot}: dumps of {', '.join(manifest['databases'])} in {found.workdir}, verified",
        f"objects: {restored} restored, {unchanged} already there",
    ]


def restore_object(found: Stores, bucket: str, key: str, entry: ObjectEntry) -> None:
    with tempfile.TemporaryDirectory(dir=found.workdir) as scratch:
        path = Path(scratch) / "object"
        md5 = download(found.backups, found.bucket, blob_key(found.prefix, entry["md5"]), path, "md5")
        if md5 != entry["md5"]:
            raise BackupError(
                f"the backup's copy of s3://{bucket}/{key} has MD5 {md5}, not {entry['md5']}: it was not "
                "written (the verified objects before it were; running the restore again skips them)"
            )
        found.live.upload_file(str(path), bucket, key)


def main(argv: list[str], environ: Mapping[str, str] = os.environ) -> int:
    if argv not in (["create"], ["fetch"]):
        print("usage: python -m flows.backup create|fetch", file=sys.stderr)
        return 2
    try:
        lines = create(environ, dt.datetime.now(dt.UTC)) if argv == ["create"] else fetch(environ)
    except (BackupError, LookupError, ValueError) as error:
        print(f"backup {argv[0]} failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
