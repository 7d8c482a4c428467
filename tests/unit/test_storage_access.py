"""The object store's identities: each policy names exactly its buckets and actions, nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from flows.logic.storage_access import GRANTS, Bucket, access_key, policy_document, role_grants

NAMED: dict[Bucket, str] = {"landing": "in", "data": "dvc", "artifacts": "mlflow"}


def allowed(document: dict[str, Any], bucket: str, action: str) -> bool:
    """Whether the policy allows `action` on the bucket (List actions) or on its objects (the others)."""
    resource = f"arn:aws:s3:::{bucket}" if action.startswith("s3:List") else f"arn:aws:s3:::{bucket}/*"
    return any(
        statement["Effect"] == "Allow" and action in statement["Action"] and resource in statement["Resource"]
        for statement in document["Statement"]
    )


@pytest.mark.parametrize(
    ("role", "bucket", "action", "expected"),
    [
        ("flow-runs", "in", "s3:GetObject", True),
        ("flow-runs", "in", "s3:PutObject", False),  # a stage never rewrites what landed
        ("flow-runs", "in", "s3:DeleteObject", False),
        ("flow-runs", "dvc", "s3:PutObject", True),
        ("flow-runs", "dvc", "s3:ListBucket", True),
        ("flow-runs", "mlflow", "s3:GetObject", False),  # artifacts go through MLflow's proxy
        ("flow-runs", "mlflow", "s3:ListBucket", False),
        ("operator", "in", "s3:PutObject", True),
        ("operator", "dvc", "s3:GetObject", True),
        ("operator", "mlflow", "s3:GetObject", False),
        ("mlflow", "mlflow", "s3:PutObject", True),
        ("mlflow", "dvc", "s3:GetObject", False),
        ("mlflow", "in", "s3:ListBucket", False),
    ],
)
def test_each_identity_may_do_exactly_what_its_grants_say(
    role: str, bucket: str, action: str, expected: bool
) -> None:
    assert allowed(policy_document(role_grants(role, NAMED)), bucket, action) is expected


@pytest.mark.parametrize("role", GRANTS)
def test_no_policy_grants_a_wildcard_or_an_admin_action(role: str) -> None:
    for statement in policy_document(role_grants(role, NAMED))["Statement"]:
        assert all(action.startswith("s3:") and "*" not in action for action in statement["Action"])
        assert all(resource not in ("*", "arn:aws:s3:::*") for resource in statement["Resource"])


def test_an_identity_needing_a_bucket_the_install_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the landing bucket"):
        role_grants("flow-runs", {"data": "dvc", "artifacts": "mlflow"})


def test_identities_are_named_after_their_role() -> None:
    assert [access_key(role) for role in GRANTS] == [
        "flow-runs-identity",
        "operator-identity",
        "mlflow-identity",
    ]


def test_the_backup_identities_cover_the_buckets_there_are_in_opposite_directions() -> None:
    named: dict[Bucket, str] = {**NAMED, "backups": "kept"}
    backup, restore = (policy_document(role_grants(role, named)) for role in ("backup", "restore"))
    for bucket in ("in", "dvc", "mlflow"):
        assert allowed(backup, bucket, "s3:GetObject") and not allowed(backup, bucket, "s3:PutObject")
        assert allowed(restore, bucket, "s3:PutObject")
    assert allowed(backup, "kept", "s3:PutObject") and allowed(backup, "kept", "s3:DeleteObject")
    assert allowed(restore, "kept", "s3:GetObject") and not allowed(restore, "kept", "s3:PutObject")
    # Backups kept off-site: the install's store has no backups bucket, and no grant names one.
    assert role_grants("backup", {"data": "dvc"}) == {"dvc": "read"}
