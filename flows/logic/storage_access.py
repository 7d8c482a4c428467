"""Who may touch which bucket of the object store, as MinIO (S3 IAM) policy documents.

One identity per client, each with exactly the buckets and actions it needs: the flow runs read the landing
bucket and write the data bucket (DVC remote, catalog, predictions); the operator's shell (the worker's
`kubectl exec mlops ...`, `make up`'s env.sh) also lands batches; MLflow writes its artifacts bucket. The
backup Job reads every bucket of the install and writes the backups bucket; the restore Job the other way
round. Only the bootstrap holds the root credentials.
"""

from __future__ import annotations

from typing import Any, Literal

Access = Literal["read", "write"]
Bucket = Literal["landing", "data", "artifacts", "backups"]

GRANTS: dict[str, dict[Bucket, Access]] = {
    "flow-runs": {"landing": "read", "data": "write"},
    "operator": {"landing": "write", "data": "write"},
    "mlflow": {"artifacts": "write"},
}
# The backup Jobs' identities (the chart's, when `backup.enabled`): they cover whichever of these buckets the
# install has; the backups bucket is this store's only when the backups are not kept off-site.
BACKUP_GRANTS: dict[str, dict[Bucket, Access]] = {
    "backup": {"landing": "read", "data": "read", "artifacts": "read", "backups": "write"},
    "restore": {"landing": "write", "data": "write", "artifacts": "write", "backups": "read"},
}
# Buckets whose objects keep their earlier versions (an overwrite or delete by mistake can be undone).
VERSIONED: tuple[Bucket, ...] = ("data", "artifacts")

_BUCKET_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
_OBJECT_ACTIONS: dict[Access, list[str]] = {
    "read": ["s3:GetObject"],
    "write": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ],
}


def access_key(role: str) -> str:
    """The identity's user name (its access key id) in the object store; the chart writes the same."""
    return f"{role}-identity"


def policy_name(role: str) -> str:
    return f"mlops-{role}"


def policy_document(grants: dict[str, Access]) -> dict[str, Any]:
    """An IAM policy allowing exactly `grants` (bucket name -> access), nothing else."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": _BUCKET_ACTIONS,
            "Resource": [f"arn:aws:s3:::{bucket}" for bucket in sorted(grants)],
        }
    ]
    for access in ("read", "write"):
        buckets = sorted(bucket for bucket, granted in grants.items() if granted == access)
        if buckets:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": _OBJECT_ACTIONS[access],
                    "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets],
                }
            )
    return {"Version": "2012-10-17", "Statement": statements}


def role_grants(role: str, buckets: dict[Bucket, str]) -> dict[str, Access]:
    """The role's grants on this install's bucket names; a client needing a bucket the install lacks is an
    error, a backup identity covers the buckets there are."""
    if role in BACKUP_GRANTS:
        return {buckets[kind]: access for kind, access in BACKUP_GRANTS[role].items() if kind in buckets}
    missing = [kind for kind in GRANTS[role] if kind not in buckets]
    if missing:
        raise ValueError(
            f"identity {role!r} needs the {', '.join(missing)} bucket, which this install has not"
        )
    return {buckets[kind]: access for kind, access in GRANTS[role].items()}
