"""Who may do what in MLflow: one login per role, each with grants from MLflow's basic-auth permissions.

MLflow's permissions are READ, USE, EDIT, MANAGE and DENY, per experiment and per registered model (a
resource pattern, `*` for all). Creating a version, tagging it and moving an alias are all EDIT on the
registered model, so the gate cannot be one of those rights: it is an identity. Train runs as `trainer`,
which writes experiments and is denied the registry outright (it cannot even create a registered model and
so own it); evaluate and promote run as `registrar`, the only login with EDIT on registered models, which adds
versions, records the gate's tags and moves `champion`; scoring and the other environments run as `reader`,
which holds no grant beyond the server's default (READ). The README's "MLflow roles" table says the same.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["trainer", "registrar", "reader"]
ROLES: tuple[Role, ...] = ("trainer", "registrar", "reader")
ResourceType = Literal["experiment", "registered_model"]
Permission = Literal["READ", "USE", "EDIT", "MANAGE", "DENY"]

GRANTS: dict[Role, dict[ResourceType, Permission]] = {
    "trainer": {"experiment": "EDIT", "registered_model": "DENY"},
    # EDIT on experiments too: evaluate logs its comparison and plots to the version's training run.
    "registrar": {"experiment": "EDIT", "registered_model": "EDIT"},
    "reader": {},
}
# What every login may do where it holds no grant (the server's `default_permission`).
DEFAULT_PERMISSION: Permission = "READ"
ALL = "*"


def username(role: Role) -> str:
    """The role's login name in MLflow; the chart's client Secret holds the same under `<role>-username`."""
    return f"mlops-{role}"


def server_config(database_uri: str) -> str:
    """The basic-auth app's ini (MLFLOW_AUTH_CONFIG_PATH): its user store and the default permission.

    The admin's password comes from MLFLOW_AUTH_ADMIN_PASSWORD (MLflow ships none). Checked credentials are
    cached a minute: each request would otherwise pay a PBKDF2 hash, and a pipeline makes hundreds.
    """
    return (
        "[mlflow]\n"
        f"default_permission = {DEFAULT_PERMISSION}\n"
        f"database_uri = {database_uri.replace('%', '%%')}\n"  # configparser's escape
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
