"""Files in a local folder or an S3-compatible bucket, through fsspec (s3fs for s3://)."""

from __future__ import annotations

import json
from typing import Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from flows.settings import Settings


def open_fs(url: str, settings: Settings) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem holding `url` and the path inside it."""
    options = settings.storage_options() if url.startswith("s3://") else {}
    fs, path = url_to_fs(url, **options)
    return fs, path


def read_json(fs: fsspec.AbstractFileSystem, path: str) -> Any:
    with fs.open(path, "rb") as handle:
        return json.loads(handle.read())


def write_json(fs: fsspec.AbstractFileSystem, path: str, payload: Any) -> None:
    """Write via a temporary name then rename, so readers never see half a record (local fs)."""
    data = json.dumps(payload, indent=2, sort_keys=True).encode()
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if isinstance(fs, LocalFileSystem):
        tmp = f"{path}.tmp"
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)
    else:  # a single S3 PUT is atomic already
        fs.pipe_file(path, data)
