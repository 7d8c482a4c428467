"""The embedded default, as `make run` uses it: no servers, SQLite MLflow, DVC remote in a folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from flows.local_services import REPO


def state_dir(home: Path) -> Path:
    """MLOPS_HOME somewhere else, below folders that do not exist yet (a documented setting)."""
    return home / "somewhere" / "else"


def embedded_env(home: Path) -> dict[str, str]:
    """A user's environment: no PREFECT_HOME, so the embedded runs choose it (<MLOPS_HOME>/prefect)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PREFECT_", "AWS_"))}
    return env | {"MLOPS_HOME": str(state_dir(home)), "HOME": str(home / "user")}


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
    # One line per stage on the terminal; Prefect's per-task log goes to the run's log file.
    terminal = first.stdout + first.stderr
    assert "  train    loan-default-xgb version 2 trained (valid roc_auc " in first.stdout
    assert "Finished in state" not in terminal and "Traceback" not in terminal, terminal[-3000:]
    assert len(terminal.splitlines()) <= 40, terminal
    assert "Finished in state Completed()" in (state_dir(tmp_path) / "logs" / "mlops-run.log").read_text()

    # The seed's form runs the next batch on the same embedded state.
    seed_form = str(REPO / "flows" / "training_flow.py")
    missing = run(tmp_path, seed_form, "3")
    assert missing.returncode != 0 and "batch 3 does not exist" in missing.stdout + missing.stderr
    assert run(tmp_path, "-m", "flows.cli", "generate", "--batches", "3", "--rows", "1500").returncode == 0
    third = run(tmp_path, seed_form, "3")
    assert third.returncode == 0, third.stderr[-3000:]
    assert '"model_version": "3"' in third.stdout

    home = state_dir(tmp_path)
    # Both forms recorded into the same Prefect home, inside MLOPS_HOME, where `make ui-prefect` looks.
    with sqlite3.connect(home / "prefect" / "prefect.db") as db:
        flow_runs = db.execute("select count(*) from flow_run where name is not null").fetchone()[0]
    assert flow_runs >= 3 * 6, "not all six flow runs of three pipelines are in MLOPS_HOME's Prefect"
    assert not (tmp_path / "user" / ".prefect").exists(), "a run used Prefect's default home"
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


def test_a_demo_size_that_the_landed_batches_do_not_have_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "-m", "flows.cli", "generate", "--batches", "1", "--rows", "1500").returncode == 0
    landed = state_dir(tmp_path) / "landing" / "loan-default" / "batch_1.csv"
    before = landed.read_bytes()
    other = run(tmp_path, "-m", "flows.cli", "run", "--batches", "1", "--demo-rows", "3000")
    assert other.returncode == 2
    assert "batch_1.csv is landed already with 1500 rows, not the 3000 asked for" in other.stderr
    assert landed.read_bytes() == before and not (state_dir(tmp_path) / "data").exists()


def test_a_refused_batch_prints_one_block_of_problems_and_no_traceback(tmp_path: Path) -> None:
    assert run(tmp_path, "-m", "flows.cli", "generate", "--batches", "1", "--rows", "300").returncode == 0
    landed = state_dir(tmp_path) / "landing" / "loan-default" / "batch_1.csv"
    header, first, *rest = landed.read_text().splitlines()
    names, values = header.split(","), first.split(",")
    values[names.index("age")], values[names.index("purpose")] = "150", "yacht"
    landed.write_text("\n".join([header, ",".join(values), *rest]) + "\n")

    refused = run(tmp_path, "-m", "flows.cli", "run", "--batches", "1", "--no-demo")
    assert refused.returncode == 1
    output = refused.stdout + refused.stderr
    assert "Traceback" not in output and "Encountered exception" not in output, output[-3000:]
    block = (
        "batch 1 rejected:\n"
        "  - column 'age' has 1 value(s) outside [18, 100] (e.g. 150)\n"
        "  - column 'purpose' has 1 value(s) not among its values (e.g. 'yacht'); allowed: "
    )
    assert block in refused.stderr and "Nothing was written for batch 1." in refused.stderr, output[-3000:]
    assert output.count("outside [18, 100]") == 1, output[-3000:]
    assert not (state_dir(tmp_path) / "data" / "dvc").exists()

    verbose = run(tmp_path, "-m", "flows.cli", "run", "--batches", "1", "--no-demo", "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stdout + verbose.stderr
