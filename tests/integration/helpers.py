"""What integration tests look at: landing files, the remote's objects, the registry's versions."""

from __future__ import annotations

import io

import pandas as pd
from mlflow import MlflowClient

from flows.adapters.tracking import model_versions
from tests.integration.conftest import DATA_BUCKET, LANDING_BUCKET, Platform


def land_frame(platform: Platform, batch: int, frame: pd.DataFrame, fmt: str = "csv") -> None:
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buffer, index=False)
    else:
        frame.to_parquet(buffer, index=False)
    land_bytes(platform, f"batch_{batch}.{fmt}", buffer.getvalue())


def land_bytes(platform: Platform, name: str, data: bytes) -> None:
    platform.s3().put_object(Bucket=LANDING_BUCKET, Key=f"{platform.landing_prefix}/{name}", Body=data)


def clear_landing(platform: Platform) -> None:
    client = platform.s3()
    listing = client.list_objects_v2(Bucket=LANDING_BUCKET, Prefix=f"{platform.landing_prefix}/")
    for item in listing.get("Contents", []):
        client.delete_object(Bucket=LANDING_BUCKET, Key=item["Key"])


def remote_objects(platform: Platform) -> dict[str, str]:
    """Every object under the tenant's data root (DVC remote + catalog): key -> ETag."""
    client = platform.s3()
    objects: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=DATA_BUCKET, Prefix=f"{platform.data_prefix}/"
    ):
        for item in page.get("Contents", []):
            objects[item["Key"]] = item["ETag"]
    return objects


def registry_state(platform: Platform) -> tuple[list[str], str | None]:
    """Registered versions and the champion."""
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    versions = sorted(str(v.version) for v in model_versions(client, platform.settings.model_name))
    try:
        champion = str(
            client.get_model_version_by_alias(
                platform.settings.model_name, platform.settings.champion_alias
            ).version
        )
    except Exception:
        champion = None
    return versions, champion
