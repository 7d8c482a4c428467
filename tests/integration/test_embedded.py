"""The embedded default, as `make run` uses it: no servers, SQLite MLflow, DVC remote in a folder. The
walk-through (`make run`, lineage, the seed's form) is docs/getting-started.md's: test_docs_commands.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
