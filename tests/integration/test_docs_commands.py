"""The docs' command blocks, run as written: getting-started's (`make run` and the commands it points to) in
a copy of this checkout, with MLOPS_HOME below folders that do not exist yet; the your-own-data tutorial in
an empty folder. Embedded mode, no servers."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from devenv.services import REPO, free_port
from flows.training_flow import PIPELINE_NAME

# Settings of the session's services that a user's shell would not have.
SESSION_PREFIXES = ("MLOPS_", "PREFECT_", "MLFLOW_", "AWS_", "VIRTUAL_ENV")


def bash_block(page: str) -> str:
    """The first bash block of docs/<page>."""
    match = re.search(r"```bash\n(.*?)```", (REPO / "docs" / page).read_text(), re.S)
    assert match, f"docs/{page} has no bash block"
    return match.group(1)


def user_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(SESSION_PREFIXES)} | extra


def checkout_copy(dest: Path) -> Path:
    """This checkout's files (tracked and new, as they are now) in `dest`, its `make venv` and `make tools`
    done: `.venv` and `bin/` are this checkout's, and no file is newer than the venv's install stamp."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / name)
            os.utime(dest / name, (0, 0))
    for built in (".venv", "bin"):
        (dest / built).symlink_to(REPO / built)
    return dest


def test_getting_started_runs_as_written(tmp_path: Path) -> None:
    checkout = checkout_copy(tmp_path / "checkout")
    home = tmp_path / "somewhere" / "else"  # MLOPS_HOME anywhere, as the page says
    # A HOME of its own shows that nothing lands in Prefect's default home (uv keeps its own cache).
    uv_cache = os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env = user_env(MLOPS_HOME=str(home), UV_NO_SYNC="1", HOME=str(tmp_path / "user"), UV_CACHE_DIR=uv_cache)
    outputs = {}
    for command in bash_block("getting-started.md").strip().splitlines():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        outputs[command] = done.stdout + done.stderr

    # make run: one screen, one line per stage, no traceback, no run of blank lines, ending with the table.
    run = outputs["make run"].rstrip("\n")
    assert len(run.splitlines()) <= 60, run
    assert "Traceback" not in run and "Finished in state" not in run and "\n\n\n" not in run, run
    assert run.count("  train    run ") == 3 and run.count("  evaluate version ") == 3, run
    assert re.search(r"┃ batch ┃ rows +┃ .* ┃ holdout roc_auc ┃ champion after it ┃", run), run
    assert re.search(r"│ 3 +│ 60000 │", run), run
    assert "Created version" not in run and "fatal:" not in run, run  # MLflow's and git's chatter
    assert "Finished in state Completed()" in (home / "logs" / "mlops-run.log").read_text()

    assert "trained on batches        1,2,3" in outputs["uv run mlops lineage loan-default-xgb@champion"]
    restored = outputs["uv run mlops data get loan-default-xgb@champion champion-data --raw"]
    data = checkout / "champion-data"
    assert "dvc pull" in restored and (data / "dataset" / "part-00000.parquet").is_file(), restored
    raw = sorted(p.name for p in (data / "raw").glob("*.parquet"))
    assert raw == [f"batch_00000{n}.parquet" for n in (1, 2, 3)], restored
    reproduced = outputs["uv run mlops reproduce loan-default-xgb@champion"]
    difference = re.search(r"difference: (\S+)", reproduced)
    assert difference and float(difference.group(1)) <= 1e-6, reproduced
    assert '"model_version": "4"' in outputs["uv run python flows/training_flow.py 4"]

    # Every form recorded into MLOPS_HOME: Prefect's history (where `make ui-prefect` looks) and MLflow's.
    with sqlite3.connect(home / "prefect" / "prefect.db") as db:
        pipelines = db.execute(
            "select count(*) from flow_run join flow on flow_run.flow_id = flow.id where flow.name = ?",
            (PIPELINE_NAME,),
        ).fetchone()[0]
    assert pipelines >= 4
    with sqlite3.connect(home / "mlflow.db") as db:
        assert db.execute("select version from model_versions order by version").fetchall() == [
            (1,),
            (2,),
            (3,),
            (4,),
        ]
    assert not (checkout / ".mlops").exists() and not (tmp_path / "user" / ".prefect").exists()


def test_your_own_data_runs_as_written(tmp_path: Path) -> None:
    script = bash_block("your-own-data.md")
    assert "--port 5001" in script and "127.0.0.1:5001" in script
    port = str(free_port())  # the one change: a port nothing else on this machine holds
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("5001", port)],
        cwd=tmp_path,
        env=user_env(UV_PROJECT=str(REPO), UV_FROZEN="1"),
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
