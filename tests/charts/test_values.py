"""Should refuse bad values: the schema for wrong types and formats, `_validation.tpl` for contradictions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart import CHART, template

SCHEMA_REJECTIONS = {
    "latest tag": ({"images.mlflow.tag": "latest"}, "/images/mlflow/tag"),
    "empty tag": ({"images.prefectServer.tag": ""}, "/images/prefectServer/tag"),
    "enabled not a boolean": ({"minio.enabled": "maybe"}, "/minio/enabled"),
    "unknown pull policy": ({"images.postgres.pullPolicy": "Sometimes"}, "/images/postgres/pullPolicy"),
    "bad cpu quantity": ({"worker.resources.limits.cpu": "two"}, "/worker/resources/limits/cpu"),
    "bad memory quantity": (
        {"mlflow.resources.requests.memory": "1 GB"},
        "/mlflow/resources/requests/memory",
    ),
    "unknown stage runner": ({"flowRuns.stageRunner": "sometimes"}, "/flowRuns/stageRunner"),
    "train deployment not a name": ({"flowRuns.trainDeployment": "train/gpu"}, "/flowRuns/trainDeployment"),
    "gpu image latest": ({"images.flowRunnerGpu.tag": "latest"}, "/images/flowRunnerGpu/tag"),
    "negative replicas": ({"prefectServer.replicas": "-1"}, "/prefectServer/replicas"),
    "ui api url without /api": (
        {"prefectServer.uiApiUrl": "http://localhost:4200"},
        "/prefectServer/uiApiUrl",
    ),
    "misspelt top-level key": ({"minoi.enabled": "false"}, "minoi"),
    "setting outside MLOPS_": ({"flowRuns.extraSettings.FOO": "1"}, "/flowRuns/extraSettings"),
    "pinned version not a number": ({"scoring.model.version": "v3"}, "/scoring/model/version"),
    "pinned version zero": ({"scoring.model.version": "0"}, "/scoring/model/version"),
    "no snapshot kept": ({"backup.keep": "0"}, "/backup/keep"),
    "backup destination not s3": ({"backup.destination.url": "https://backups"}, "/backup/destination/url"),
    "restore snapshot not a name": ({"backup.restoreSnapshot": "yesterday"}, "/backup/restoreSnapshot"),
    "backup schedule not cron": ({"backup.schedule": "daily"}, "/backup/schedule"),
    "empty model name": ({"scoring.model.name": ""}, "/scoring/model/name"),
    "environment not a dns label": ({"flowRuns.environment": "Prod"}, "/flowRuns/environment"),
    "dataset not a folder name": ({"flowRuns.dataset": "My Data"}, "/flowRuns/dataset"),
    "network policy switch not a boolean": ({"networkPolicy.enabled": "sometimes"}, "/networkPolicy/enabled"),
    "toleration with an unknown effect": ({"tolerations[0].effect": "Sometimes"}, "/tolerations/0/effect"),
}

EXTERNAL_DB = {"postgres.enabled": "false"}
EXTERNAL_S3 = {"minio.enabled": "false", "externalS3.endpoint": "https://s3.example.com"}
GUARD_FAILURES = {
    "postgres off, no secret": (EXTERNAL_DB, "mlops", "set externalDatabase.existingSecret"),
    "minio off, no endpoint": ({"minio.enabled": "false"}, "mlops", "set externalS3.endpoint"),
    "minio off, no secret": (EXTERNAL_S3, "mlops", "set externalS3.existingSecret"),
    "worker without server": ({"prefectServer.enabled": "false"}, "mlops", "set worker.apiUrl"),
    "worker without server's credential": (
        {"prefectServer.enabled": "false", "worker.apiUrl": "https://prefect.example.com/api"},
        "mlops",
        "set prefectServer.auth.existingSecret",
    ),
    "worker without mlflow": ({"mlflow.enabled": "false"}, "mlops", "set flowRuns.mlflowTrackingUri"),
    "s3 secret name": (
        {**EXTERNAL_S3, "externalS3.existingSecret": "my-s3"},
        "mlops",
        'externalS3.existingSecret must be "mlops-s3-credentials"',
    ),
    "off-site backups without credentials": (
        {"backup.destination.endpoint": "https://backups.example.com"},
        "mlops",
        "set backup.destination.existingSecret",
    ),
    "backups with no object store": (
        {"minio.enabled": "false", "worker.enabled": "false", "mlflow.enabled": "false"},
        "mlops",
        "backup.enabled is true and this release has no object store",
    ),
    "backups of nothing": (
        {"prefectServer.enabled": "false", "worker.enabled": "false", "mlflow.enabled": "false"},
        "mlops",
        "runs neither the Prefect server nor MLflow: nothing to back up",
    ),
    "credential setting": (
        {"flowRuns.extraSettings.MLOPS_API_TOKEN": "x"},
        "mlops",
        "flowRuns.extraSettings.MLOPS_API_TOKEN looks like a credential",
    ),
    "a Dask cluster no flow run uses": (
        {"dask.enabled": "true", "worker.enabled": "false"},
        "mlops",
        "dask.enabled is true and worker.enabled is false",
    ),
    "setting the chart sets": (
        {"flowRuns.extraSettings.MLOPS_SCORING_MODEL_NAME": "other-model"},
        "mlops",
        "flowRuns.extraSettings.MLOPS_SCORING_MODEL_NAME is set by the chart itself",
    ),
}


@pytest.mark.parametrize(("set_values", "field"), SCHEMA_REJECTIONS.values(), ids=SCHEMA_REJECTIONS.keys())
def test_should_reject_bad_values_with_the_schema_naming_the_field(
    helm: str, set_values: dict[str, str], field: str
) -> None:
    result = template(helm, set_values=set_values)
    assert result.returncode != 0
    assert "don't meet the specifications of the schema" in result.stderr
    assert field in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("set_values", "namespace", "message"), GUARD_FAILURES.values(), ids=GUARD_FAILURES.keys()
)
def test_should_fail_on_contradictory_values_naming_the_path_to_fix(
    helm: str, set_values: dict[str, str], namespace: str, message: str
) -> None:
    result = template(helm, set_values=set_values, namespace=namespace)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_should_have_a_test_for_every_fail_guard() -> None:
    guards = re.findall(r"\{\{-? fail ", (CHART / "templates" / "_validation.tpl").read_text())
    assert len(guards) == len(GUARD_FAILURES)


def test_should_accept_an_external_database_and_s3_together(helm: str) -> None:
    values = {**EXTERNAL_DB, **EXTERNAL_S3}
    values["externalDatabase.existingSecret"] = "db"
    values["externalS3.existingSecret"] = "mlops-s3-credentials"
    result = template(helm, set_values=values)
    assert result.returncode == 0, result.stderr


def test_should_comment_every_values_key() -> None:
    """Every key says what it is: a value with helm-docs' `# --` (test_chart_docs checks each has its row),
    a section of values with a plain comment (helm-docs would otherwise list it as one big object)."""
    lines = Path(CHART / "values.yaml").read_text().splitlines()
    documented_below = -1  # inside a mapping documented as one value (`# --` above it): its keys need none
    for number, line in enumerate(lines):
        key = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$", line)
        if key is None:
            continue
        indent = len(key[1])
        if 0 <= documented_below < indent:
            continue
        documented_below = -1
        above = lines[number - 1].lstrip() if number > 0 else ""
        assert above.startswith("#"), f"values.yaml:{number + 1} {key[2]}"
        if above.startswith("# --") and not key[3].strip():
            documented_below = indent


def subschemas(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from subschemas(value, f"{path}/{index}")


def test_should_refer_only_to_its_own_definitions() -> None:
    """No remote schema (helm would fetch it, offline it fails), and every reference resolves."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    refs = [node["$ref"] for _, node in subschemas(schema) if "$ref" in node]
    assert refs and all(ref.startswith("#/definitions/") for ref in refs), refs
    assert {ref.removeprefix("#/definitions/") for ref in refs} == set(schema["definitions"])


def test_should_define_each_repeated_rule_once() -> None:
    """A sub-schema of any size written out twice is a copy that can drift: it belongs in `definitions`."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    seen: dict[str, list[str]] = {}
    for path, node in subschemas(schema):
        text = json.dumps(node, sort_keys=True)
        if len(text) > 120:
            seen.setdefault(text, []).append(path)
    assert [paths for paths in seen.values() if len(paths) > 1] == []
