"""A Prefect kubernetes worker as a process, pointed at the test cluster as the chart's worker
ServiceAccount, on the project's kubernetes work pool; and prefect.yaml's deployments registered on it.

The Prefect server is the one `make up` and the integration tests start (devenv.services).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from devenv import chart_image
from devenv.services import LocalServices, pool_is_ready
from tests.e2e.clients import Kubectl
from tests.e2e.cluster import ROOT, ControlPlane, kubeconfig
from tests.e2e.processes import Processes


def service_account_kubeconfig(
    kubectl: Kubectl, plane: ControlPlane, namespace: str, service_account: str, path: Path
) -> Path:
    """A kubeconfig holding a short-lived token of the ServiceAccount (TokenRequest, as a pod's would)."""
    token = kubectl("create", "token", service_account, f"--namespace={namespace}", "--duration=2h").strip()
    user = f"system:serviceaccount:{namespace}:{service_account}"
    return kubeconfig(path, plane.server, plane.ca.pair, user, {"token": token})


def installed_template(kubectl: Kubectl, namespace: str, config_map: str, path: Path) -> Path:
    """The base job template as the chart installed it (the repository's, with this install's defaults)."""
    data = kubectl.get("configmap", config_map, f"--namespace={namespace}")["data"]
    path.write_text(data["base-job-template.json"])
    return path


def start_worker(
    processes: Processes,
    services: LocalServices,
    pool: str,
    template: Path,
    kubeconfig_file: Path,
    namespace: str,
    home: Path,
    auth_secret_settings: dict[str, str],
) -> None:
    """`prefect worker start` as the chart's worker container runs it, creating the pool from `template`;
    `auth_secret_settings` are the chart's settings that name the Secret of the auth string."""
    argv = [
        sys.executable,
        "-m",
        "prefect",
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "kubernetes",
        "--base-job-template",
        str(template),
        "--name",
        "e2e-kubernetes-worker",
    ]
    env = {
        "PREFECT_API_URL": services.prefect_api_url,
        "PREFECT_API_AUTH_STRING": services.prefect_auth_string(),
        **auth_secret_settings,
        "PREFECT_HOME": str(home),
        "KUBECONFIG": str(kubeconfig_file),
        # As in the chart: the observer watches the Jobs' namespace only, all its Role allows.
        "PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES": namespace,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    processes.start("prefect-worker", argv, env)


def wait_for_pool(processes: Processes, services: LocalServices, pool: str, timeout: float = 120) -> None:
    """Until the worker has created the pool and reported in (the pool turns READY)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check("prefect-worker")
        if pool_is_ready(services.prefect_api_url, pool, services.prefect_auth_string()):
            return
        time.sleep(1)
    raise TimeoutError(f"the worker did not bring pool {pool} up; see {processes.log('prefect-worker')}")


def deploy_all(services: LocalServices, pool: str, home: Path, log: Path) -> None:
    """`prefect deploy --all` from prefect.yaml, as `make deploy-flows` does, onto the kubernetes pool."""
    env = {
        **os.environ,
        "PREFECT_API_URL": services.prefect_api_url,
        "PREFECT_API_AUTH_STRING": services.prefect_auth_string(),
        "PREFECT_HOME": str(home),
        "MLOPS_WORK_POOL": pool,
        "MLOPS_PROJECT_DIR": str(ROOT),
        "MLOPS_GPU_IMAGE": chart_image("flowRunnerGpu"),
    }
    with log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    assert result.returncode == 0, f"prefect deploy --all failed; see {log}"
