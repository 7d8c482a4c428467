"""Secrets never leak: the S3 credentials every stage holds, and the Prefect API's credential every client
holds, appear in no log, Prefect log, artifact, flow-run parameter or deployment, MLflow param or tag, and in
no file the services keep, but their own store.

The credentials are the session's (generated per session, so a hit cannot be a coincidence). Every log and
state file under the services' root is scanned, so whatever other tests of the session ran (the worker and
its deployments, promotions) is scanned too; this module runs a good and a rejected batch of its own first.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from prefect.client.orchestration import get_client

from devenv.services import LocalServices
from flows.logic.demo import generate_batch
from flows.logic.storage_access import GRANTS, access_key
from tests.integration.conftest import Platform
from tests.integration.helpers import land_bytes, land_frame

# Where the services keep the credentials on purpose (mode 600): `make up` writes them for `source env.sh`.
CREDENTIAL_STORES = (
    "minio.credentials",
    "prefect.credentials",
    *(f"s3-{role}.credentials" for role in GRANTS),
    "env.sh",
)
PAGE = 200
# MinIO's scratch space (in-flight parts, the trash it empties in the background): every object that lives
# on is renamed out of it into its bucket's directory, which is scanned, as is the rest of `.minio.sys`.
SCRATCH = "/.minio.sys/tmp/"
# MinIO's user store: a server checking S3 signatures (HMACs) must hold each user's secret itself.
IAM_USERS = "/.minio.sys/config/iam/users/"
T = TypeVar("T")


def planted(services: LocalServices) -> dict[str, bytes]:
    """What must never appear: each credential, and the secret base64-encoded (as Secret data holds it)."""
    credentials = services.credentials()
    secret = credentials["AWS_SECRET_ACCESS_KEY"].encode()
    prefect = services.prefect_auth_string().encode()
    identities = {
        f"S3 secret of {role}": services.identity(role)["AWS_SECRET_ACCESS_KEY"].encode() for role in GRANTS
    }
    return {
        "AWS_ACCESS_KEY_ID": credentials["AWS_ACCESS_KEY_ID"].encode(),
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SECRET_ACCESS_KEY (base64)": base64.b64encode(secret),
        **identities,
        # The Prefect API's password, and the whole credential as every client's Authorization header has it.
        "PREFECT_API_AUTH_STRING": prefect.split(b":", 1)[1],
        "PREFECT_API_AUTH_STRING (base64)": base64.b64encode(prefect),
    }


def leaks(data: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in data]


def leaks_in_files(
    root: Path, needles: dict[str, bytes], skip: tuple[str, ...] = (), skip_iam: bool = True
) -> dict[str, list[str]]:
    """Every file under `root` (logs, SQLite databases, MinIO's objects, DVC caches) that holds a needle."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip):
        if SCRATCH in path.as_posix() or (skip_iam and IAM_USERS in path.as_posix()):
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # removed after the listing (a live service's temporary): it keeps nothing
        hits = leaks(data, needles)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def every_page(read: Callable[[int, int], list[T]]) -> Iterator[T]:
    offset = 0
    while True:
        page = read(PAGE, offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def dumped(items: Sequence[Any]) -> bytes:
    return json.dumps([item.model_dump(mode="json") for item in items]).encode()


@pytest.fixture(scope="module")
def pipeline_output(module_platform: Platform) -> str:
    """`mlops run` on a good batch and a rejected one, as a user's terminal (or a Job's log) shows it."""
    land_frame(module_platform, 1, generate_batch(1, 1000))
    land_bytes(module_platform, "batch_2.csv", b"application_id\n1\n")
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--batches", "1", "2", "--no-demo"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "batch 2 rejected: missing columns" in result.stderr
    return result.stdout + result.stderr


def test_the_scan_finds_a_planted_credential_where_it_is(services: LocalServices) -> None:
    """The scan itself works: it finds every needle in the credential store it otherwise skips."""
    needles = planted(services)
    store = leaks_in_files(services.root, needles, skip=("env.sh",), skip_iam=False)
    assert store["minio.credentials"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert store["prefect.credentials"] == ["PREFECT_API_AUTH_STRING"]
    for role in GRANTS:
        assert store[f"s3-{role}.credentials"] == [f"S3 secret of {role}"]
        [user] = [path for path in store if f"{IAM_USERS}{access_key(role)}/".lstrip("/") in path]
        assert store[user] == [f"S3 secret of {role}"]
    assert leaks(base64.b64encode(needles["AWS_SECRET_ACCESS_KEY"]), needles) == [
        "AWS_SECRET_ACCESS_KEY (base64)"
    ]


def test_no_credential_in_the_pipeline_output(services: LocalServices, pipeline_output: str) -> None:
    assert "training_pipeline(batch_number=1)" in pipeline_output
    assert leaks(pipeline_output.encode(), planted(services)) == []


def test_no_credential_in_any_file_the_services_or_the_pipeline_keep(
    services: LocalServices, module_platform: Platform, pipeline_output: str
) -> None:
    """Service logs, the Prefect and MLflow databases, MinIO's objects, workspaces and DVC caches."""
    needles = planted(services)
    root = services.root
    assert {"minio.log", "mlflow.log", "prefect.log", "mlflow.db"} <= {p.name for p in root.iterdir()}
    assert list((root / "prefect").glob("*.db")) and list((root / "minio-data").rglob("xl.meta"))
    assert leaks_in_files(services.root, needles, skip=CREDENTIAL_STORES) == {}
    assert leaks_in_files(module_platform.settings.home_dir, needles) == {}


def test_no_credential_in_prefect_logs_artifacts_runs_or_deployments(
    services: LocalServices, pipeline_output: str
) -> None:
    needles = planted(services)
    with get_client(sync_client=True) as client:
        logs = list(every_page(lambda limit, offset: client.read_logs(limit=limit, offset=offset)))
        artifacts = list(every_page(lambda limit, offset: client.read_artifacts(limit=limit, offset=offset)))
        runs = list(every_page(lambda limit, offset: client.read_flow_runs(limit=limit, offset=offset)))
        deployments = client.read_deployments()
        pools = client.read_work_pools()
    assert any("batch 2 rejected" in log.message for log in logs)
    assert any(artifact.key and artifact.key.startswith("evaluation") for artifact in artifacts), artifacts
    scanned: list[tuple[str, Sequence[Any]]] = [
        ("flow-run logs", logs),
        ("artifacts", artifacts),
        ("flow runs (parameters, state messages)", runs),
        ("deployments (parameters, job variables, pull steps)", deployments),
        ("work pools (base job templates)", pools),
    ]
    for what, items in scanned:
        assert leaks(dumped(items), needles) == [], what


def test_no_credential_in_mlflow_params_tags_or_model_versions(
    services: LocalServices, pipeline_output: str
) -> None:
    needles = planted(services)
    client = MlflowClient(services.mlflow_url, services.mlflow_url)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    ids = [e.experiment_id for e in experiments]
    runs = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=50_000)
    assert runs
    seen = [{"params": r.data.params, "tags": r.data.tags} for r in runs]
    seen += [{"tags": e.tags} for e in experiments]
    seen += [{"tags": m.tags} for m in client.search_registered_models(max_results=1000)]
    seen += [{"tags": v.tags} for v in client.search_model_versions(max_results=10_000)]
    seen += [{"params": m.params, "tags": m.tags} for m in client.search_logged_models(ids)]
    assert leaks(json.dumps(seen).encode(), needles) == []
