"""What a backup holds and where, as pure functions: the snapshot layout, which objects a new snapshot must
copy, which snapshots and blobs retention drops, which snapshot a restore reads.

A destination `s3://bucket/prefix` holds `snapshots/<id>/<database>.dump` (pg_dump's custom format) and
`snapshots/<id>/manifest.json`, written last: a snapshot exists once its manifest does. The manifest lists
every object of the install's buckets by its MD5, and each object's content is stored once, under
`blobs/<md5[:2]>/<md5>`, whatever the number of snapshots naming it (DVC's objects and MLflow's artifacts are
written once and never change, so a daily snapshot copies only what is new).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TypedDict

SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z$")
LATEST = "latest"


class DumpEntry(TypedDict):
    sha256: str
    bytes: int


class ObjectEntry(TypedDict):
    md5: str
    bytes: int
    etag: str  # the source's ETag when copied: an unchanged object (same ETag and size) is not read again


class Manifest(TypedDict):
    id: str
    created: str
    databases: dict[str, DumpEntry]
    objects: dict[str, dict[str, ObjectEntry]]  # bucket -> key -> entry


def snapshot_id(now: dt.datetime) -> str:
    """A snapshot's name: its UTC time to the second, so names sort by age."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/"); the prefix is empty or ends with `/`."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url)
    if not match:
        raise ValueError(f"the backup destination must be an s3://bucket[/prefix] URL, not {url!r}")
    prefix = match.group(2).strip("/")
    return match.group(1), f"{prefix}/" if prefix else ""


def snapshot_key(prefix: str, snapshot: str, name: str) -> str:
    return f"{prefix}snapshots/{snapshot}/{name}"


def blob_key(prefix: str, md5: str) -> str:
    return f"{prefix}blobs/{md5[:2]}/{md5}"


def plain_md5(etag: str) -> str | None:
    """The MD5 an ETag is, for an object uploaded in one part (a multipart ETag has a `-N` suffix)."""
    etag = etag.strip('"')
    return etag if re.fullmatch(r"[0-9a-f]{32}", etag) else None


def known_md5(previous: Manifest | None, bucket: str, key: str, etag: str, size: int) -> str | None:
    """The MD5 of an object the previous snapshot already copied unchanged, else None (it must be read)."""
    entry = previous["objects"].get(bucket, {}).get(key) if previous else None
    if entry and entry["etag"] == etag and entry["bytes"] == size:
        return str(entry["md5"])
    return None


def choose(snapshots: Iterable[str], wanted: str) -> str:
    """The snapshot a restore reads: `latest` or one by name; a clear error when there is none."""
    available = sorted(snapshots)
    if not available:
        raise LookupError("the backup destination holds no snapshot (no snapshots/<id>/manifest.json)")
    if wanted == LATEST:
        return available[-1]
    if wanted not in available:
        raise LookupError(f"no snapshot {wanted!r}; the destination holds {', '.join(available)}")
    return wanted


def expired(snapshots: Iterable[str], keep: int) -> list[str]:
    """The snapshots retention removes: all but the newest `keep`."""
    if keep < 1:
        raise ValueError(f"a backup must keep at least 1 snapshot, not {keep}")
    return sorted(snapshots)[:-keep]


def unreferenced(blobs: Iterable[str], kept: Iterable[Manifest]) -> list[str]:
    """The blob MD5s no kept snapshot names: what retention may delete."""
    named = {
        entry["md5"]
        for manifest in kept
        for objects in manifest["objects"].values()
        for entry in objects.values()
    }
    return sorted(set(blobs) - named)
