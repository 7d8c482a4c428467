"""`python -m flows.registry_setup`: the MLflow server's logins and their grants, made with its admin login.

Creates (or, the run being idempotent, sets the password of) one user per role of
flows.logic.registry_access and grants it exactly that role's permissions, on every experiment and registered
model (`*`). The chart's registry Job runs it after each install and upgrade; `make up` calls `set_up`.

Environment: MLFLOW_SERVER_URL, MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (the admin), and for
each role ROLE MLFLOW_<ROLE>_PASSWORD (upper-case).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

from flows.logic.registry_access import ALL, GRANTS, ROLES, Role, username


def password_variable(role: Role) -> str:
    return f"MLFLOW_{role.upper()}_PASSWORD"


def set_up(tracking_uri: str, passwords: Mapping[Role, str]) -> list[str]:
    """Users and grants (role -> password), as the admin that MLFLOW_TRACKING_USERNAME/PASSWORD name."""
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    admin = get_app_client("basic-auth", tracking_uri=tracking_uri)
    done = []
    for role, password in passwords.items():
        user = username(role)
        try:
            admin.create_user(user, password)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            admin.update_user_password(user, password)
        for resource_type, permission in GRANTS[role].items():
            try:
                admin.grant_user_permission(user, resource_type, ALL, permission)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                # Granted before, perhaps with another permission: this run's grant replaces it.
                admin.revoke_user_permission(user, resource_type, ALL)
                admin.grant_user_permission(user, resource_type, ALL, permission)
        grants = ", ".join(f"{t} {p}" for t, p in GRANTS[role].items()) or "the default only"
        done.append(f"login ready: {user} ({grants})")
    return done


def wait_until_up(tracking_uri: str, seconds: float) -> None:
    """The server answers its health check (it may still be migrating its databases after an upgrade)."""
    import requests

    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"{tracking_uri}/health", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"MLflow at {tracking_uri} did not answer /health within {seconds:.0f} s")
        time.sleep(2)


def main(environ: Mapping[str, str] = os.environ) -> int:
    uri = environ["MLFLOW_SERVER_URL"]
    wait_until_up(uri, float(environ.get("MLFLOW_WAIT_SECONDS", "300")))
    passwords = {
        role: environ[password_variable(role)] for role in ROLES if environ.get(password_variable(role))
    }
    print("\n".join(set_up(uri, passwords)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
