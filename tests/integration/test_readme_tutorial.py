"""The README's "Your own data" tutorial, run as written: from a CSV file to a champion that a plain MLflow
client and MLflow's scoring server score from raw rows. Embedded mode, in a folder of its own."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from flows.local_services import REPO, free_port


def tutorial() -> str:
    """The bash block of the README's "Your own data" section."""
    section = (REPO / "README.md").read_text().split("## Your own data\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the section has no bash block"
    return match.group(1)


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    script = tutorial()
    assert "--port 5001" in script and "127.0.0.1:5001" in script
    port = str(free_port())  # the one change: a port nothing else on this machine holds
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PREFECT_", "MLFLOW_", "AWS_"))}
    env |= {"UV_PROJECT": str(REPO), "UV_FROZEN": "1"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("5001", port)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert "wrote datasets/tumours/dataset.yaml" in out and "match dataset 'tumours'" in out
    assert "tumours-xgb: training runs" in out
    assert re.search(r"dataset\s+tumours", out)  # mlops lineage tumours@champion
    assert re.search(r"benign\s+malignant", out)  # the plain client's class probabilities
    assert '"predictions"' in out and '"malignant"' in out  # the scoring server's answer
    assert 'positive_class: "malignant"' in (tmp_path / "datasets" / "tumours" / "dataset.yaml").read_text()
