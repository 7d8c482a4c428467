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


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of this project's Python, run as a user would in `home`."""
    return subprocess.run(
        [sys.executable, *args], cwd=home, env=embedded_env(home), capture_output=True, text=True, timeout=600
    )


def test_mlops_run_then_seed_form_then_lineage(tmp_path: Path) -> None:
    first = run(tmp_path, "-m", "flows.cli", "run", "--batches", "1", "2", "--demo-rows", "1500")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "landed demo batch 2 (1500 rows)" in first.stdout
    assert "loan-default-xgb: training runs" in first.stdout
    assert "make ui-mlflow" in first.stdout

    # The seed's form runs the next batch on the same embedded state.
    seed_form = str(REPO / "flows" / "training_flow.py")
    missing = run(tmp_path, seed_form, "3")
    assert missing.returncode != 0 and "batch 3 does not exist" in missing.stdout + missing.stderr
    assert run(tmp_path, "-m", "flows.cli", "generate", "--batches", "3", "--rows", "1500").returncode == 0
    third = run(tmp_path, seed_form, "3")
    assert third.returncode == 0, third.stderr[-3000:]
    assert '"model_version": "3"' in third.stdout

    home = tmp_path / ".mlops"
    with sqlite3.connect(home / "mlflow.db") as db:
        versions = db.execute("select version from model_versions order by version").fetchall()
    assert versions == [(1,), (2,), (3,)]
    dvc_files = [p for p in (home / "data" / "dvc").rglob("*") if p.is_file()]
    assert len(dvc_files) == 6  # three raw batches and three datasets
    assert len(list((home / "mlartifacts").rglob("feature_importance.png"))) == 3

    lineage = run(tmp_path, "-m", "flows.cli", "lineage", "loan-default-xgb/3")
    assert lineage.returncode == 0, lineage.stderr
    assert "trained on batches        1,2,3" in lineage.stdout
    bad = run(tmp_path, "-m", "flows.cli", "lineage", "loan-default-xgb")
    assert bad.returncode == 2 and "expected NAME@ALIAS or NAME/VERSION" in bad.stderr
