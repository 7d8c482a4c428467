"""Should describe the environments to Argo CD validly and consistently with the chart and the repository.

The Application and AppProject manifests are checked against the openAPIV3 schemas of Argo CD's own CRDs
(`make argocd-crds` copies them from the pinned `github.com/argoproj/argo-cd/v3` module into bin/), made
strict the way `kubectl apply`'s server-side field validation is: an unknown field fails.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.charts.chart import ROOT, Json, Rendered, pod_spec, render

GITOPS = ROOT / "infra" / "gitops"
CRDS = ROOT / "bin" / "argocd-crds"
ENVIRONMENTS = sorted(path.name for path in (ROOT / "infra" / "environments").iterdir() if path.is_dir())
CHART_APPS = ["mlops-registry", *(f"mlops-{env}" for env in ENVIRONMENTS)]


def load_documents(path: Path) -> list[Json]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[Json]:
    return [doc for path in sorted(GITOPS.rglob("*.yaml")) for doc in load_documents(path)]


def of_kind(kind: str) -> dict[str, Json]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the CRD lists the fields (as the API server does)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        out["additionalProperties"] = False
    return out


@cache
def crd_validator(kind: str) -> tuple[str, jsonschema.Draft7Validator]:
    """apiVersion and a validator of the served, stored version of the CRD of `kind`."""
    path = CRDS / f"{kind.lower()}-crd.yaml"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `make argocd-crds`")
    (crd,) = load_documents(path)
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
    schema = strict(version["schema"]["openAPIV3Schema"])
    return f"{crd['spec']['group']}/{version['name']}", jsonschema.Draft7Validator(schema)


def schema_errors(doc: Json) -> list[str]:
    api_version, validator = crd_validator(doc["kind"])
    errors = [f"apiVersion {doc['apiVersion']!r}, not {api_version!r}"] * (doc["apiVersion"] != api_version)
    errors += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    return errors


def test_should_hold_a_project_a_root_and_one_application_per_environment_plus_the_registry() -> None:
    assert ENVIRONMENTS == ["dev", "prod"]
    assert set(of_kind("AppProject")) == {"mlops-platform"}
    assert set(of_kind("Application")) == {"mlops-platform", *CHART_APPS}
    assert {doc["kind"] for doc in manifests()} == {"AppProject", "Application"}


@pytest.mark.parametrize("path", sorted(GITOPS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(GITOPS)))
def test_should_be_valid_against_argo_cds_crd_schemas(path: Path) -> None:
    for doc in load_documents(path):
        assert schema_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"]["namespace"] == "argocd"


def test_should_reject_a_misspelt_field_so_the_check_above_means_something() -> None:
    prod = copy.deepcopy(of_kind("Application")["mlops-prod"])
    prod["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    assert any("selfheal" in error for error in schema_errors(prod))
    project = copy.deepcopy(of_kind("AppProject")["mlops-platform"])
    del project["spec"]["destinations"][0]["server"]
    project["spec"]["destinations"][0]["namespaces"] = "mlops-dev"
    assert schema_errors(project)


def test_should_reference_only_paths_and_charts_that_exist_in_the_repository() -> None:
    project = of_kind("AppProject")["mlops-platform"]
    for name, app in of_kind("Application").items():
        source = app["spec"]["source"]
        assert source["repoURL"] in project["spec"]["sourceRepos"], name
        assert source["targetRevision"] == "main", name  # the branch `mlops promote` proposes into
        path = ROOT / source["path"]
        assert path.is_dir(), f"{name}: {source['path']}"
        if name == "mlops-platform":
            assert path == GITOPS / "apps" and list(path.glob("*.yaml")), name
            continue
        assert (path / "Chart.yaml").is_file(), f"{name}: no chart at {source['path']}"
        for values in source["helm"]["valueFiles"]:
            resolved = (path / values).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.is_file(), f"{name}: {values}"


def render_app(helm: str, name: str) -> tuple[Json, Rendered]:
    """The Application and the chart rendered exactly as Argo CD renders it for that Application."""
    app = of_kind("Application")[name]
    source, namespace = app["spec"]["source"], app["spec"]["destination"]["namespace"]
    values = tuple(str((ROOT / source["path"] / v).resolve()) for v in source["helm"]["valueFiles"])
    return app, render(helm, values, namespace=namespace, release=source["helm"]["releaseName"])


@pytest.mark.parametrize("name", CHART_APPS)
def test_should_allow_the_kinds_and_namespace_each_application_renders(name: str, helm: str) -> None:
    app, chart = render_app(helm, name)
    destination = app["spec"]["destination"]
    project = of_kind("AppProject")[app["spec"]["project"]]["spec"]
    allowed = {(item["group"], item["kind"]) for item in project["namespaceResourceWhitelist"]}
    for obj in chart.objects:
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, obj["kind"]) in allowed, f"{name}: {obj['kind']} not allowed by the project"
        assert obj["metadata"].get("namespace", destination["namespace"]) == destination["namespace"]
    assert {"server": destination["server"], "namespace": destination["namespace"]} in project["destinations"]
    assert {"group": "", "kind": "Namespace", "name": destination["namespace"]} in project[
        "clusterResourceWhitelist"
    ]
    # The credentials the chart generates are exactly those whose data Argo CD leaves alone.
    ignored = {d["name"] for d in app["spec"]["ignoreDifferences"] if d["kind"] == "Secret"}
    assert ignored == chart.names("Secret"), name
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]


@pytest.mark.parametrize("name", CHART_APPS)
def test_should_create_each_namespace_enforcing_the_restricted_pod_security_profile(name: str) -> None:
    sync = of_kind("Application")[name]["spec"]["syncPolicy"]
    assert "CreateNamespace=true" in sync["syncOptions"]
    assert sync["managedNamespaceMetadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }


def test_should_allow_no_kind_that_no_application_renders(helm: str) -> None:
    used = set()
    for name in CHART_APPS:
        chart = render_app(helm, name)[1]
        used |= {(obj["apiVersion"].rpartition("/")[0], obj["kind"]) for obj in chart.objects}
    project = of_kind("AppProject")["mlops-platform"]["spec"]
    assert {(item["group"], item["kind"]) for item in project["namespaceResourceWhitelist"]} == used


def test_should_sync_dev_automatically_and_prod_only_from_merged_main() -> None:
    apps = of_kind("Application")
    dev, prod = apps["mlops-dev"]["spec"], apps["mlops-prod"]["spec"]
    assert dev["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    # prod follows main only (a promotion branch changes it when merged) and never prunes by itself.
    assert prod["source"]["targetRevision"] == "main"
    assert prod["syncPolicy"]["automated"] == {"prune": False, "selfHeal": True}
    assert apps["mlops-registry"]["spec"]["syncPolicy"]["automated"]["prune"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_should_run_each_environment_in_its_namespace_with_its_pin_image_and_the_shared_registry(
    env: str, helm: str
) -> None:
    app, chart = render_app(helm, f"mlops-{env}")
    registry_app = of_kind("Application")["mlops-registry"]
    namespace = app["spec"]["destination"]["namespace"]
    source = app["spec"]["source"]
    (values_file,) = source["helm"]["valueFiles"]
    values = yaml.safe_load((ROOT / source["path"] / values_file).read_text())
    release = source["helm"]["releaseName"]

    settings = chart.get("ConfigMap", "mlops-settings")["data"]
    assert settings["MLOPS_ENVIRONMENT"] == env
    assert settings["MLOPS_SCORING_MODEL_NAME"] == values["scoring"]["model"]["name"]
    assert settings["MLOPS_SCORING_MODEL_VERSION"] == values["scoring"]["model"]["version"]
    # Every environment uses the registry release's MLflow Service, and runs none of its own.
    registry_release = registry_app["spec"]["source"]["helm"]["releaseName"]
    registry_namespace = registry_app["spec"]["destination"]["namespace"]
    assert settings["MLOPS_MLFLOW_TRACKING_URI"] == (
        f"http://{registry_release}-mlflow.{registry_namespace}.svc.cluster.local:5000"
    )
    assert f"{release}-mlflow" not in chart.names("Deployment")
    # Jobs in the environment's own namespace, with the image its values pin.
    worker = chart.get("Deployment", f"{release}-prefect-worker")
    pool_config = chart.get("ConfigMap", f"{release}-work-pool-template")["data"]
    template = json.loads(pool_config["base-job-template.json"])
    image = f"mlops-platform/flow-runner:{values['images']['flowRunner']['tag']}"
    assert template["variables"]["properties"]["namespace"]["default"] == namespace
    assert template["variables"]["properties"]["image"]["default"] == image
    assert pod_spec(worker)["containers"][0]["image"] == image


def test_should_serve_the_registry_under_the_url_the_environments_use(helm: str) -> None:
    app, chart = render_app(helm, "mlops-registry")
    source, namespace = app["spec"]["source"], app["spec"]["destination"]["namespace"]
    service = f"{source['helm']['releaseName']}-mlflow"
    assert service in chart.names("Service")
    (container,) = pod_spec(chart.get("Deployment", service))["containers"]
    allowed_hosts = container["args"][container["args"].index("--allowed-hosts") + 1].split(",")
    assert f"{service}.{namespace}.svc.cluster.local:5000" in allowed_hosts
    assert chart.names("Deployment") == {service}  # no Prefect server, no worker: only the registry
