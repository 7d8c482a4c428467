"""A team's own tables, as a new user brings them: three public datasets that ship with scikit-learn, each
split into three batches, each declared only by a dataset.yaml that `mlops dataset init` drafted and a person
edited, each trained 1 -> 2 -> 3 against the real services. The champion then scores raw rows for a plain
MLflow client in a fresh process and for MLflow's own scoring server, exactly as the pipeline scored its
holdout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from devenv.services import REPO, free_port, wait_http
from flows.cli import main
from tests.integration.conftest import Platform, new_platform
from tests.integration.helpers import land_frame


def tumours() -> pd.DataFrame:
    """Binary, a text label and no id column: made from the data (the label mapped to text, no index)."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame["diagnosis"] = np.asarray(data.target_names)[data.target.to_numpy()]
    return frame


def wines() -> pd.DataFrame:
    """Multiclass (classes 0, 1, 2) with an id column."""
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.insert(0, "wine_id", np.arange(1000, 1000 + len(frame)))
    return frame


def diabetes() -> pd.DataFrame:
    """Regression, no id column."""
    return load_diabetes(as_frame=True, scaled=True).frame.rename(columns={"target": "progression"})


@dataclass(frozen=True)
class Case:
    name: str
    table: Callable[[], pd.DataFrame]
    label: str
    init_args: tuple[str, ...]
    # What the person changes in the draft: (pattern, replacement) over its lines.
    edits: tuple[tuple[str, str], ...]
    task: str
    metric: str
    # Files the person adds beside the definition (its derived-feature code), by path under its folder.
    files: tuple[tuple[str, str], ...] = ()


# The diabetes team's own feature: a module in a package of its own beside the definition, which the model
# must carry with it (no such module exists where the model is loaded).
INTERACTIONS = """
import pandas as pd


def interactions(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"bmi_x_bp": raw["bmi"] * raw["bp"]})
"""

CASES = [
    Case(
        "tumours",
        tumours,
        "diagnosis",
        (),
        (
            (
                r"  positive_class: .*",
                '  positive_class: "malignant"  # a malignant tumour is what we look for',
            ),
        ),
        "binary",
        "roc_auc",
    ),
    Case(
        "wines",
        wines,
        "cultivar",
        ("--id", "wine_id"),
        ((r"^training: .*", "training: {rounds: 200, early_stopping: 20}"),),
        "multiclass",
        "log_loss",
    ),
    Case(
        "diabetes",
        diabetes,
        "progression",
        ("--task", "regression"),
        (
            (r"  name: rmse .*", "  name: mae  # the team reports mean absolute error"),
            (r"^training: .*", r'\g<0>\nfeatures: {derived: "lib.feats:interactions"}'),
        ),
        "regression",
        "mae",
        (("lib/feats.py", INTERACTIONS),),
    ),
]


def batches(table: pd.DataFrame) -> list[pd.DataFrame]:
    """Three deterministic batches of the table's rows, shuffled once with a fixed seed."""
    order = np.random.default_rng(7).permutation(len(table))
    return [table.iloc[part].reset_index(drop=True) for part in np.array_split(order, 3)]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mlops ...` as a user types it, in its own process (with this test's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass(frozen=True)
class Trained:
    platform: Platform
    case: Case
    batches: list[pd.DataFrame]
    model: str
    workdir: Path


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def trained(
    request: pytest.FixtureRequest, services: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trained]:
    case: Case = request.param
    root = tmp_path_factory.mktemp(case.name)
    with pytest.MonkeyPatch.context() as monkeypatch:
        platform = new_platform(root, services, monkeypatch)  # type: ignore[arg-type]
        monkeypatch.setenv("MLOPS_DATASETS_DIR", str(root / "datasets"))
        monkeypatch.delenv("MLOPS_EXPERIMENT_NAME")  # named after the dataset, as a user's are
        monkeypatch.delenv("MLOPS_MODEL_NAME")
        parts = batches(case.table())
        sample = root / "sample.csv"
        parts[0].to_csv(sample, index=False)
        drafted = cli(
            "dataset",
            "init",
            case.name,
            "--from",
            str(sample),
            "--label",
            case.label,
            *case.init_args,
            cwd=root,
        )
        assert drafted.returncode == 0, drafted.stderr
        path = root / "datasets" / case.name / "dataset.yaml"
        text = path.read_text()
        for pattern, replacement in case.edits:
            text, count = re.subn(pattern, replacement, text, flags=re.M)
            assert count == 1, (pattern, text)
        path.write_text(text)
        for relative, code in case.files:
            (path.parent / relative).parent.mkdir(parents=True, exist_ok=True)
            (path.parent / relative).write_text(code)
        for number, part in enumerate(parts, 1):
            land_frame(platform_for(platform, case.name), number, part)
        checked = cli("dataset", "check", case.name, str(sample), cwd=root)
        assert checked.returncode == 0, checked.stderr
        assert main(["run", "--dataset", case.name, "--batches", "1", "2", "3", "--no-demo"]) == 0
        yield Trained(platform, case, parts, f"{case.name}-xgb", root)


def platform_for(platform: Platform, dataset: str) -> Platform:
    """The tenant's landing folder of `dataset` (its batches land in <landing>/<dataset>/)."""
    tenant = platform.landing_prefix.split("/")[0]
    return Platform(
        platform.settings,
        platform.services,
        platform.tracking_uri,
        platform.data_prefix,
        f"{tenant}/{dataset}",
    )


def test_each_batch_gives_a_version_of_the_datasets_own_model(trained: Trained, tmp_path: Path) -> None:
    client = MlflowClient(trained.platform.tracking_uri, trained.platform.tracking_uri)
    versions = sorted(client.search_model_versions(f"name = '{trained.model}'"), key=lambda v: int(v.version))
    assert [v.version for v in versions] == ["1", "2", "3"]
    experiment = client.get_experiment_by_name(trained.case.name)
    assert experiment is not None
    # Marked as a model-training experiment: MLflow 3's UI opens it on its runs, not its GenAI view.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for batch, version in enumerate(versions, 1):
        tags = version.tags
        assert tags["lineage.dataset"] == trained.case.name
        assert len(tags["lineage.dataset_definition"]) == 64
        assert tags["lineage.batches"] == ",".join(str(n) for n in range(1, batch + 1))
        run = client.get_run(version.run_id or "")
        assert (
            run.data.params["objective"]
            == {
                "binary": "binary:logistic",
                "multiclass": "multi:softprob",
                "regression": "reg:squarederror",
            }[trained.case.task]
        )
        assert f"holdout_{trained.case.metric}" in run.data.metrics
        assert tags["gate.decision"] in ("promote", "keep")
    assert client.get_model_version_by_alias(trained.model, "champion").tags["gate.decision"] == "promote"
    if trained.case.files:  # the feature code travels with the model, as one of its artifacts
        uri = f"models:/{trained.model}@champion"
        tracking = trained.platform.tracking_uri
        model = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path), tracking_uri=tracking))
        names = {p.relative_to(model).as_posix() for p in model.rglob("*.py")}
        assert "artifacts/feats.py" in names, names


def test_the_champion_scores_raw_rows_for_a_plain_mlflow_client_in_a_fresh_process(
    trained: Trained, tmp_path: Path
) -> None:
    """No project code on the path: the model brings its features, definition and code with it. Its
    holdout metric from those predictions is the one the pipeline's gate recorded."""
    client = MlflowClient(trained.platform.tracking_uri, trained.platform.tracking_uri)
    champion = client.get_model_version_by_alias(trained.model, "champion")
    holdout = holdout_rows(trained, champion.tags["lineage.batches"])
    rows = holdout.drop(columns=[trained.case.label, *(["wine_id"] if trained.case.name == "wines" else [])])
    rows.to_parquet(tmp_path / "rows.parquet")
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path = [p for p in sys.path if p.rstrip("/") != "{REPO}"]  # as if this project were not installed
        import mlflow, pandas as pd
        model = mlflow.pyfunc.load_model("models:/{trained.model}@champion")
        answer = model.predict(pd.read_parquet("rows.parquet"))
        import flows  # the copy that travels with the model, not this project
        assert flows.__file__.endswith("/code/flows/__init__.py"), flows.__file__
        frame = answer if isinstance(answer, pd.DataFrame) else pd.DataFrame({{"prediction": answer}})
        frame.to_parquet("answer.parquet")
        print(json.dumps(model.metadata.get_input_schema().input_names()))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PYTHON"))}
    env["MLFLOW_TRACKING_URI"] = trained.platform.tracking_uri
    fresh = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert json.loads(fresh.stdout.strip().splitlines()[-1]) == list(rows.columns)
    answer = pd.read_parquet(tmp_path / "answer.parquet")
    recorded = client.get_run(champion.run_id or "").data.metrics[f"holdout_{trained.case.metric}"]
    assert metric_of(trained, holdout, answer) == pytest.approx(recorded, rel=1e-9, abs=1e-12)


def test_the_champion_answers_mlflows_scoring_server_as_it_answers_a_python_client(
    trained: Trained, tmp_path: Path
) -> None:
    """`mlflow models serve --env-manager local`, POSTed raw rows as `dataframe_split`."""
    import mlflow

    rows = trained.batches[2].drop(columns=[trained.case.label]).head(20)
    if trained.case.name == "wines":
        rows = rows.drop(columns=["wine_id"])
    port = free_port()
    env = os.environ | {
        "MLFLOW_TRACKING_URI": trained.platform.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/{trained.model}@champion",
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", server, log, timeout=240)
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    mlflow.set_tracking_uri(trained.platform.tracking_uri)
    local = mlflow.pyfunc.load_model(f"models:/{trained.model}@champion").predict(rows)
    expected = local if isinstance(local, pd.DataFrame) else pd.DataFrame({0: local})
    np.testing.assert_allclose(
        served.to_numpy(dtype="float64"), expected.to_numpy(dtype="float64"), atol=1e-6
    )
    if trained.case.task != "regression":
        assert list(served.columns) == [str(c) for c in expected.columns]


def test_the_champion_reproduces_from_its_lineage_with_the_code_it_was_trained_with(trained: Trained) -> None:
    """Data by md5, definition by hash, parameters from the run, feature code from the version's artifacts:
    the dataset's feature module broken since then changes nothing, and the metric is the recorded one."""
    folder = trained.workdir / "datasets" / trained.case.name
    originals = {relative: (folder / relative).read_text() for relative, _ in trained.case.files}
    try:
        for relative in originals:
            (folder / relative).write_text("raise ImportError('edited since the champion was trained')\n")
        done = cli("reproduce", f"{trained.case.name}@champion", cwd=trained.workdir)
    finally:
        for relative, text in originals.items():
            (folder / relative).write_text(text)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(rf"holdout {trained.case.metric}: (\S+) \(the original's: (\S+)\)", done.stdout)
    assert found, done.stdout
    assert abs(float(found[1]) - float(found[2])) <= 1e-6


def holdout_rows(trained: Trained, batches: str) -> pd.DataFrame:
    """The holdout of the batches the champion was trained on, as the pipeline split it (read back from the
    data catalog's dataset through plain DVC by `mlops data get`)."""
    target = trained.workdir / f"restored-{batches}"
    assert main(["data", "get", f"{trained.case.name}@champion", str(target)]) == 0
    dataset = pd.read_parquet(target / "dataset")  # the directory of Parquet parts, as plain pandas reads it
    holdout = dataset[dataset["split"] == "holdout"]
    return holdout.drop(columns=[c for c in ("split", "row_id") if c in holdout.columns]).reset_index(
        drop=True
    )


def metric_of(trained: Trained, holdout: pd.DataFrame, answer: pd.DataFrame) -> float:
    from sklearn.metrics import log_loss, mean_absolute_error, roc_auc_score

    labels = holdout[trained.case.label]
    if trained.case.task == "binary":
        return float(roc_auc_score(labels == "malignant", answer["malignant"]))
    if trained.case.task == "multiclass":
        return float(log_loss(labels, answer[["0", "1", "2"]].to_numpy(dtype="float64"), labels=[0, 1, 2]))
    return float(mean_absolute_error(labels, answer["prediction"]))
