"""`mlops status`: how a pipeline flow run ended (after `prefect deployment run --watch`)."""

from __future__ import annotations

import sys

from flows.settings import Settings


def pipeline_status(flow_run_id: str | None, settings: Settings) -> int:
    """Print how a pipeline run ended (as `make trigger` does after `prefect deployment run --watch`):
    its summary when it completed, the failing stage's message when it failed; exit 0 only on success."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.adapters.objectstore import open_fs, read_json
    from flows.contracts import PipelineSummary
    from flows.training_flow import PIPELINE_NAME

    with get_client(sync_client=True) as client:
        if flow_run_id:
            try:
                run = client.read_flow_run(UUID(flow_run_id))
            except Exception as exc:  # a malformed id or one the server does not know
                print(f"mlops status: no flow run {flow_run_id}: {exc}", file=sys.stderr)
                return 2
        else:
            latest = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[PIPELINE_NAME])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=1,
            )
            if not latest:
                print(f"mlops status: no {PIPELINE_NAME!r} flow run yet", file=sys.stderr)
                return 2
            run = latest[0]
    state = run.state
    print(f"flow run {run.name} ({run.id}): {state.name if state else 'no state'}")
    if state is None or not state.is_final():
        return 1
    if not state.is_completed():
        print(f"  {state.message or 'no message'}")
        return 1
    fs, root = open_fs(settings.stage_results_url, settings)
    path = f"{root}/{run.id}.json"
    if not fs.exists(path):  # an inline run (mlops run) leaves no result file: its table said it all
        return 0
    summary = PipelineSummary.model_validate(read_json(fs, path))
    champion = "it is the champion" if summary.is_champion else f"the champion is v{summary.champion_version}"
    print(
        f"  {summary.dataset} batch {summary.batch_number}: {summary.rows} rows, model version "
        f"{summary.model_version}, holdout {summary.metric} {summary.score:.4f}; {champion}"
    )
    return 0
