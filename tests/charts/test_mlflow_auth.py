"""Should lock MLflow: its basic-auth app with a generated admin, the same ini `make up` writes, one login per
role made by the registry Job, and each stage's Job holding only its own role's login, by reference."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from flows.logic.registry_access import ROLES, server_config, username
from tests.charts.chart import Json, Rendered, pod_spec, render
from tests.contract.test_stage_jobs import DEPLOYMENT_NAMES, TEMPLATE_DEFAULTS, stage_job

SERVER, JOB = "mlops-platform-mlflow", "mlops-platform-mlflow-logins"
ADMIN, LOGINS = "mlops-platform-mlflow-admin", TEMPLATE_DEFAULTS["mlflow_logins_secret"]
# The stages that touch the registry run as the registrar, scoring as the reader, everything else (train)
# as the trainer: prefect.yaml's job variables.
ROLE_OF = {"evaluate": "registrar", "promote": "registrar", "score": "reader"}


def env_of(container: Json) -> dict[str, Json]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def server(chart: Rendered) -> Json:
    [container] = pod_spec(chart.get("Deployment", SERVER))["containers"]
    return container


def test_should_serve_the_basic_auth_app_with_a_generated_admin_and_csrf_key(default_chart: Rendered) -> None:
    container = server(default_chart)
    assert (
        container["args"][2:4] == ["server", "--app-name"] or "--app-name basic-auth" in container["args"][0]
    )
    env = env_of(container)
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": ADMIN, "key": "admin-password"}
    }
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": ADMIN, "key": "flask-secret-key"}
    }
    secret = default_chart.get("Secret", ADMIN)
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert {len(base64.b64decode(v)) for v in secret["data"].values()} == {32, 48}


def test_should_write_the_ini_make_up_writes(default_chart: Rendered, tmp_path: Path) -> None:
    """The container's script, run by a shell with `mlflow` replaced by `echo`, writes server_config's text
    (a `%` in the database URL doubled for configparser) and passes the server its arguments."""
    container = server(default_chart)
    script = container["args"][0].replace("/tmp/basic_auth.ini", str(tmp_path / "auth.ini"))
    script = script.replace("exec mlflow server", "exec echo server")
    url = "postgresql+psycopg2://mlflow:p%40ss@db:5432/mlflow"
    done = subprocess.run(
        ["sh", "-c", script, *container["args"][1:]],
        env={"MLFLOW_BACKEND_STORE_URI": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "auth.ini").read_text() == server_config(url)
    assert done.stdout.startswith(
        "server --app-name basic-auth --backend-store-uri $(MLFLOW_BACKEND_STORE_URI)"
    )


def test_should_make_one_login_per_role_with_the_names_the_code_grants(default_chart: Rendered) -> None:
    data = default_chart.get("Secret", LOGINS)["data"]
    assert set(data) == {f"{role}-{key}" for role in ROLES for key in ("username", "password")}
    for role in ROLES:
        assert base64.b64decode(data[f"{role}-username"]).decode() == username(role)
    job = default_chart.get("Job", JOB)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    [container] = pod_spec(job)["containers"]
    assert container["command"] == ["python", "-m", "flows.registry_setup"]
    env = env_of(container)
    assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": ADMIN,
        "key": "admin-password",
    }
    for role in ROLES:
        ref = env[f"MLFLOW_{role.upper()}_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": LOGINS, "key": f"{role}-password"}


def test_should_use_the_admin_secret_the_values_name(helm: str) -> None:
    chart = render(helm, set_values={"mlflow.auth.existingSecret": "my-mlflow-admin"})
    assert ADMIN not in chart.names("Secret")
    env = env_of(server(chart))
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "my-mlflow-admin"


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_hand_each_stage_job_only_its_roles_login_by_reference(deployment: str) -> None:
    role = ROLE_OF.get(deployment, "trainer")
    [container] = stage_job(deployment).manifest["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    for variable, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")):
        assert env[variable] == {
            "name": variable,
            "valueFrom": {"secretKeyRef": {"name": LOGINS, "key": f"{role}-{key}"}},
        }
    assert not [e for e in env.values() if "value" in e and "MLFLOW" in e["name"]]
