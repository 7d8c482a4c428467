"""DVC as the data versioning layer: add + push a file or a directory, or pull one back by its md5 alone.

Pulling needs nothing but the remote and the hash, so a stage can run on any machine (or Job).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import yaml

from flows.contracts import FileVersion
from flows.settings import Settings

os.environ.setdefault("DVC_NO_ANALYTICS", "1")  # no network but the object store

REMOTE = "storage"


class DvcError(RuntimeError):
    """A DVC operation failed (remote unreachable, object missing, hash mismatch)."""


def dvc_file_text(version: FileVersion, name: str) -> str:
    """A standard `.dvc` file for the file with this md5, to be materialised as `name` beside it."""
    return yaml.safe_dump({"outs": [{"md5": version.md5, "size": version.size, "hash": "md5", "path": name}]})


# DVC's mark of a directory's md5: the md5 of its `.dir` manifest (each file's md5 and relative path).
DIR_SUFFIX = ".dir"


def is_directory(version: FileVersion) -> bool:
    return version.md5.endswith(DIR_SUFFIX)


def dataset_path(version: FileVersion) -> str:
    """Where a stage puts a prepared dataset: `dataset`, a directory of Parquet parts, or `dataset.parquet`
    for one prepared as a single file (before datasets were parts; the catalog keeps those as they are)."""
    return "dataset" if is_directory(version) else "dataset.parquet"


def content_md5(path: Path) -> str:
    """The md5 DVC gives the file, or the directory (its manifest's, computed as DVC does), read anew."""
    if not path.is_dir():
        return _file_md5(path)
    entries = [
        {"md5": _file_md5(file), "relpath": file.relative_to(path).as_posix()}
        for file in sorted(path.rglob("*"))
        if file.is_file()
    ]
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + DIR_SUFFIX


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024**2):
            digest.update(chunk)
    return digest.hexdigest()


class DvcStore:
    """A DVC workspace (no Git) bound to the project's remote."""

    def __init__(self, workspace: Path, settings: Settings) -> None:
        self.workspace = workspace
        self.remote_url = settings.dvc_remote_url
        self.endpoint_url = settings.s3_endpoint_url
        self._ensure_repo()

    def _ensure_repo(self) -> None:
        from dvc.repo import Repo

        self.workspace.mkdir(parents=True, exist_ok=True)
        if not (self.workspace / ".dvc").is_dir():
            # Every stage makes a scratch workspace: DVC's "Initialized DVC repository." each time is noise.
            logging.getLogger("dvc.repo.init").setLevel(logging.WARNING)
            Repo.init(str(self.workspace), no_scm=True).close()
        with Repo(str(self.workspace)) as repo, repo.config.edit() as conf:
            remote: dict[str, str] = {"url": self.remote_url}
            if self.remote_url.startswith("s3://") and self.endpoint_url:
                remote["endpointurl"] = self.endpoint_url
            conf["remote"] = {REMOTE: remote}
            conf["core"]["remote"] = REMOTE
            conf["core"]["analytics"] = False
            # The workspace is scratch on the cache's own disk: link files instead of copying them
            # (a copy per add and per pull; DVC's default is reflink, else copy).
            conf["cache"]["type"] = "hardlink,copy"

    def push(self, relative_path: str) -> FileVersion:
        """`dvc add` + `dvc push` one workspace file or directory; returns its content address."""
        from dvc.repo import Repo

        dvcfile = self.workspace / f"{relative_path}.dvc"
        try:
            with Repo(str(self.workspace)) as repo:
                repo.add(str(self.workspace / relative_path))
                repo.push(targets=[str(dvcfile)], remote=REMOTE)
        except Exception as exc:  # DVC raises many types; callers need one, with the cause
            raise DvcError(f"dvc push of {relative_path} to {self.remote_url} failed: {exc}") from exc
        out = yaml.safe_load(dvcfile.read_text())["outs"][0]
        return FileVersion(md5=out["md5"], size=int(out["size"]))

    def pull(self, version: FileVersion, relative_path: str) -> Path:
        """Materialise the file or directory with this md5 at `relative_path`, from the remote."""
        from dvc.repo import Repo

        target = self.workspace / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        dvcfile = Path(f"{target}.dvc")
        dvcfile.write_text(dvc_file_text(version, target.name))
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        try:
            with Repo(str(self.workspace)) as repo:
                repo.pull(targets=[str(dvcfile)], remote=REMOTE)
        except Exception as exc:
            self._check_space(version.size, exc)
            raise DvcError(
                f"dvc pull of md5 {version.md5} from {self.remote_url} into {target} failed: {exc}"
            ) from exc
        if not target.exists():
            raise DvcError(f"dvc pull of md5 {version.md5} produced no file at {target}")
        return target

    def _check_space(self, needed: int, cause: Exception) -> None:
        """A full disk as what it is: DVC reports only "1 files failed to download" and logs the cause."""
        free = shutil.disk_usage(self.workspace).free
        if free < needed:
            raise OSError(
                errno.ENOSPC,
                f"No space left on device: {needed} bytes needed, {free} free",
                str(self.workspace),
            ) from cause
