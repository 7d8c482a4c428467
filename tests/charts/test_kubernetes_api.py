"""Should render only objects the Kubernetes API accepts, checked offline for two API versions."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.charts.chart import Rendered, pod_spec, render

KUBERNETES_VERSIONS = ("1.36", "1.37")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_should_render_objects_valid_against_the_kubernetes_api_schema(
    ci_chart: Rendered, version: str
) -> None:
    assert ci_chart.objects
    for obj in ci_chart.objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        # strict: an unknown (misspelt) field anywhere fails; the version used must be the one asked for.
        assert kubernetes_validate.validate(obj, version, strict=True) == version, name


def test_should_reject_a_misspelt_field_so_the_check_above_means_something(default_chart: Rendered) -> None:
    deployment = default_chart.of_kind("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_should_place_every_pod_by_the_node_selector_and_tolerations_given(helm: str) -> None:
    toleration = {"key": "mlops.dev/ml", "operator": "Exists", "effect": "NoSchedule"}
    chart = render(
        helm,
        set_values={
            "nodeSelector.pool": "ml",
            "tolerations[0].key": toleration["key"],
            "tolerations[0].operator": toleration["operator"],
            "tolerations[0].effect": toleration["effect"],
        },
    )
    assert {w["kind"] for w in chart.workloads()} == {"Deployment", "StatefulSet", "Job", "CronJob"}
    for workload in chart.workloads():
        assert pod_spec(workload)["nodeSelector"] == {"pool": "ml"}, workload["metadata"]["name"]
        assert pod_spec(workload)["tolerations"] == [toleration], workload["metadata"]["name"]
        kubernetes_validate.validate(workload, KUBERNETES_VERSIONS[-1], strict=True)
    assert all("tolerations" not in pod_spec(w) for w in render(helm).workloads())


def test_should_render_valid_objects_with_existing_secrets_and_pull_secrets(helm: str) -> None:
    chart = render(
        helm, set_values={"postgres.existingSecret": "my-db", "imagePullSecrets[0].name": "registry"}
    )
    assert "mlops-platform-postgres" not in chart.names("Secret")
    for workload in chart.workloads():
        assert pod_spec(workload)["imagePullSecrets"] == [{"name": "registry"}]
    for obj in chart.objects:
        assert (
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True) == KUBERNETES_VERSIONS[-1]
        )
