"""`mlops promote` and the scoring flow against the real MLflow server, MinIO, Prefect API, git and helm.

Models are trained by the real pipeline (v1 on a tiny batch, then v2, a clearly better one, becomes champion).
Environments live in a temporary git repository made here (never this checkout), holding copies of
infra/environments/*/values.yaml; the scoring flow gets its pin the way a cluster Job does: from the settings
ConfigMap that `helm template` renders from the environment's values.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from flows.adapters.tracking import connect
from flows.cli import main
from flows.contracts import ScoringResult
from flows.logic.demo import generate_batch
from flows.scoring_flow import score_batch
from flows.training_flow import training_pipeline
from tests.charts.chart import CHART, find_helm
from tests.integration.conftest import DATA_BUCKET, Platform
from tests.integration.helpers import land_frame, registry_state

ROOT = Path(__file__).resolve().parents[2]
SCORED_BATCH = 3
PIN_SETTINGS = ("MLOPS_ENVIRONMENT", "MLOPS_SCORING_MODEL_NAME", "MLOPS_SCORING_MODEL_VERSION")


@dataclass(frozen=True)
class Trained:
    platform: Platform
    gate_tags_before_rerun: dict[str, str]

    @property
    def model(self) -> str:
        return self.platform.settings.model_name

    def client(self) -> MlflowClient:
        return MlflowClient(self.platform.tracking_uri, self.platform.tracking_uri)


@pytest.fixture(scope="module")
def trained(module_platform: Platform) -> Trained:
    """v1 (400 rows), v2 (6,000 more, clearly better: champion), batch 2 again; batch 3 is to score."""
    platform = module_platform
    land_frame(platform, 1, generate_batch(1, 400))
    land_frame(platform, 2, generate_batch(2, 6000))
    land_frame(
        platform, SCORED_BATCH, generate_batch(SCORED_BATCH, 500).drop(columns=["defaulted"]), "parquet"
    )
    training_pipeline(1)
    training_pipeline(2)
    assert registry_state(platform) == (["1", "2"], "2")
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    before = gate_tags(client, platform.settings.model_name, "2")
    training_pipeline(2)  # a re-run re-evaluates the champion against itself
    return Trained(platform, before)


def gate_tags(client: MlflowClient, model: str, version: str) -> dict[str, str]:
    return {k: v for k, v in client.get_model_version(model, version).tags.items() if k.startswith("gate.")}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, trained: Trained) -> Path:
    """A git repository on main holding dev and prod as in infra/environments; prod pins v1."""
    repo = tmp_path / "gitops"
    for env in ("dev", "prod"):
        values = (ROOT / "infra" / "environments" / env / "values.yaml").read_text()
        values = values.replace("name: loan-default-xgb", f"name: {trained.model}")
        if env == "prod":
            values = values.replace('version: ""', 'version: "1"')
        (repo / "infra" / "environments" / env).mkdir(parents=True)
        (repo / "infra" / "environments" / env / "values.yaml").write_text(values)
    (repo / "README.md").write_text("environments\n")
    git(repo.parent, "init", "--quiet", "-b", "main", str(repo))
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "environments")
    return repo


def repo_state(repo: Path) -> dict[str, str]:
    """Everything a promotion must leave alone (or, when refused, must not change at all)."""
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "branch", "--show-current"),
        "branches": git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "readme": (repo / "README.md").read_text(),
    }


def promote(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["promote", "--from", "dev", "--to", "prod", "--repo", str(repo)])
    out, err = capsys.readouterr()
    return code, out, err


def prod_values(repo: Path, ref: str) -> str:
    return git(repo, "show", f"{ref}:infra/environments/prod/values.yaml")


def test_a_champion_stays_promotable_after_a_rerun(trained: Trained) -> None:
    after = gate_tags(trained.client(), trained.model, "2")
    assert after == trained.gate_tags_before_rerun and after["gate.decision"] == "promote"
    assert registry_state(trained.platform)[1] == "2"


def test_promote_commits_the_champion_on_a_new_branch_and_leaves_the_checkout_alone(
    repo: Path, trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "README.md").write_text("work in progress\n")  # the user's uncommitted work
    (repo / "notes.txt").write_text("untracked\n")
    before = repo_state(repo)

    code, out, err = promote(repo, capsys)
    assert code == 0, err
    branch = f"promote/prod/{trained.model}-v2"
    assert f"prod: {trained.model} version 1 -> {trained.model} version 2 (dev's champion)" in out
    assert f"no remote 'origin': push {branch}" in out
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "branches"} == {
        k: v for k, v in before.items() if k != "branches"
    }
    assert yaml.safe_load(prod_values(repo, branch))["scoring"]["model"] == {
        "name": trained.model,
        "version": "2",
    }
    # Exactly one line of one file changed, in one commit on top of main.
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert git(repo, "diff", "--numstat", "main", branch).split() == [
        "1",
        "1",
        "infra/environments/prod/values.yaml",
    ]
    subject = git(repo, "log", "-1", "--format=%s", branch).strip()
    assert subject == f"Promote {trained.model} version 2 to prod"
    assert "lineage.dataset_md5: " in git(repo, "log", "-1", "--format=%b", branch)

    # Again: the same proposal exists, nothing changes.
    code, out, _ = promote(repo, capsys)
    assert code == 0 and f"already proposed on branch {branch}" in out
    assert repo_state(repo) == after

    # Merged (the pull request), the branch deleted: prod pins it, nothing to do, no branch is made.
    git(repo, "stash", "--include-untracked", "--quiet")
    git(repo, "merge", "--quiet", "--ff-only", branch)
    git(repo, "branch", "--quiet", "-D", branch)
    merged = repo_state(repo)
    code, out, _ = promote(repo, capsys)
    assert code == 0 and f"prod already pins {trained.model} version 2" in out and "nothing to do" in out
    assert repo_state(repo) == merged


def test_promote_pushes_the_branch_when_a_remote_is_configured(
    repo: Path, tmp_path: Path, trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    code, out, err = promote(repo, capsys)
    assert code == 0, err
    branch = f"promote/prod/{trained.model}-v2"
    assert f"pushed to origin: open a pull request of {branch} into main" in out
    assert git(repo, "ls-remote", "origin", branch).split() == [
        git(repo, "rev-parse", branch).strip(),
        f"refs/heads/{branch}",
    ]


def hand_registered(trained: Trained, drop: str = "", **overrides: str) -> str:
    """A version registered by hand from v2's model, with v2's tags changed: a champion set by a click."""
    connect(trained.platform.settings)
    v2 = trained.client().get_model_version(trained.model, "2")
    tags = {k: v for k, v in v2.tags.items() if k != drop} | overrides
    return str(mlflow.register_model(str(v2.source), trained.model, tags=tags).version)


@pytest.mark.parametrize(
    ("drop", "overrides", "message"),
    [
        ("lineage.dataset_md5", {}, "incomplete lineage: missing lineage.dataset_md5"),
        ("", {"gate.decision": "keep", "gate.reason": "below margin"}, "its gate did not pass"),
    ],
    ids=["incomplete lineage", "failed gate"],
)
def test_promote_refuses_a_champion_without_lineage_or_passed_gate_and_changes_nothing(
    repo: Path,
    trained: Trained,
    capsys: pytest.CaptureFixture[str],
    drop: str,
    overrides: dict[str, str],
    message: str,
) -> None:
    client, alias = trained.client(), trained.platform.settings.champion_alias
    version = hand_registered(trained, drop, **overrides)
    before, prod_before = repo_state(repo), prod_values(repo, "main")
    client.set_registered_model_alias(trained.model, alias, version)
    try:
        code, out, err = promote(repo, capsys)
    finally:
        client.set_registered_model_alias(trained.model, alias, "2")
    assert code == 1 and out == ""
    assert f"refused: dev's champion {trained.model} version {version} may not be promoted: " in err
    assert message in err
    assert repo_state(repo) == before and prod_values(repo, "main") == prod_before


def test_promote_refuses_an_unknown_environment_and_a_registry_it_does_not_share(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo_state(repo)
    assert main(["promote", "--from", "dev", "--to", "staging", "--repo", str(repo)]) == 1
    assert (
        "no environment 'staging': infra/environments/staging/values.yaml is not in main"
        in capsys.readouterr().err
    )
    prod = repo / "infra" / "environments" / "prod" / "values.yaml"
    prod.write_text(prod.read_text().replace("mlops-registry", "mlops-prod"))
    git(repo, "commit", "--quiet", "-am", "prod's own registry")
    before = repo_state(repo)
    code, _, err = promote(repo, capsys)
    assert code == 1 and "dev and prod use different MLflow registries" in err
    assert repo_state(repo) == before


# --- scoring -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.skip("helm not found ($HELM, PATH or bin/helm)")
    return path


def pin_settings(helm: str, values: str, tmp_path: Path) -> dict[str, str]:
    """The pin and environment of the settings ConfigMap the chart renders for prod from these values."""
    values_file = tmp_path / "prod-values.yaml"
    values_file.write_text(values)
    rendered = subprocess.run(
        [helm, "template", "mlops", str(CHART), "--namespace", "mlops-prod", "--values", str(values_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (settings,) = [
        doc["data"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "mlops-settings"
    ]
    return {key: settings[key] for key in PIN_SETTINGS}


def expected_probabilities(trained: Trained, version: str) -> np.ndarray:
    """What the version answers for the scored batch's raw rows, loaded as any MLflow client would."""
    model = mlflow.pyfunc.load_model(f"models:/{trained.model}/{version}")
    rows = generate_batch(SCORED_BATCH, 500).drop(columns=["application_id", "defaulted"])
    return np.asarray(model.predict(rows)["1"], dtype="float64")


def read_object(trained: Trained, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert bucket == DATA_BUCKET
    body: bytes = trained.platform.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def score_as_prod(
    repo: Path, ref: str, trained: Trained, helm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ScoringResult, pd.DataFrame]:
    """Run the scoring flow with the settings prod's values at `ref` give it; its result and predictions."""
    pins = pin_settings(helm, prod_values(repo, ref), tmp_path)
    assert pins["MLOPS_ENVIRONMENT"] == "prod" and pins["MLOPS_SCORING_MODEL_NAME"] == trained.model
    for key, value in pins.items():
        monkeypatch.setenv(key, value)
    result = score_batch(SCORED_BATCH)
    return result, pd.read_parquet(io.BytesIO(read_object(trained, result.predictions_uri)))


def test_scoring_uses_exactly_the_version_prod_pins_and_a_promotion_changes_it(
    repo: Path,
    trained: Trained,
    helm: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1, v2 = expected_probabilities(trained, "1"), expected_probabilities(trained, "2")
    assert not np.allclose(v1, v2)  # so matching one of them says which model scored

    result, predictions = score_as_prod(repo, "main", trained, helm, tmp_path, monkeypatch)
    assert (result.environment, result.model_name, result.model_version) == ("prod", trained.model, "1")
    assert result.predictions_uri.endswith(
        f"/predictions/prod/batch_{SCORED_BATCH}/{trained.model}-v1.parquet"
    )
    assert set(predictions["model_version"]) == {"1"} and len(predictions) == result.rows == 500
    np.testing.assert_allclose(predictions["probability_1"].to_numpy(), v1, rtol=0, atol=1e-7)
    record = json.loads(read_object(trained, result.record_uri))
    assert record["model_version"] == "1"
    assert record["model_run_id"] == trained.client().get_model_version(trained.model, "1").run_id

    # The promotion commit is what the next run in prod scores with (once merged and synced).
    assert promote(repo, capsys)[0] == 0
    result, predictions = score_as_prod(
        repo, f"promote/prod/{trained.model}-v2", trained, helm, tmp_path, monkeypatch
    )
    assert result.model_version == "2" and set(predictions["model_version"]) == {"2"}
    np.testing.assert_allclose(predictions["probability_1"].to_numpy(), v2, rtol=0, atol=1e-7)
    assert json.loads(read_object(trained, result.record_uri))["model_version"] == "2"


def test_scoring_refuses_when_nothing_is_pinned_and_writes_nothing(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_ENVIRONMENT", "staging")
    monkeypatch.setenv("MLOPS_SCORING_MODEL_VERSION", "")
    with pytest.raises(ValueError, match="no model is pinned for environment 'staging'"):
        score_batch(SCORED_BATCH)
    listing = trained.platform.s3().list_objects_v2(
        Bucket=DATA_BUCKET, Prefix=f"{trained.platform.data_prefix}/predictions/staging/"
    )
    assert listing.get("KeyCount", 0) == 0
