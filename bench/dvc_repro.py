"""Section 5: the same job as a `dvc repro` pipeline (bench/dvc_repro/dvc.yaml), then `dvc push`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DVC_YAML = Path(__file__).resolve().parent / "dvc_repro" / "dvc.yaml"


def _dvc(project: Path, *args: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=project, env=env, stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed:\n{log.read_text()[-3000:]}")


def run_once(landing_file: Path, project: Path, log: Path) -> tuple[float, float]:
    """A fresh DVC project with its own local remote: (seconds for repro + push, holdout ROC AUC)."""
    shutil.rmtree(project, ignore_errors=True)
    (project / "landing").mkdir(parents=True)
    shutil.copyfile(landing_file, project / "landing" / "batch_1.csv")
    shutil.copyfile(DVC_YAML, project / "dvc.yaml")
    env = dict(os.environ) | {
        "PYTHONPATH": str(REPO),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    _dvc(project, "init", "--no-scm", env=env, log=log)
    _dvc(
        project,
        "remote",
        "add",
        "--default",
        "storage",
        str(project.parent / f"{project.name}-remote"),
        env=env,
        log=log,
    )
    started = time.perf_counter()
    _dvc(project, "repro", env=env, log=log)
    _dvc(project, "push", env=env, log=log)
    seconds = time.perf_counter() - started
    return seconds, float(json.loads((project / "metrics.json").read_text())["roc_auc"])
