"""The object store's identities, against the real MinIO `make up` (and the chart's bucket Job) sets up: each
may do what its role needs and is refused the rest (AccessDenied), each refusal with its positive control;
the data and artifacts buckets keep earlier versions of an object."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devenv.services import NAMED_BUCKETS, LocalServices
from flows.storage_setup import set_up

LANDING, DATA, ARTIFACTS = NAMED_BUCKETS["landing"], NAMED_BUCKETS["data"], NAMED_BUCKETS["artifacts"]


def client(services: LocalServices, role: str) -> Any:
    credentials = services.identity(role)
    return boto3.client(
        "s3",
        endpoint_url=services.minio_url,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def attempt(call: Any, **kwargs: Any) -> str:
    """'ok', or the S3 error code of the refusal."""
    try:
        call(**kwargs)
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def key() -> str:
    return f"identities/{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("role", "bucket", "allowed"),
    [
        ("flow-runs", DATA, True),
        ("flow-runs", LANDING, False),  # a stage never rewrites what landed
        ("flow-runs", ARTIFACTS, False),  # artifacts go through MLflow's proxy
        ("operator", LANDING, True),
        ("operator", DATA, True),
        ("operator", ARTIFACTS, False),
        ("mlflow", ARTIFACTS, True),
        ("mlflow", DATA, False),
        ("mlflow", LANDING, False),
    ],
)
def test_each_identity_writes_only_the_buckets_of_its_role(
    services: LocalServices, role: str, bucket: str, allowed: bool
) -> None:
    outcome = attempt(client(services, role).put_object, Bucket=bucket, Key=key(), Body=b"x")
    assert outcome == ("ok" if allowed else "AccessDenied")


@pytest.mark.parametrize(
    ("role", "bucket", "allowed"),
    [
        ("flow-runs", LANDING, True),
        ("flow-runs", DATA, True),
        ("flow-runs", ARTIFACTS, False),
        ("mlflow", ARTIFACTS, True),
        ("mlflow", DATA, False),
    ],
)
def test_each_identity_lists_only_the_buckets_of_its_role(
    services: LocalServices, role: str, bucket: str, allowed: bool
) -> None:
    outcome = attempt(client(services, role).list_objects_v2, Bucket=bucket, MaxKeys=1)
    assert outcome == ("ok" if allowed else "AccessDenied")


def test_no_identity_may_administer_the_store(services: LocalServices) -> None:
    for role in ("flow-runs", "operator", "mlflow"):
        s3 = client(services, role)
        assert attempt(s3.create_bucket, Bucket=f"made-by-{role}") == "AccessDenied"
        assert (
            attempt(s3.put_bucket_versioning, Bucket=DATA, VersioningConfiguration={"Status": "Suspended"})
            == "AccessDenied"
        )
    root = services.s3_client()
    assert root.get_bucket_versioning(Bucket=DATA)["Status"] == "Enabled"


@pytest.mark.parametrize("bucket", [DATA, ARTIFACTS])
def test_an_overwritten_object_keeps_its_earlier_version(services: LocalServices, bucket: str) -> None:
    s3, name = services.s3_client(), key()
    s3.put_object(Bucket=bucket, Key=name, Body=b"first")
    s3.put_object(Bucket=bucket, Key=name, Body=b"second")
    versions = s3.list_object_versions(Bucket=bucket, Prefix=name)["Versions"]
    bodies = sorted(
        s3.get_object(Bucket=bucket, Key=name, VersionId=v["VersionId"])["Body"].read() for v in versions
    )
    assert bodies == [b"first", b"second"]


def test_setting_up_again_changes_nothing_and_keeps_every_identity_working(services: LocalServices) -> None:
    root = services.credentials()
    identities = {
        role: services.identity(role)["AWS_SECRET_ACCESS_KEY"] for role in ("flow-runs", "operator", "mlflow")
    }
    set_up(
        services.minio_url,
        (root["AWS_ACCESS_KEY_ID"], root["AWS_SECRET_ACCESS_KEY"]),
        list(NAMED_BUCKETS.values()),
        NAMED_BUCKETS,
        identities,
    )
    assert attempt(client(services, "flow-runs").put_object, Bucket=DATA, Key=key(), Body=b"x") == "ok"
    assert (
        attempt(client(services, "flow-runs").put_object, Bucket=LANDING, Key=key(), Body=b"x")
        == "AccessDenied"
    )
