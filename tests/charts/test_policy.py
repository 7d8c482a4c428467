"""Should be secure by default: non-root, bounded resources, pinned images, credentials only in Secrets."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tests.charts.chart import (
    ROOT,
    Json,
    Rendered,
    containers,
    locked_version,
    makefile_value,
    pod_spec,
    project_version,
)

CREDENTIAL_WORDS = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|AUTH_STRING")
# Settings naming a Secret and its key (prefect-kubernetes' *_SECRET_NAME, *_SECRET_KEY) hold no credential.
NAMES_A_SECRET = re.compile(r"_SECRET_(NAME|KEY)$")
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
SELECTOR_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
PINNED_IMAGE = re.compile(r"^[^\s:@]+(:[0-9]+)?(/[^\s:@]+)*:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def secret_values(chart: Rendered) -> set[str]:
    values = set()
    for secret in chart.of_kind("Secret"):
        for encoded in secret.get("data", {}).values():
            values.add(base64.b64decode(encoded).decode())
    return values


def test_should_run_every_container_non_root_with_a_fixed_uid_and_no_privileges(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        pod_security = pod_spec(workload)["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(workload):
            security = container["securityContext"]
            name = f"{workload['metadata']['name']}/{container['name']}"
            assert security["runAsNonRoot"] is True, name
            assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert security["readOnlyRootFilesystem"] is True, name


def test_should_mount_an_empty_dir_on_tmp_of_every_read_only_container(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        empty_dirs = {v["name"] for v in pod_spec(workload).get("volumes", []) if "emptyDir" in v}
        for container in containers(workload):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in empty_dirs, container["name"]


def test_should_set_requests_and_limits_on_every_container(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        for container in containers(workload):
            resources = container["resources"]
            # ephemeral-storage too: an unbounded writable layer, log or emptyDir could fill the node's disk
            for kind in ("requests", "limits"):
                assert set(resources[kind]) == {"cpu", "memory", "ephemeral-storage"}, (
                    container["name"],
                    kind,
                )


def test_should_pin_every_image_to_a_tag_that_is_not_latest(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        for container in containers(workload):
            assert PINNED_IMAGE.match(container["image"]), container["image"]


def test_should_pin_the_images_to_the_versions_the_project_runs(default_chart: Rendered) -> None:
    """Each image at its one home's version: Prefect as uv.lock installs it (prefect.yaml says the same),
    MinIO as `make tools` builds it, the project's images at the project's version."""
    images = {c["image"] for w in default_chart.workloads() for c in containers(w)}
    prefect = locked_version("prefect")
    assert {
        f"prefecthq/prefect:{prefect}-python3.11",
        "postgres:17.6-bookworm",
        f"mlops-platform/minio:{makefile_value('MINIO_VERSION')}",
        f"mlops-platform/flow-runner:{project_version()}",
        f"mlops-platform/mlflow:{project_version()}",
    } == images
    assert f"\nprefect-version: {prefect}\n" in (ROOT / "prefect.yaml").read_text()


def test_should_take_every_credential_env_var_from_a_secret_key_ref(ci_chart: Rendered) -> None:
    credentials = secret_values(ci_chart)
    for workload in ci_chart.workloads():
        for container in containers(workload):
            for env in container.get("env", []):
                if NAMES_A_SECRET.search(env["name"]) and "value" in env:
                    assert env["value"] not in credentials, (container["name"], env["name"])
                elif CREDENTIAL_WORDS.search(env["name"]) or env["name"].endswith("_URI"):
                    assert "value" not in env, (container["name"], env["name"])
                    assert "secretKeyRef" in env["valueFrom"], (container["name"], env["name"])


def test_should_keep_generated_secret_values_inside_secret_objects_only(default_chart: Rendered) -> None:
    generated = secret_values(default_chart)
    assert len(generated) >= 7
    elsewhere = json.dumps([obj for obj in default_chart.objects if obj["kind"] != "Secret"])
    for value in generated:
        assert value not in elsewhere


def test_should_keep_every_secret_value_out_of_every_other_object_with_any_values(
    ci_chart: Rendered,
) -> None:
    """ConfigMaps, workloads, NetworkPolicies, RBAC: only Secrets hold a credential (plain or base64)."""
    others = json.dumps([obj for obj in ci_chart.objects if obj["kind"] != "Secret"])
    for value in secret_values(ci_chart):
        assert value not in others
        assert base64.b64encode(value.encode()).decode() not in others


def test_should_generate_long_random_passwords_and_database_urls_that_use_them(
    default_chart: Rendered,
) -> None:
    secret = default_chart.get("Secret", "mlops-platform-postgres")
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for key in ("postgres-password", "prefect-password", "mlflow-password"):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", data[key]), key
    assert data["prefect-database-url"] == (
        f"postgresql+asyncpg://prefect:{data['prefect-password']}@mlops-platform-postgres:5432/prefect"
    )
    assert data["mlflow-database-url"] == (
        f"postgresql+psycopg2://mlflow:{data['mlflow-password']}@mlops-platform-postgres:5432/mlflow"
    )
    s3 = default_chart.get("Secret", "mlops-s3-credentials")
    assert set(s3["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_should_keep_passwords_out_of_the_postgres_init_script(default_chart: Rendered) -> None:
    script = default_chart.get("ConfigMap", "mlops-platform-postgres-init")["data"]["create-databases.sh"]
    assert "PREFECT_DB_PASSWORD" in script and "CREATE DATABASE" in script
    for value in secret_values(default_chart):
        assert value not in script


def test_should_label_every_object_from_one_helper(ci_chart: Rendered) -> None:
    for obj in ci_chart.objects:
        labels = obj["metadata"]["labels"]
        for label in LABELS:
            assert labels.get(label), (obj["kind"], obj["metadata"]["name"], label)
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_should_select_pods_by_immutable_labels_and_component_only(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        if workload["kind"] in ("Job", "CronJob"):
            continue
        selector = workload["spec"]["selector"]["matchLabels"]
        assert set(selector) == SELECTOR_LABELS
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items()
    for service in ci_chart.of_kind("Service"):
        assert set(service["spec"]["selector"]) == SELECTOR_LABELS


def test_should_annotate_every_long_running_pod_with_a_config_checksum(ci_chart: Rendered) -> None:
    for workload in ci_chart.workloads():
        if workload["kind"] in ("Job", "CronJob"):
            continue
        checksum = workload["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        assert re.fullmatch(r"[0-9a-f]{64}", checksum)


def test_should_put_no_secret_value_in_any_config_map(default_chart: Rendered) -> None:
    config_maps: list[Any] = [cm["data"] for cm in default_chart.of_kind("ConfigMap")]
    serialized = json.dumps(config_maps)
    for value in secret_values(default_chart):
        assert value not in serialized


def test_should_refuse_automounted_tokens_except_for_the_worker(default_chart: Rendered) -> None:
    for workload in default_chart.workloads():
        spec: Json = pod_spec(workload)
        if workload["metadata"]["name"] == "mlops-platform-prefect-worker":
            assert spec["serviceAccountName"] == "mlops-platform-prefect-worker"
        else:
            assert spec["automountServiceAccountToken"] is False, workload["metadata"]["name"]
