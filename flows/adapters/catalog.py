"""The data catalog: which batches and datasets exist, as small JSON records beside the DVC remote.

A record is written only after its data is pushed, so a record always points at data that exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flows.adapters.dvc_store import dvc_file_text, is_directory
from flows.adapters.objectstore import open_fs, read_json, write_json
from flows.contracts import DatasetVersion, RawVersion, Retraction
from flows.logic.validation import BatchIndex
from flows.settings import Settings


def raw_stem(batch_number: int) -> str:
    """A raw batch's name, without suffix: its file, record, index and retraction all carry it."""
    return f"batch_{batch_number:06d}"


class Catalog:
    def __init__(self, settings: Settings) -> None:
        self.fs, self.root = open_fs(settings.catalog_url, settings)

    def _raw_path(self, batch_number: int) -> str:
        return f"{self.root}/raw/{raw_stem(batch_number)}.json"

    def raw_versions(self) -> dict[int, RawVersion]:
        """Every ingested batch by number."""
        found: dict[int, RawVersion] = {}
        if not self.fs.exists(f"{self.root}/raw"):
            return found
        for path in self.fs.glob(f"{self.root}/raw/batch_??????.json"):
            version = RawVersion.model_validate(read_json(self.fs, path))
            found[version.batch_number] = version
        return found

    def record_raw(self, version: RawVersion) -> None:
        """The batch's record, and beside it a standard `.dvc` file: `dvc pull` of it restores the batch."""
        name = f"{raw_stem(version.batch_number)}.parquet"
        self.fs.makedirs(f"{self.root}/raw", exist_ok=True)
        self.fs.pipe_file(f"{self.root}/raw/{name}.dvc", dvc_file_text(version.file, name).encode())
        write_json(self.fs, self._raw_path(version.batch_number), version.model_dump())

    def retract(self, retraction: Retraction) -> None:
        write_json(
            self.fs,
            f"{self.root}/raw/{raw_stem(retraction.batch_number)}.retracted.json",
            retraction.model_dump(),
        )

    def retractions(self) -> dict[int, Retraction]:
        """Every retracted batch by number."""
        if not self.fs.exists(f"{self.root}/raw"):
            return {}
        found = [
            Retraction.model_validate(read_json(self.fs, p))
            for p in self.fs.glob(f"{self.root}/raw/*.retracted.json")
        ]
        return {r.batch_number: r for r in found}

    def _stem(self, batch_number: int) -> str:
        return f"{self.root}/raw/{raw_stem(batch_number)}"

    def _index_paths(self, batch_number: int) -> tuple[str, str]:
        stem = self._stem(batch_number)
        return f"{stem}.ids.parquet", f"{stem}.rows.parquet"

    def record_index(self, batch_number: int, index: BatchIndex) -> None:
        """A batch's index, beside its record; written before the record, so a record has its index."""
        self.fs.makedirs(f"{self.root}/raw", exist_ok=True)
        for path, values in zip(self._index_paths(batch_number), (index.ids, index.rows), strict=True):
            with self.fs.open(path, "wb") as handle:
                pq.write_table(pa.table({"value": values}), handle)
        write_json(self.fs, f"{self._stem(batch_number)}.profile.json", index.profile)

    def index(self, batch_number: int) -> BatchIndex | None:
        """A batch's index, or None for a batch ingested before indexes (or profiles) were kept."""
        paths = self._index_paths(batch_number)
        profile = self.profile(batch_number)
        if profile is None or not all(self.fs.exists(p) for p in paths):
            return None
        columns = []
        for path in paths:
            with self.fs.open(path, "rb") as handle:
                columns.append(np.asarray(pq.read_table(handle).column("value").to_numpy()))
        return BatchIndex(columns[0], columns[1], profile)

    def profile(self, batch_number: int) -> dict[str, Any] | None:
        """A batch's profile (`data_report.batch_profile`) alone, without its ids and row hashes."""
        return self._optional_json(f"{self._stem(batch_number)}.profile.json")

    def record_report(self, report: dict[str, Any]) -> None:
        write_json(self.fs, f"{self._stem(int(report['batch']))}.report.json", report)

    def report(self, batch_number: int) -> dict[str, Any] | None:
        """The data report of a batch's ingestion, or None for a batch ingested before reports were kept."""
        return self._optional_json(f"{self._stem(batch_number)}.report.json")

    def _optional_json(self, path: str) -> dict[str, Any] | None:
        return read_json(self.fs, path) if self.fs.exists(path) else None

    def dataset(self, key: str) -> DatasetVersion | None:
        found = self._optional_json(f"{self.root}/datasets/{key}.json")
        return None if found is None else DatasetVersion.model_validate(found)

    def record_dataset(self, version: DatasetVersion) -> None:
        """The dataset's record, with a standard `.dvc` file beside it (as for raw batches)."""
        self.fs.makedirs(f"{self.root}/datasets", exist_ok=True)
        name = version.key if is_directory(version.file) else f"{version.key}.parquet"
        self.fs.pipe_file(f"{self.root}/datasets/{name}.dvc", dvc_file_text(version.file, name).encode())
        write_json(self.fs, f"{self.root}/datasets/{version.key}.json", version.model_dump())

    def dataset_by_md5(self, md5: str) -> DatasetVersion | None:
        return next((d for d in self.datasets() if d.file.md5 == md5), None)

    def datasets(self) -> list[DatasetVersion]:
        if not self.fs.exists(f"{self.root}/datasets"):
            return []
        return [
            DatasetVersion.model_validate(read_json(self.fs, p))
            for p in self.fs.glob(f"{self.root}/datasets/*.json")
        ]
