"""Should give the worker the pool's own job template, least-privilege RBAC and the flow runs' settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from prefect.utilities.templating import PlaceholderType, find_placeholders

from flows.logic.storage_access import BACKUP_GRANTS, GRANTS
from flows.storage_setup import secret_variable
from tests.charts.chart import CHART, ROOT, WORK_POOL_TEMPLATE, Json, Rendered, chart_ports, pod_spec, render

IDENTITY_SECRETS = {
    "flow-runs": "mlops-s3-credentials",
    "operator": "mlops-platform-s3-operator",
    "mlflow": "mlops-platform-s3-mlflow",
    "backup": "mlops-platform-s3-backup",
    "restore": "mlops-platform-s3-restore",
}
TEMPLATE_DEFAULTS = {
    name: spec.get("default")
    for name, spec in json.loads(WORK_POOL_TEMPLATE.read_text())["variables"]["properties"].items()
}
# What prefect-kubernetes calls (worker.py: create/delete Jobs; observer.py, kopf: watch/list/get Jobs and
# pods, read a pod's log, post events), nothing more: no secrets (no API key), no cluster scope.
WORKER_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]


def worker_container(chart: Rendered) -> Json:
    container: Json = pod_spec(chart.get("Deployment", "mlops-platform-prefect-worker"))["containers"][0]
    return container


def pool_template(chart: Rendered) -> Json:
    config_map = chart.get("ConfigMap", "mlops-platform-work-pool-template")
    template: Json = json.loads(config_map["data"]["base-job-template.json"])
    return template


def with_defaults(template: Json, **defaults: str) -> Json:
    changed = copy.deepcopy(template)
    for name, value in defaults.items():
        changed["variables"]["properties"][name]["default"] = value
    return changed


def test_should_hand_the_worker_the_pool_template_the_contract_test_checks(default_chart: Rendered) -> None:
    # The file itself, whose defaults (namespace mlops, flow-runner 0.1.0) fit the default install exactly.
    assert pool_template(default_chart) == json.loads(WORK_POOL_TEMPLATE.read_text())


def test_should_set_the_namespace_and_image_defaults_of_the_pool_template_per_install(helm: str) -> None:
    chart = render(helm, set_values={"images.flowRunner.tag": "0.2.0"}, namespace="mlops-prod")
    expected = with_defaults(
        json.loads(WORK_POOL_TEMPLATE.read_text()),
        namespace="mlops-prod",
        image="mlops-platform/flow-runner:0.2.0",
    )
    assert pool_template(chart) == expected
    assert worker_container(chart)["image"] == "mlops-platform/flow-runner:0.2.0"


def test_should_place_the_flow_run_pods_like_every_other_pod_of_the_release(helm: str) -> None:
    toleration = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    chart = render(
        helm,
        set_values={
            "nodeSelector.pool": "ml",
            **{f"tolerations[0].{key}": value for key, value in toleration.items()},
        },
    )
    variables = pool_template(chart)["variables"]["properties"]
    assert variables["node_selector"]["default"] == {"pool": "ml"}
    assert variables["tolerations"]["default"] == [toleration]
    assert pod_spec(chart.get("Deployment", "mlops-platform-prefect-worker"))["tolerations"] == [toleration]


def test_should_check_the_pools_placement_variables_with_the_schema_of_the_charts_values() -> None:
    # The pool template is a file of its own (Prefect reads it), so it carries a copy of these schemas.
    values_schema = json.loads((CHART / "values.schema.json").read_text())["definitions"]
    variables = json.loads(WORK_POOL_TEMPLATE.read_text())["variables"]["properties"]
    for variable, value in (("node_selector", "nodeSelector"), ("tolerations", "tolerations")):
        schema = {
            k: v for k, v in variables[variable].items() if k not in ("title", "description", "default")
        }
        assert schema == values_schema[value], variable


def test_should_make_the_pools_template_follow_the_mounted_one_before_the_worker_starts(
    default_chart: Rendered,
) -> None:
    spec = pod_spec(default_chart.get("Deployment", "mlops-platform-prefect-worker"))
    (init,) = spec["initContainers"]
    assert init["name"] == "sync-work-pool" and init["image"] == TEMPLATE_DEFAULTS["image"]
    assert init["command"][:2] == ["sh", "-c"]
    script = init["command"][2]
    # Update only the template of an existing pool (`create --overwrite` would also unpause a paused one).
    assert 'prefect work-pool update "$WORK_POOL" --base-job-template "$BASE_JOB_TEMPLATE"' in script
    assert "--overwrite" not in script
    env = {entry["name"]: entry.get("value") for entry in init["env"]}
    assert env["WORK_POOL"] == "mlops-kubernetes"
    assert env["BASE_JOB_TEMPLATE"] == "/config/base-job-template.json"
    assert env["PREFECT_API_URL"] == "http://mlops-platform-prefect-server:4200/api"
    mounts = {mount["mountPath"]: mount["name"] for mount in init["volumeMounts"]}
    assert mounts["/config"] == "base-job-template"


def test_should_ship_the_pool_template_as_the_same_file_as_infra() -> None:
    shipped = CHART / "files" / "kubernetes-job-template.json"
    assert shipped.read_bytes() == WORK_POOL_TEMPLATE.read_bytes()
    if shipped.is_symlink():
        assert shipped.resolve() == WORK_POOL_TEMPLATE.resolve()


def test_should_start_a_kubernetes_worker_on_the_pool_with_the_mounted_template(
    default_chart: Rendered,
) -> None:
    deployment = default_chart.get("Deployment", "mlops-platform-prefect-worker")
    container = worker_container(default_chart)
    assert container["image"] == TEMPLATE_DEFAULTS["image"]
    assert container["command"] == [
        "prefect", "worker", "start", "--pool", "mlops-kubernetes", "--type", "kubernetes",
        "--base-job-template", "/config/base-job-template.json", "--with-healthcheck",
    ]  # fmt: skip
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
    assert volumes[mounts["/config"]]["configMap"]["name"] == "mlops-platform-work-pool-template"
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert env["PREFECT_API_URL"] == "http://mlops-platform-prefect-server:4200/api"
    assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == TEMPLATE_DEFAULTS["namespace"]
    # The worker sees the flow runs' settings too (for `kubectl exec ... mlops generate`).
    assert container["envFrom"] == [{"configMapRef": {"name": TEMPLATE_DEFAULTS["settings_config_map"]}}]


def test_should_use_worker_api_url_when_set(helm: str) -> None:
    chart = render(helm, set_values={"worker.apiUrl": "http://prefect.example.com/api"})
    env = {entry["name"]: entry.get("value") for entry in worker_container(chart)["env"]}
    assert env["PREFECT_API_URL"] == "http://prefect.example.com/api"


def test_should_grant_the_worker_exactly_the_verbs_prefect_kubernetes_uses(default_chart: Rendered) -> None:
    assert default_chart.of_kind("ClusterRole") == [] and default_chart.of_kind("ClusterRoleBinding") == []
    (role,) = default_chart.of_kind("Role")
    assert role["metadata"]["namespace"] == TEMPLATE_DEFAULTS["namespace"]
    assert role["rules"] == WORKER_RULES
    (binding,) = default_chart.of_kind("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mlops-platform-prefect-worker", "namespace": "mlops"}
    ]


def test_should_give_flow_run_pods_a_service_account_without_token_or_role(default_chart: Rendered) -> None:
    account = default_chart.get("ServiceAccount", TEMPLATE_DEFAULTS["service_account_name"])
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["namespace"] == TEMPLATE_DEFAULTS["namespace"]
    bound = {subject["name"] for b in default_chart.of_kind("RoleBinding") for subject in b["subjects"]}
    assert account["metadata"]["name"] not in bound


def test_should_create_the_settings_config_map_and_s3_secret_the_pool_template_names(
    default_chart: Rendered,
) -> None:
    settings = default_chart.get("ConfigMap", TEMPLATE_DEFAULTS["settings_config_map"])["data"]
    assert settings == {
        "MLOPS_DATASET": "loan-default",
        "MLOPS_LANDING_URL": "s3://mlops-landing",
        "MLOPS_DATA_URL": "s3://mlops-data",
        "MLOPS_S3_ENDPOINT_URL": "http://mlops-platform-minio:9000",
        "MLOPS_MLFLOW_TRACKING_URI": "http://mlops-platform-mlflow:5000",
        "MLOPS_STAGE_RUNNER": "deployments",
        "MLOPS_TRAIN_DEPLOYMENT": "train",
        "MLOPS_WORK_POOL": "mlops-kubernetes",
        "MLOPS_PROJECT_DIR": "/app",
        "MLOPS_GPU_IMAGE": "mlops-platform/flow-runner-gpu:0.1.0",
        "MLOPS_SCORING_MODEL_NAME": "loan-default-xgb",
        "MLOPS_SCORING_MODEL_VERSION": "",
    }
    secret = default_chart.get("Secret", TEMPLATE_DEFAULTS["s3_secret_name"])
    assert set(secret["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_should_hand_flow_runs_the_pinned_model_and_environment(helm: str, tmp_path: Path) -> None:
    values = tmp_path / "pinned-values.yaml"  # a file: `--set` would make the version a number
    values.write_text(
        'scoring: {model: {name: churn, version: "7"}}\n'
        "flowRuns: {environment: prod, extraSettings: {MLOPS_MAX_BATCH_BYTES: '1000000'}}\n"
    )
    chart = render(helm, (str(values),))
    settings = chart.get("ConfigMap", TEMPLATE_DEFAULTS["settings_config_map"])["data"]
    assert settings["MLOPS_SCORING_MODEL_NAME"] == "churn"
    assert settings["MLOPS_SCORING_MODEL_VERSION"] == "7"
    assert settings["MLOPS_ENVIRONMENT"] == "prod"
    assert settings["MLOPS_MAX_BATCH_BYTES"] == "1000000"
    # A changed pin rolls the worker too (it shares the settings).
    default = render(helm).get("Deployment", "mlops-platform-prefect-worker")
    rolled = chart.get("Deployment", "mlops-platform-prefect-worker")
    annotation = "checksum/config"
    assert (
        default["spec"]["template"]["metadata"]["annotations"][annotation]
        != rolled["spec"]["template"]["metadata"]["annotations"][annotation]
    )


def test_should_give_the_worker_every_variable_prefect_yaml_reads_when_deploying(
    default_chart: Rendered, helm: str
) -> None:
    """`make deploy-flows` runs `prefect deploy` in the worker: it has every `{{ $VAR }}` of prefect.yaml."""
    placeholders = {
        p.name.lstrip("$")
        for p in find_placeholders(yaml.safe_load((ROOT / "prefect.yaml").read_text()))
        if p.type is PlaceholderType.ENV_VAR
    }
    assert {"MLOPS_WORK_POOL", "MLOPS_GPU_IMAGE"} <= placeholders
    settings = default_chart.get("ConfigMap", TEMPLATE_DEFAULTS["settings_config_map"])["data"]
    assert placeholders <= set(settings)


def test_should_let_the_values_choose_the_gpu_train_deployment_and_its_image(helm: str) -> None:
    gpu = render(
        helm,
        set_values={
            "flowRuns.trainDeployment": "train-gpu",
            "images.flowRunnerGpu.repository": "registry.example.com/ml/gpu-runner",
        },
    )
    settings = gpu.get("ConfigMap", TEMPLATE_DEFAULTS["settings_config_map"])["data"]
    assert settings["MLOPS_TRAIN_DEPLOYMENT"] == "train-gpu"  # the pipeline runs train/train-gpu
    assert settings["MLOPS_GPU_IMAGE"] == "registry.example.com/ml/gpu-runner:0.1.0"


def test_should_run_the_worker_and_its_jobs_in_the_release_namespace(helm: str) -> None:
    chart = render(helm, namespace="mlops-prod")
    (role,) = chart.of_kind("Role")
    (binding,) = chart.of_kind("RoleBinding")
    accounts = {account["metadata"]["name"]: account for account in chart.of_kind("ServiceAccount")}
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "mlops-prod"
    assert binding["subjects"][0]["namespace"] == "mlops-prod"
    assert {account["metadata"]["namespace"] for account in accounts.values()} == {"mlops-prod"}
    env = {entry["name"]: entry.get("value") for entry in worker_container(chart)["env"]}
    assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == "mlops-prod"
    assert pool_template(chart)["variables"]["properties"]["namespace"]["default"] == "mlops-prod"


def test_should_point_flow_runs_at_the_external_s3_endpoint(helm: str) -> None:
    chart = render(helm, ("external-s3-values.yaml",))
    settings = chart.get("ConfigMap", TEMPLATE_DEFAULTS["settings_config_map"])["data"]
    assert settings["MLOPS_S3_ENDPOINT_URL"] == "https://s3.example.com"
    assert chart.of_kind("StatefulSet") and "mlops-platform-minio" not in chart.names("StatefulSet")
    assert TEMPLATE_DEFAULTS["s3_secret_name"] not in chart.names("Secret")  # the user's own Secret


@pytest.mark.parametrize("values_file", ["minimal-values.yaml"])
def test_should_render_only_the_server_pieces_in_the_minimal_set(helm: str, values_file: str) -> None:
    chart = render(helm, (values_file,))
    assert chart.names("Deployment") == {"mlops-platform-prefect-server"}
    assert chart.names("StatefulSet") == {"mlops-platform-postgres"}
    assert chart.of_kind("Role") == [] and chart.of_kind("Job") == []


def test_should_migrate_the_database_in_an_init_container_before_the_server_starts(
    default_chart: Rendered,
) -> None:
    spec = pod_spec(default_chart.get("Deployment", "mlops-platform-prefect-server"))
    (init,) = spec["initContainers"]
    assert init["command"] == ["prefect", "server", "database", "upgrade", "-y"]
    (server,) = spec["containers"]
    env = {entry["name"]: entry for entry in server["env"]}
    assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"]["value"] == "false"
    assert env["PREFECT_UI_API_URL"]["value"] == "http://localhost:4200/api"
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlops-platform-postgres",
        "key": "prefect-database-url",
    }
    assert {e["name"] for e in init["env"]} >= {"PREFECT_API_DATABASE_CONNECTION_URL"}


def test_should_serve_mlflow_artifacts_from_s3_with_the_service_in_allowed_hosts(
    default_chart: Rendered,
) -> None:
    (container,) = pod_spec(default_chart.get("Deployment", "mlops-platform-mlflow"))["containers"]
    args = container["args"]
    assert args[args.index("--backend-store-uri") + 1] == "$(MLFLOW_BACKEND_STORE_URI)"
    assert args[args.index("--artifacts-destination") + 1] == "s3://mlflow-artifacts"
    assert args[args.index("--workers") + 1] == "1"
    assert "mlops-platform-mlflow:5000" in args[args.index("--allowed-hosts") + 1].split(",")
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://mlops-platform-minio:9000"


def test_should_set_up_buckets_and_identities_in_an_idempotent_post_install_hook(
    default_chart: Rendered,
) -> None:
    job = default_chart.get("Job", "mlops-platform-minio-buckets")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["python", "-m", "flows.storage_setup"]
    env = {entry["name"]: entry for entry in container["env"]}
    values = {name: entry.get("value") for name, entry in env.items()}
    assert values["BUCKETS"] == "mlops-data,mlops-landing,mlflow-artifacts,mlops-backups"
    assert values["BACKUPS_BUCKET"] == "mlops-backups"  # backup.destination is this MinIO's by default
    assert (values["LANDING_BUCKET"], values["DATA_BUCKET"], values["ARTIFACTS_BUCKET"]) == (
        "mlops-landing",
        "mlops-data",
        "mlflow-artifacts",
    )
    # The root is the Job's alone; each identity's secret comes from that identity's Secret.
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlops-platform-minio-root"
    for role in (*GRANTS, *BACKUP_GRANTS):
        secret = env[secret_variable(role)]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": IDENTITY_SECRETS[role], "key": "AWS_SECRET_ACCESS_KEY"}


def test_should_migrate_mlflows_database_before_it_serves(default_chart: Rendered) -> None:
    spec = pod_spec(default_chart.get("Deployment", "mlops-platform-mlflow"))
    (init,) = spec["initContainers"]
    (server,) = spec["containers"]
    assert init["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    assert init["image"] == server["image"]  # the schema of the MLflow that will serve
    env = {entry["name"]: entry for entry in init["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"] == next(
        e for e in server["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI"
    )


def test_should_install_the_zombie_reaper_after_syncing_the_pool(default_chart: Rendered) -> None:
    (init,) = pod_spec(default_chart.get("Deployment", "mlops-platform-prefect-worker"))["initContainers"]
    script = init["command"][2]
    assert script.rstrip().endswith('python -m flows.zombie_runs "$WORK_POOL"')


def test_should_expose_prefect_mlflow_and_minio_on_their_ports(default_chart: Rendered) -> None:
    ports = {
        svc["metadata"]["name"]: [port["port"] for port in svc["spec"]["ports"]]
        for svc in default_chart.of_kind("Service")
    }
    assert ports == {
        "mlops-platform-prefect-server": [4200],
        "mlops-platform-mlflow": [5000],
        "mlops-platform-minio": [9000, 9001],
        "mlops-platform-postgres": [5432],
    }


def test_should_print_port_forwards_and_the_minio_credentials_command_in_notes() -> None:
    """NOTES.txt is prose (helm template does not render it): its ports must be the chart's own."""
    notes = Path(CHART / "templates" / "NOTES.txt").read_text()
    ports = chart_ports()
    for service in ("prefect", "mlflow", "minioConsole"):
        assert f"http://localhost:{ports[service]})" in notes
        assert f" {ports[service]}:{ports[service]}" in notes
    for needle in ("AWS_SECRET_ACCESS_KEY", "base64 -d"):
        assert needle in notes
