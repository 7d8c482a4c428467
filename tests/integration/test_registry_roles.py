"""MLflow's logins against the real basic-auth server: each role may do what the README's "MLflow roles"
table says and is refused the rest; and the pipeline's stages work with only their own role's rights."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from devenv.services import LocalServices
from flows.logic.demo import generate_batch
from flows.logic.registry_access import ROLES, Role
from flows.logic.tag_names import GATE_DECISION_TAG
from flows.stages.evaluate import evaluate
from flows.stages.ingest import ingest
from flows.stages.prepare import prepare
from flows.stages.promote import promote
from flows.stages.train import train
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame

pytestmark = pytest.mark.integration


@contextmanager
def login(services: LocalServices, role: Role | None) -> Iterator[MlflowClient]:
    """A client that sends the role's login (the admin's for None) on every request."""
    creds = services.mlflow_admin() if role is None else services.mlflow_login(role)
    saved = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    try:
        yield MlflowClient(services.mlflow_url, services.mlflow_url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Objects:
    """What the pipeline made: the trainer's experiment and run, the registrar's model and version 1."""

    experiment_id: str
    run_id: str
    model: str


def made(services: LocalServices) -> Objects:
    tenant = uuid.uuid4().hex[:8]
    with login(services, "trainer") as trainer:
        experiment_id = trainer.create_experiment(f"roles-{tenant}")
        run_id = trainer.create_run(experiment_id).info.run_id
        trainer.log_metric(run_id, "valid_auc", 0.7)
    with login(services, "registrar") as registrar:
        model = registrar.create_registered_model(f"roles-{tenant}-xgb").name
        registrar.create_model_version(model, f"runs:/{run_id}/model", run_id)
    return Objects(experiment_id, run_id, model)


def new_version(services: LocalServices, objects: Objects) -> str:
    with login(services, "registrar") as registrar:
        return str(
            registrar.create_model_version(
                objects.model, f"runs:/{objects.run_id}/model", objects.run_id
            ).version
        )


Operation = Callable[[MlflowClient, Objects, LocalServices], object]

# operation -> (what it does, {role: allowed}); the README's table states the same, row by row.
OPERATIONS: dict[str, tuple[Operation, dict[Role, bool]]] = {
    "read runs and metrics": (
        lambda c, o, s: c.get_run(o.run_id),
        {"trainer": True, "registrar": True, "reader": True},
    ),
    "create runs and log to the pipeline's experiment": (
        lambda c, o, s: c.log_metric(c.create_run(o.experiment_id).info.run_id, "m", 1.0),
        {"trainer": True, "registrar": True, "reader": False},
    ),
    "tag a training run": (
        lambda c, o, s: c.set_tag(o.run_id, "note", "x"),
        {"trainer": True, "registrar": True, "reader": False},
    ),
    "read registered versions and the champion": (
        lambda c, o, s: c.get_model_version(o.model, "1"),
        {"trainer": False, "registrar": True, "reader": True},
    ),
    "create a registered model": (
        lambda c, o, s: c.create_registered_model(f"{o.model}-{uuid.uuid4().hex[:6]}"),
        {"trainer": False, "registrar": True, "reader": True},
    ),
    "register a version": (
        lambda c, o, s: c.create_model_version(o.model, f"runs:/{o.run_id}/model", o.run_id),
        {"trainer": False, "registrar": True, "reader": False},
    ),
    "tag a version (the gate's tags)": (
        lambda c, o, s: c.set_model_version_tag(o.model, "1", GATE_DECISION_TAG, "promote"),
        {"trainer": False, "registrar": True, "reader": False},
    ),
    "move the champion alias": (
        lambda c, o, s: c.set_registered_model_alias(o.model, "champion", "1"),
        {"trainer": False, "registrar": True, "reader": False},
    ),
    "delete a version": (
        lambda c, o, s: c.delete_model_version(o.model, new_version(s, o)),
        {"trainer": False, "registrar": True, "reader": False},
    ),
}


@pytest.fixture(scope="module")
def objects(services: LocalServices) -> Objects:
    return made(services)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_role_may_do_what_the_table_says_and_nothing_else(
    services: LocalServices, objects: Objects, role: Role, operation: str
) -> None:
    run, allowed = OPERATIONS[operation]
    with login(services, role) as client:
        if allowed[role]:
            run(client, objects, services)
        else:
            with pytest.raises(MlflowException) as refused:
                run(client, objects, services)
            assert refused.value.get_http_status_code() == 403, refused.value


def test_a_request_without_a_login_is_refused(services: LocalServices, objects: Objects) -> None:
    answer = requests.get(f"{services.mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": objects.run_id})
    assert answer.status_code == 401
    wrong = requests.get(
        f"{services.mlflow_url}/api/2.0/mlflow/runs/get",
        params={"run_id": objects.run_id},
        auth=("mlops-registrar", "not-its-password"),
    )
    assert wrong.status_code == 401


def test_the_stages_work_with_only_their_own_roles_rights(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train as the trainer (no registry rights at all), evaluate and promote as the registrar: as the chart's
    deployments run them. The version exists, carries the gate's decision, and is the champion."""

    def as_role(role: Role) -> None:
        for key, value in services.mlflow_login(role).items():
            monkeypatch.setenv(key, value)

    land_frame(platform, 1, generate_batch(1, 3000))
    prepared = prepare(ingest(1).raw_versions).dataset
    as_role("trainer")
    trained = train(prepared, 1)
    as_role("registrar")
    evaluation = evaluate(trained, prepared, 1)
    promotion = promote(evaluation)
    assert promotion.promoted and promotion.champion_version == evaluation.model_version == "1"
    as_role("reader")
    client = MlflowClient(services.mlflow_url, services.mlflow_url)
    champion = client.get_model_version_by_alias(platform.settings.model_name, "champion")
    assert champion.run_id == trained.run_id
    assert GATE_DECISION_TAG in champion.tags


def test_the_readme_table_says_the_same() -> None:
    """The README's "MLflow roles" table, row by row, is the table tested above."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 1 + len(ROLES) and cells[0] in OPERATIONS:
            rows[cells[0]] = {role: cell == "yes" for role, cell in zip(ROLES, cells[1:], strict=True)}
    assert rows == {name: allowed for name, (_, allowed) in OPERATIONS.items()}
