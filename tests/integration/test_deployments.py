"""Each stage as its own flow run in its own process: the `make up` topology with a real process worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from devenv.services import LocalServices
from flows.adapters.objectstore import open_fs, read_json
from flows.cli import main
from flows.contracts import PipelineSummary
from flows.logic.demo import generate_batch
from flows.settings import Settings
from flows.training_flow import training_pipeline
from tests.integration.conftest import LANDING_BUCKET, deploy_flows, new_platform

ROWS = 2000
STAGES = ("ingest", "prepare", "train", "evaluate", "promote")


@pytest.fixture(scope="module")
def deployed(services: LocalServices) -> Iterator[Settings]:
    """A process worker and the deployments of prefect.yaml, as `make up deploy-flows` makes them."""
    services.start_worker()
    deploy_flows(services)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in services.client_env().items():
            monkeypatch.setenv(key, value)
        settings = Settings()  # the worker's view: the default buckets, experiment and model
        s3 = services.s3_client()
        for batch in (1, 2):
            frame = generate_batch(batch, ROWS).to_csv(index=False).encode()
            s3.put_object(Bucket=LANDING_BUCKET, Key=f"loan-default/batch_{batch}.csv", Body=frame)
        yield settings
    services.stop("worker")


def run_pipeline(batch: int) -> FlowRun:
    run: FlowRun = run_deployment(  # type: ignore[assignment]
        "ML Training Pipeline/ml-pipeline", parameters={"batch_number": batch}, timeout=900, poll_interval=1
    )
    return run


def child_runs(parent: FlowRun) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id]))
        )
    return sorted(runs, key=lambda r: str(r.start_time or r.expected_start_time))


def published(settings: Settings, run: FlowRun) -> dict[str, Any]:
    fs, root = open_fs(settings.stage_results_url, settings)
    result: dict[str, Any] = read_json(fs, f"{root}/{run.id}.json")
    return result


@pytest.fixture(scope="module")
def two_batches(deployed: Settings) -> list[tuple[FlowRun, PipelineSummary, list[FlowRun]]]:
    out = []
    for batch in (1, 2):
        run = run_pipeline(batch)
        assert run.state is not None and run.state.is_completed(), run.state
        summary = PipelineSummary.model_validate(published(deployed, run))
        out.append((run, summary, child_runs(run)))
    return out


def test_every_stage_is_its_own_flow_run_in_its_own_process(
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]],
) -> None:
    for _, summary, children in two_batches:
        assert [c.flow_id for c in children] and len(children) == len(STAGES)
        assert all(c.deployment_id is not None and c.state and c.state.is_completed() for c in children)
        pids = {summary.stage_processes[s].split(":")[1] for s in STAGES}
        assert len(pids) == len(STAGES), summary.stage_processes
        assert str(summary.pid) not in pids and str(os.getpid()) not in pids


def test_stages_pull_their_inputs_from_the_remote_by_hash(
    deployed: Settings,
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]],
) -> None:
    for _, summary, children in two_batches:
        results = {c.name: published(deployed, c) for c in children}
        by_kind = {type_name(r): r for r in results.values()}
        raw_md5s = [v["file"]["md5"] for v in by_kind["ingest"]["raw_versions"]]
        assert by_kind["prepare"]["pulled_md5s"] == raw_md5s
        assert by_kind["train"]["pulled_md5s"] == [summary.dataset_md5]
        assert by_kind["evaluate"]["pulled_md5s"] == [summary.dataset_md5]


def type_name(result: dict[str, Any]) -> str:
    """Which stage produced a published result, from its fields."""
    for stage, field in (
        ("ingest", "raw_versions"),
        ("prepare", "dataset"),
        ("train", "best_iteration"),
        ("evaluate", "reason"),
        ("promote", "promoted"),
    ):
        if field in result:
            return stage
    raise AssertionError(f"unknown stage result {result}")


def test_results_equal_the_embedded_run_on_the_same_data(
    services: LocalServices,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]],
) -> None:
    platform = new_platform(tmp_path, services, monkeypatch)
    monkeypatch.setenv("MLOPS_STAGE_RUNNER", "inline")
    s3 = platform.s3()
    for batch in (1, 2):
        s3.put_object(
            Bucket=LANDING_BUCKET,
            Key=f"{platform.landing_prefix}/batch_{batch}.csv",
            Body=generate_batch(batch, ROWS).to_csv(index=False).encode(),
        )
    for (_, deployed_summary, _), batch in zip(two_batches, (1, 2), strict=True):
        inline = training_pipeline(batch)
        assert len(set(inline.stage_processes.values())) == 1  # inline: all in this process
        assert (inline.raw_md5, inline.dataset_md5, inline.rows) == (
            deployed_summary.raw_md5,
            deployed_summary.dataset_md5,
            deployed_summary.rows,
        )
        assert inline.score == deployed_summary.score


def test_a_failing_stage_fails_the_pipeline_with_its_message_and_nothing_after_runs(
    deployed: Settings,
    services: LocalServices,
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = generate_batch(3, ROWS).drop(columns=["credit_score"]).to_csv(index=False).encode()
    s3 = services.s3_client()
    s3.put_object(Bucket=LANDING_BUCKET, Key="loan-default/batch_3.csv", Body=bad)
    run = run_pipeline(3)
    assert run.state is not None and run.state.is_failed()
    assert "stage 'ingest'" in str(run.state.message)
    assert "missing columns: 'credit_score'" in str(run.state.message)
    children = child_runs(run)
    assert [c.state.is_failed() for c in children if c.state] == [True]
    # What `make trigger` prints after Prefect's own "finished in state 'Failed'": which stage, and why.
    assert main(["status", str(run.id)]) == 1
    out = capsys.readouterr().out
    assert ": Failed" in out and "stage 'ingest'" in out and "missing columns: 'credit_score'" in out


def test_mlops_status_says_how_a_deployed_pipeline_ended(
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]], capsys: pytest.CaptureFixture[str]
) -> None:
    run, summary, _ = two_batches[1]
    assert main(["status", str(run.id)]) == 0
    out = capsys.readouterr().out
    assert f"flow run {run.name} ({run.id}): Completed" in out
    assert (
        f"loan-default batch 2: {summary.rows} rows, model version {summary.model_version}, holdout roc_auc"
        in out
    )
    assert main(["status", "not-a-uuid"]) == 2


def test_train_fans_out_candidates_as_parallel_runs_and_registers_the_best(
    deployed: Settings,
    two_batches: list[tuple[FlowRun, PipelineSummary, list[FlowRun]]],
) -> None:
    client = MlflowClient(deployed.resolved_tracking_uri)
    versions_before = {v.version for v in client.search_model_versions(f"name = '{deployed.model_name}'")}
    run: FlowRun = run_deployment(  # type: ignore[assignment]
        "ML Training Pipeline/ml-pipeline",
        parameters={"batch_number": 2, "candidates": 3},
        timeout=900,
        poll_interval=1,
    )
    assert run.state is not None and run.state.is_completed(), run.state
    summary = PipelineSummary.model_validate(published(deployed, run))
    trains = [c for c in child_runs(run) if type_name(published(deployed, c)) == "train"]
    assert len(trains) == 3
    results = [published(deployed, c) for c in trains]
    assert len({r["pid"] for r in results}) == 3  # each candidate in its own process
    # Candidates only log; evaluate registers the best. Candidate 0 has the default parameters, so it is
    # the run batch 2 already trained, reused rather than trained again.
    assert [r["reused"] for r in results].count(True) == 1
    assert {r["valid_metric"] for r in results} == {"roc_auc"}
    best = max(results, key=lambda r: r["valid_score"])
    runs = client.search_runs(
        [client.get_experiment_by_name(deployed.experiment_name).experiment_id],  # type: ignore[union-attr]
        filter_string="tags.`lineage.batch_number` = '2'",
    )
    assert {r["run_id"] for r in results} <= {r.info.run_id for r in runs}
    registered = client.get_model_version(deployed.model_name, summary.model_version)
    assert registered.run_id == best["run_id"]
    new_versions = {v.version for v in client.search_model_versions(f"name = '{deployed.model_name}'")}
    assert len(new_versions - versions_before) == (0 if registered.version in versions_before else 1)
