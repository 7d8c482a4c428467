"""`python -m flows.storage_setup`: make the object store ready for the platform, with its root credentials.

Creates the buckets that are missing, turns versioning on for the data and artifacts buckets, and creates
(or updates: the run is idempotent) one user per client identity with a policy naming exactly its buckets and
actions (flows.logic.storage_access). The chart's bucket Job runs it; `make up` calls `set_up` directly.

Environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the root), S3_ENDPOINT_URL, BUCKETS (comma-separated),
LANDING_BUCKET, DATA_BUCKET, ARTIFACTS_BUCKET, BACKUPS_BUCKET (those this install has), and for each
identity ROLE of storage_access.GRANTS or BACKUP_GRANTS it should create, S3_IDENTITY_<ROLE>_SECRET (ROLE
upper-case, `-` as `_`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flows.logic.storage_access import (
    BACKUP_GRANTS,
    GRANTS,
    VERSIONED,
    Bucket,
    access_key,
    policy_document,
    policy_name,
    role_grants,
)


def secret_variable(role: str) -> str:
    return f"S3_IDENTITY_{role.upper().replace('-', '_')}_SECRET"


def set_up(
    endpoint_url: str,
    root: tuple[str, str],
    buckets: list[str],
    named: dict[Bucket, str],
    identities: Mapping[str, str],
) -> list[str]:
    """Buckets, versioning, identities (role -> secret key); returns what it did, one line each."""
    import boto3
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    done = []
    s3: Any = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=root[0],
        aws_secret_access_key=root[1],
        region_name="us-east-1",
    )
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        done.append(f"bucket ready: {bucket}")
    for kind in VERSIONED:
        if kind in named:
            s3.put_bucket_versioning(Bucket=named[kind], VersioningConfiguration={"Status": "Enabled"})
            done.append(f"versioning on: {named[kind]}")
    url = urlsplit(endpoint_url)
    admin = MinioAdmin(endpoint=url.netloc, credentials=StaticProvider(*root), secure=url.scheme == "https")
    for role, secret_key in identities.items():
        grants = role_grants(role, named)
        admin.policy_add(policy_name(role), policy=policy_document(grants))
        admin.user_add(access_key(role), secret_key)  # sets the secret again when the user exists
        admin.policy_set(policy_name(role), user=access_key(role))
        done.append(
            f"identity ready: {access_key(role)} ({', '.join(f'{b} {a}' for b, a in grants.items())})"
        )
    return done


def main(environ: Mapping[str, str] = os.environ) -> int:
    kinds: dict[Bucket, str] = {
        "landing": "LANDING_BUCKET",
        "data": "DATA_BUCKET",
        "artifacts": "ARTIFACTS_BUCKET",
        "backups": "BACKUPS_BUCKET",
    }
    named: dict[Bucket, str] = {kind: environ[name] for kind, name in kinds.items() if environ.get(name)}
    identities = {
        role: environ[secret_variable(role)]
        for role in (*GRANTS, *BACKUP_GRANTS)
        if environ.get(secret_variable(role))
    }
    lines = set_up(
        environ["S3_ENDPOINT_URL"],
        (environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"]),
        [b for b in environ["BUCKETS"].split(",") if b],
        named,
        identities,
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
