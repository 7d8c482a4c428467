"""The embedded default, as `make run` uses it: no servers, SQLite MLflow, DVC remote in a folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from flows.local_services import REPO


def embedded_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PREFECT_", "AWS_"))}
    return env | {"MLOPS_HOME": str(home / ".mlops"), "PREFECT_HOME": str(home / "prefect")}


def test_mlops_run_then_seed_form_then_lineage(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    mlops = [sys.executable, "-m", "flows.cli"]
    run = subprocess.run(
        [*mlops, "run", "--batches", "1", "2", "--demo-rows", "1500"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "landed demo batch 2 (1500 rows)" in run.stdout
    assert "loan-default-xgb: training runs" in run.stdout
    assert "make ui-mlflow" in run.stdout

    # The seed's form runs the next batch on the same embedded state.
    seed = subprocess.run(
        [sys.executable, str(REPO / "flows" / "training_flow.py"), "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert seed.returncode != 0 and "batch 3 does not exist" in seed.stdout + seed.stderr
    subprocess.run(
        [*mlops, "generate", "--batches", "3", "--rows", "1500"], cwd=tmp_path, env=env, check=True
    )
    seed = subprocess.run(
        [sys.executable, str(REPO / "flows" / "training_flow.py"), "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert seed.returncode == 0, seed.stderr[-3000:]
    assert '"model_version": "3"' in seed.stdout

    home = tmp_path / ".mlops"
    with sqlite3.connect(home / "mlflow.db") as db:
        versions = db.execute("select version from model_versions order by version").fetchall()
    assert versions == [(1,), (2,), (3,)]
    dvc_files = [p for p in (home / "data" / "dvc").rglob("*") if p.is_file()]
    assert len(dvc_files) == 6  # three raw batches and three datasets
    assert len(list((home / "mlartifacts").rglob("feature_importance.png"))) == 3

    lineage = subprocess.run(
        [*mlops, "lineage", "loan-default-xgb/3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lineage.returncode == 0, lineage.stderr
    assert "trained on batches        1,2,3" in lineage.stdout
    bad = subprocess.run(
        [*mlops, "lineage", "loan-default-xgb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "expected NAME@ALIAS or NAME/VERSION" in bad.stderr
