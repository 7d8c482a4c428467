"""Render the mlops-platform chart with the real `helm` binary and parse it into Kubernetes objects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mlops-platform"
# The non-root user the project's images are built with (flow-runner's Dockerfile makes it); the chart, the
# work pool's job template and the other images must run as the same (tests/images checks they agree).
FLOW_RUNNER_DOCKERFILE = ROOT / "images" / "flow-runner" / "Dockerfile"
APP_UID = int(re.findall(r"useradd --uid (\d+)", FLOW_RUNNER_DOCKERFILE.read_text())[0])


def makefile_value(name: str) -> str:
    """A version the Makefile pins (its one home), e.g. UV_VERSION, MINIO_VERSION."""
    match = re.search(rf"^{name}\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert match, name
    return match.group(1)


def locked_version(package: str) -> str:
    """The version uv.lock installs: what the code runs, so what every other pin must match."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(str(p["version"]) for p in lock["package"] if p["name"] == package)


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def chart_ports() -> dict[str, int]:
    """The services' ports, from the chart's one home for them (the `mlops-platform.port` helper)."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    table = re.findall(r'define "mlops-platform.port" -}}\n{{- get \(dict ([^)]*)\)', helpers)[0].split()
    return {name.strip('"'): int(port) for name, port in zip(table[::2], table[1::2], strict=True)}


CI_VALUES = sorted(path.name for path in (CHART / "ci").glob("*-values.yaml"))
# The values Argo CD deploys with (infra/gitops): each environment's, and the shared registry's.
ENVIRONMENT_VALUES = sorted((ROOT / "infra" / "environments").glob("*/values.yaml"))
DEPLOYED_VALUES = [
    str(path.relative_to(ROOT)) for path in [*ENVIRONMENT_VALUES, ROOT / "infra" / "registry" / "values.yaml"]
]
WORK_POOL_TEMPLATE = ROOT / "infra" / "work-pool" / "kubernetes-job-template.json"
RELEASE = "mlops-platform"
NAMESPACE = "mlops"

Json = dict[str, Any]


def find_helm() -> str | None:
    """The helm binary: $HELM, then PATH, then the repository's bin/helm."""
    candidates = [os.environ.get("HELM"), shutil.which("helm"), str(ROOT / "bin" / "helm")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


@dataclass(frozen=True)
class Rendered:
    objects: tuple[Json, ...]

    def of_kind(self, kind: str) -> list[Json]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> Json:
        matches = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
        return matches[0]

    def names(self, kind: str) -> set[str]:
        return {obj["metadata"]["name"] for obj in self.of_kind(kind)}

    def workloads(self) -> list[Json]:
        return [obj for obj in self.objects if obj["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob")]


def pod_template(workload: Json) -> Json:
    """The pod template of a workload (a CronJob's is its Job template's)."""
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    template: Json = spec["template"]
    return template


def pod_spec(workload: Json) -> Json:
    spec: Json = pod_template(workload)["spec"]
    return spec


def containers(workload: Json) -> Iterator[Json]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def values_file(name: str) -> Path:
    """A values set by name: a file of the chart's ci/, or a path (relative to the repository or absolute)."""
    return ROOT / name if "/" in name else CHART / "ci" / name


def helm_args(values_files: tuple[str, ...], set_values: Mapping[str, str], namespace: str) -> list[str]:
    args = ["--namespace", namespace]
    for name in values_files:
        args += ["--values", str(values_file(name))]
    for key, value in set_values.items():
        args += ["--set", f"{key}={value}"]
    return args


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60, check=False)


def template(
    helm: str,
    values_files: tuple[str, ...] = (),
    set_values: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> subprocess.CompletedProcess[str]:
    args = helm_args(values_files, set_values or {}, namespace)
    return run_helm(helm, "template", release, str(CHART), *args)


@cache
def _render(
    helm: str,
    values_files: tuple[str, ...],
    set_items: tuple[tuple[str, str], ...],
    namespace: str,
    release: str,
) -> Rendered:
    result = template(helm, values_files, dict(set_items), namespace, release)
    assert result.returncode == 0, result.stderr
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(tuple(documents))


def render(
    helm: str,
    values_files: tuple[str, ...] = (),
    set_values: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> Rendered:
    return _render(helm, values_files, tuple(sorted((set_values or {}).items())), namespace, release)
