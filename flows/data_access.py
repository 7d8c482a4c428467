"""`mlops data get`: the exact data a model version was trained on, into a folder, with plain DVC.

The version's lineage names the dataset (and the raw batches) by md5; the catalog gives their sizes. The
folder becomes a DVC workspace (no Git) on the project's remote, with one standard `.dvc` file per file,
and `dvc pull` fetches them; every command is printed, so a person can run the same by hand. S3
credentials stay in the environment (DVC reads AWS_* itself), never in the folder.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from flows.adapters.catalog import Catalog, raw_stem
from flows.adapters.dvc_store import REMOTE, content_md5, dataset_path, dvc_file_text
from flows.contracts import FileVersion
from flows.logic.tag_names import LINEAGE_DATASET_MD5_TAG, LINEAGE_RAW_MD5S_TAG
from flows.settings import Settings


class DataGetError(RuntimeError):
    """The version's data cannot be restored; nothing is left half-pulled in the folder's data files."""


@dataclass(frozen=True)
class Restored:
    commands: list[str]
    files: dict[str, str]  # path in the folder -> md5


def lineage_files(tags: dict[str, str], catalog: Catalog, raw: bool) -> dict[str, FileVersion]:
    """The files a version's lineage names: its dataset, and with `raw` its raw batches."""
    md5 = tags.get(LINEAGE_DATASET_MD5_TAG, "")
    dataset = catalog.dataset_by_md5(md5) if md5 else None
    if dataset is None:
        raise DataGetError(f"no dataset with md5 {md5 or '(none recorded)'} in the catalog at {catalog.root}")
    files = {dataset_path(dataset.file): dataset.file}
    if raw:
        ingested = catalog.raw_versions()
        for item in filter(None, tags.get(LINEAGE_RAW_MD5S_TAG, "").split(",")):
            batch, _, batch_md5 = item.partition(":")
            version = ingested.get(int(batch))
            if version is None or version.file.md5 != batch_md5:
                raise DataGetError(
                    f"raw batch {batch} (md5 {batch_md5}) is not in the catalog at {catalog.root}"
                )
            files[f"raw/{raw_stem(int(batch))}.parquet"] = version.file
    return files


def restore(files: dict[str, FileVersion], directory: Path, settings: Settings) -> Restored:
    """`dvc init` (once), the remote, a `.dvc` file per file, `dvc pull`; every file verified by md5."""
    directory.mkdir(parents=True, exist_ok=True)
    dvc = str(Path(sys.executable).with_name("dvc"))
    steps: list[list[str]] = []
    if not (directory / ".dvc").is_dir():
        steps.append(["dvc", "init", "--no-scm", "--quiet"])
    steps.append(["dvc", "remote", "add", "--force", "--default", REMOTE, settings.dvc_remote_url])
    if settings.dvc_remote_url.startswith("s3://") and settings.s3_endpoint_url:
        steps.append(["dvc", "remote", "modify", REMOTE, "endpointurl", settings.s3_endpoint_url])
    for step in steps:
        _run([dvc, *step[1:]], directory)
    for name, version in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{target}.dvc").write_text(dvc_file_text(version, target.name))
    pull = ["dvc", "pull", *(f"{name}.dvc" for name in files)]
    _run([dvc, *pull[1:]], directory)
    restored = {}
    for name, version in files.items():
        md5 = content_md5(directory / name)
        if md5 != version.md5:
            raise DataGetError(f"{directory / name} has md5 {md5}, not {version.md5}")
        restored[name] = md5
    return Restored([shlex.join(step) for step in [*steps, pull]], restored)


def _run(argv: list[str], directory: Path) -> None:
    done = subprocess.run(argv, cwd=directory, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DataGetError(f"{shlex.join(['dvc', *argv[1:]])} failed: {(done.stderr or done.stdout).strip()}")
