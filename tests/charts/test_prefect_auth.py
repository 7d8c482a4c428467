"""Should lock the Prefect API: one generated credential in a kept Secret, handed to the server, the worker,
its init container and (by reference) every flow-run Job only through secretKeyRef; CSRF on; CORS the UI's
origin only."""

from __future__ import annotations

import base64

from tests.charts.chart import Json, Rendered, pod_spec, render

SERVER, WORKER = "mlops-platform-prefect-server", "mlops-platform-prefect-worker"
GENERATED = "mlops-platform-prefect-auth"


def env_of(container: Json) -> dict[str, Json]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def auth_ref(secret: str) -> Json:
    return {"secretKeyRef": {"name": secret, "key": "auth-string"}}


def server_env(chart: Rendered) -> dict[str, Json]:
    return env_of(pod_spec(chart.get("Deployment", SERVER))["containers"][0])


def worker_pod(chart: Rendered) -> Json:
    return pod_spec(chart.get("Deployment", WORKER))


def test_should_generate_an_admin_credential_in_a_secret_kept_across_uninstall(
    default_chart: Rendered,
) -> None:
    secret = default_chart.get("Secret", GENERATED)
    user, password = base64.b64decode(secret["data"]["auth-string"]).decode().split(":")
    assert user == "admin" and len(password) == 32 and password.isalnum()
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_should_lock_the_server_with_the_credential_csrf_and_the_uis_origin(default_chart: Rendered) -> None:
    env = server_env(default_chart)
    assert env["PREFECT_SERVER_API_AUTH_STRING"]["valueFrom"] == auth_ref(GENERATED)
    assert env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"]["value"] == "true"
    assert env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"]["value"] == "http://localhost:4200"
    # The migration container serves nothing: it gets no credential.
    (migrate,) = pod_spec(default_chart.get("Deployment", SERVER))["initContainers"]
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env_of(migrate)


def test_should_allow_the_origins_the_ui_is_served_from(helm: str) -> None:
    chart = render(helm, set_values={"prefectServer.uiApiUrl": "https://prefect.example.com/api"})
    assert (
        server_env(chart)["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"]["value"] == "https://prefect.example.com"
    )
    chart = render(
        helm,
        set_values={"prefectServer.corsAllowedOrigins": "{https://a.example.com,https://b.example.com}"},
    )
    origins = server_env(chart)["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"]["value"]
    assert origins == "https://a.example.com,https://b.example.com"


def test_should_hand_the_worker_and_its_init_container_the_credential_by_reference(
    default_chart: Rendered,
) -> None:
    pod = worker_pod(default_chart)
    for container in (*pod["initContainers"], *pod["containers"]):
        assert env_of(container)["PREFECT_API_AUTH_STRING"]["valueFrom"] == auth_ref(GENERATED), container[
            "name"
        ]
    # prefect-kubernetes then writes the same reference into every flow-run Job, not the value.
    worker = env_of(pod["containers"][0])
    prefix = "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_"
    assert (worker[f"{prefix}NAME"]["value"], worker[f"{prefix}KEY"]["value"]) == (GENERATED, "auth-string")


def test_should_use_an_existing_secret_everywhere_and_generate_none(helm: str) -> None:
    chart = render(helm, set_values={"prefectServer.auth.existingSecret": "my-prefect-auth"})
    assert GENERATED not in chart.names("Secret")
    assert server_env(chart)["PREFECT_SERVER_API_AUTH_STRING"]["valueFrom"] == auth_ref("my-prefect-auth")
    worker = env_of(worker_pod(chart)["containers"][0])
    assert worker["PREFECT_API_AUTH_STRING"]["valueFrom"] == auth_ref("my-prefect-auth")


def test_should_give_a_worker_of_an_external_server_that_servers_credential(helm: str) -> None:
    values = {
        "prefectServer.enabled": "false",
        "worker.apiUrl": "https://prefect.example.com/api",
        "prefectServer.auth.existingSecret": "external-prefect-auth",
    }
    chart = render(helm, set_values=values)
    assert GENERATED not in chart.names("Secret")
    worker = env_of(worker_pod(chart)["containers"][0])
    assert worker["PREFECT_API_AUTH_STRING"]["valueFrom"] == auth_ref("external-prefect-auth")


def test_should_probe_the_workers_own_health_check(default_chart: Rendered) -> None:
    worker = worker_pod(default_chart)["containers"][0]
    assert "--with-healthcheck" in worker["command"]
    [port] = worker["ports"]
    assert env_of(worker)["PREFECT_WORKER_WEBSERVER_PORT"]["value"] == str(port["containerPort"])
    assert worker["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert worker["readinessProbe"]["tcpSocket"] == {"port": port["name"]}
