"""The `mlops` command: run the pipeline on batches, land demo data, trace a model's lineage, promote it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.logic.tag_names import (
    GATE_DECISION_TAG,
    GATE_REASON_TAG,
    LINEAGE_BATCH_NUMBER_TAG,
    LINEAGE_BATCHES_TAG,
    LINEAGE_CODE_VERSION_TAG,
    LINEAGE_DATASET_MD5_TAG,
    LINEAGE_DATASET_TAG,
    LINEAGE_DEFINITION_TAG,
    LINEAGE_FLOW_RUN_TAG,
    LINEAGE_PIPELINE_RUN_TAG,
    LINEAGE_RAW_MD5S_TAG,
)
from flows.settings import Settings, get_settings, use_embedded_prefect

if TYPE_CHECKING:  # the pipeline imports Prefect, MLflow and XGBoost: load them only when needed
    import pandas as pd

    from flows.contracts import PipelineSummary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run training_pipeline on batches, in order")
    run.add_argument("--batches", type=batch_number, nargs="+", default=[1, 2, 3])
    run.add_argument(
        "--demo-rows",
        type=positive_int,
        default=20_000,
        help="rows of each demo batch landed when the landing location lacks it",
    )
    run.add_argument("--no-demo", action="store_true", help="never land demo data")
    run.add_argument(
        "--dataset", help="the dataset to train (datasets/NAME/dataset.yaml; default: MLOPS_DATASET's)"
    )
    run.add_argument(
        "--verbose", action="store_true", help="print Prefect's log (each task, every traceback) here too"
    )

    generate = commands.add_parser("generate", help="land deterministic demo batches")
    generate.add_argument("--batches", type=batch_number, nargs="+", default=[1, 2, 3])
    generate.add_argument("--rows", type=positive_int, default=20_000)
    generate.add_argument("--label-noise", type=float, default=0.0)
    generate.add_argument("--format", choices=("csv", "parquet"), default="csv")
    generate.add_argument(
        "--if-missing", action="store_true", help="skip batches already in the landing location"
    )

    lineage = commands.add_parser("lineage", help="where a model version came from")
    lineage.add_argument(
        "model", help="NAME@ALIAS or NAME/VERSION of a model or a dataset (loan-default@champion)"
    )

    promote = commands.add_parser(
        "promote",
        help="pin an environment's model to another's champion: a commit on a new branch, for a pull request",
    )
    promote.add_argument("--from", dest="source", required=True, help="environment whose champion goes (dev)")
    promote.add_argument("--to", dest="target", required=True, help="environment whose pin changes (prod)")
    promote.add_argument(
        "--repo", type=Path, default=Path("."), help="git repository of infra/environments (default: here)"
    )
    promote.add_argument(
        "--base", default="main", help="branch Argo CD deploys from: the promotion starts from it (main)"
    )
    promote.add_argument(
        "--remote", default="origin", help="remote to fetch the base from and push to, if configured (origin)"
    )

    dataset = commands.add_parser(
        "dataset", help="declare a dataset (dataset.yaml) and check files against it"
    )
    dataset_commands = dataset.add_subparsers(dest="dataset_command", required=True)
    init = dataset_commands.add_parser("init", help="draft datasets/NAME/dataset.yaml from a sample file")
    init.add_argument("name", help="the dataset's name: lowercase letters, digits and dashes")
    init.add_argument("--from", dest="sample", required=True, help="a representative CSV or Parquet file")
    init.add_argument("--label", required=True, help="the column to predict")
    init.add_argument(
        "--id", dest="id_column", help="the column that identifies a row (default: guessed, or none)"
    )
    init.add_argument("--task", choices=("binary", "multiclass", "regression"), help="default: guessed")
    init.add_argument("--force", action="store_true", help="replace an existing definition")
    check = dataset_commands.add_parser("check", help="validate a file against a dataset's definition")
    check.add_argument("name")
    check.add_argument("file", help="a CSV or Parquet file (local path or s3://...)")
    publish = dataset_commands.add_parser(
        "publish",
        help="make datasets/NAME/dataset.yaml the one the data store's pipelines train (a cluster's, too)",
    )
    publish.add_argument("name")

    batch_parser = commands.add_parser("batch", help="manage ingested batches")
    batch_commands = batch_parser.add_subparsers(dest="batch_command", required=True)
    retract = batch_commands.add_parser(
        "retract", help="record that a batch should not have been accepted: later pipelines leave it out"
    )
    retract.add_argument("batch", type=batch_number)
    retract.add_argument("--dataset", help="the batch's dataset (default: MLOPS_DATASET's)")
    retract.add_argument("--reason", required=True, help="why, for the audit trail and the lineage")
    retract.add_argument(
        "--force", action="store_true", help="retract it even though registered versions were trained on it"
    )

    data = commands.add_parser("data", help="the data a model version was trained on")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    get = data_commands.add_parser("get", help="restore a version's dataset (and raw batches) with plain DVC")
    get.add_argument("model", help="NAME@ALIAS or NAME/VERSION (e.g. loan-default-xgb@champion)")
    get.add_argument("directory", type=Path, help="where to restore it (a DVC workspace is made there)")
    get.add_argument("--raw", action="store_true", help="the raw batches too, not only the dataset")

    reproduce = commands.add_parser(
        "reproduce", help="retrain a version from its lineage alone; its holdout metric beside the original's"
    )
    reproduce.add_argument("model", help="NAME/VERSION or NAME@ALIAS (e.g. loan-default-xgb/3)")

    status = commands.add_parser(
        "status", help="a pipeline flow run's outcome: its result, or the stage that failed and why"
    )
    status.add_argument("flow_run", nargs="?", help="the flow run's id (default: the latest pipeline run)")

    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "run":
            use_embedded_prefect(settings)
            settings = settings.for_dataset(args.dataset or settings.dataset)
            demo = not args.no_demo and settings.dataset == DEMO_DATASET
            return run_batches(args.batches, args.demo_rows if demo else None, settings, args.verbose)
        if args.command == "generate":
            settings = settings.for_dataset(DEMO_DATASET)
            from flows.adapters.landing import missing_batches

            batches = missing_batches(args.batches, settings) if args.if_missing else args.batches
            for batch in batches:
                print(land_demo_batch(batch, args.rows, args.label_noise, args.format, settings))
            return 0
        if args.command == "dataset" and args.dataset_command == "init":
            return dataset_init(
                args.name, args.sample, args.label, args.id_column, args.task, args.force, settings
            )
        if args.command == "dataset" and args.dataset_command == "publish":
            return dataset_publish(args.name, settings)
        if args.command == "dataset":
            return dataset_check(args.name, args.file, settings)
        if args.command == "batch":
            settings = settings.for_dataset(args.dataset or settings.dataset)
            return retract_batch(args.batch, args.reason, args.force, settings)
        if args.command == "data":
            return data_get(args.model, args.directory, args.raw, settings)
        if args.command == "reproduce":
            use_embedded_prefect(settings)
            return reproduce_version(args.model, settings)
        if args.command == "status":
            return pipeline_status(args.flow_run, settings)
        if args.command == "promote":
            return promote_environment(args.source, args.target, args.repo, args.base, args.remote, settings)
        return show_lineage(args.model, settings)
    except KeyboardInterrupt:
        return 130


# The dataset `mlops generate` lands demo batches of, and `mlops run` lands them for when they are missing.
DEMO_DATASET = "loan-default"


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1, with a clear message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def batch_number(text: str) -> int:
    """argparse type: a batch number, 1 to MAX_BATCH_NUMBER, refused before anything is landed or run."""
    from flows.contracts import MAX_BATCH_NUMBER

    value = positive_int(text)
    if value > MAX_BATCH_NUMBER:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BATCH_NUMBER}, got {value}")
    return value


def land_demo_batch(batch: int, rows: int, label_noise: float, fmt: str, settings: Settings) -> str:
    """Write demo batch `batch` into the landing location; returns its URI."""
    from flows.adapters.landing import write_landing_batch
    from flows.logic.demo import generate_batch

    frame = generate_batch(batch, rows, label_noise=label_noise)
    return write_landing_batch(frame, batch, fmt, settings)


def run_batches(
    batches: Sequence[int], demo_rows: int | None, settings: Settings, verbose: bool = False
) -> int:
    from flows.adapters.landing import missing_batches
    from flows.console import hide_refusals_in_console, quiet_console
    from flows.logic.refusal import Refusal
    from flows.training_flow import training_pipeline

    log_file = settings.home_dir / "logs" / "mlops-run.log"
    if not verbose:
        hide_refusals_in_console()
        quiet_console(log_file)
        print(f"Prefect's log of each stage: {log_file} (`mlops run --verbose` prints it here)")

    if demo_rows is not None:
        problem = demo_rows_problem(batches, demo_rows, settings)
        if problem:
            print(f"mlops run: {problem}", file=sys.stderr)
            return 2
        for batch in missing_batches(batches, settings):
            uri = land_demo_batch(batch, demo_rows, 0.0, "csv", settings)
            print(f"landed demo batch {batch} ({demo_rows} rows) at {uri}", flush=True)
    summaries: list[PipelineSummary] = []
    for position, batch in enumerate(batches, 1):
        print(
            f"[{position}/{len(batches)}] training_pipeline(batch_number={batch}) of dataset "
            f"{settings.dataset!r}",
            flush=True,
        )
        try:
            summaries.append(training_pipeline(batch, dataset=settings.dataset))
        except Refusal as exc:
            if summaries:
                print_summary(summaries, settings)
            print(f"\n{exc.block()}\nNothing was written for batch {batch}.", file=sys.stderr)
            return 1
        except Exception as exc:
            print_summary(summaries, settings)
            print(f"\nbatch {batch} failed: {exc}", file=sys.stderr)
            return 1
    print_summary(summaries, settings)
    return 0


def demo_rows_problem(batches: Sequence[int], demo_rows: int, settings: Settings) -> str | None:
    """Batches already landed with another row count than the demo size asked for: they would be reused
    as they are, silently ignoring the size (`make run ROWS=...`)."""
    from flows.adapters.landing import LandingError, missing_batches, read_landing_batch

    missing = set(missing_batches(batches, settings))
    for batch in (b for b in batches if b not in missing):
        try:
            landed = read_landing_batch(batch, settings)
        except LandingError:
            continue  # not a demo file at all: the pipeline reports what is wrong with it
        if len(landed.frame) != demo_rows:
            return (
                f"{landed.uri} is landed already with {len(landed.frame)} rows, not the {demo_rows} "
                "asked for (ROWS, --demo-rows): `make clean` (or remove the file) to land new demo "
                "batches, or leave ROWS out to reuse them; your own data runs with `mlops run --no-demo`"
            )
    return None


def print_summary(summaries: Sequence[PipelineSummary], settings: Settings) -> None:
    from rich.console import Console
    from rich.table import Table

    metric = summaries[0].metric if summaries else "metric"
    table = Table(title=f"{settings.model_name}: training runs")
    columns = ("batch", "rows", "raw data md5", "dataset md5", "model version", f"holdout {metric}")
    for column in (*columns, "champion after it"):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        table.add_row(
            str(s.batch_number),
            str(s.rows),
            s.raw_md5,
            s.dataset_md5,
            s.model_version,
            f"{s.score:.4f}",
            "yes" if s.is_champion else f"no (v{s.champion_version})",
        )
    console = Console(width=max(Console().width, 140))  # full md5s: people copy them
    console.print(table)
    if settings.mode == "embedded":
        console.print(
            "Open the results:\n"
            "  Prefect UI: make ui-prefect   (http://127.0.0.1:4200)\n"
            "  MLflow UI:  make ui-mlflow    (http://127.0.0.1:5000)\n"
            f"  Lineage:    uv run mlops lineage {settings.model_name}@{settings.champion_alias}"
        )


def read_file(uri: str, settings: Settings) -> pd.DataFrame:
    """A CSV or Parquet file, through the landing batches' own checks (format, encoding, separator)."""
    from flows.adapters.landing import parse_batch
    from flows.adapters.objectstore import open_fs

    fs, path = open_fs(uri, settings)
    return parse_batch(fs.cat_file(path), uri)


def dataset_init(
    name: str,
    sample: str,
    label: str,
    id_column: str | None,
    task: str | None,
    force: bool,
    settings: Settings,
) -> int:
    """Draft a definition from a sample and write it, only when it is a valid definition."""
    from flows.adapters.landing import LandingError
    from flows.feature_code import DEFINITION_FILE
    from flows.logic.definition import DefinitionError, parse_definition
    from flows.logic.drafting import draft_definition

    path = settings.datasets_dir / name / DEFINITION_FILE
    if path.exists() and not force:
        print(
            f"mlops dataset init: {path} exists; edit it, or pass --force to draft it again", file=sys.stderr
        )
        return 1
    try:
        frame = read_file(sample, settings)
        text = draft_definition(frame, name, label, id_column, task)  # type: ignore[arg-type]
        definition = parse_definition(text, str(path))
    except (LandingError, ValueError) as exc:  # DefinitionError is a ValueError
        label_of = "the draft" if isinstance(exc, DefinitionError) else sample
        print(f"mlops dataset init: {label_of}: {exc}", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(
        f"wrote {path}: {len(definition.columns)} columns, label {label!r} ({definition.label.task}), "
        f"id {definition.id or 'derived from the row content'}"
    )
    print(f"review it, then: mlops dataset check {name} FILE")
    return 0


def dataset_check(name: str, uri: str, settings: Settings) -> int:
    """Validate a file against the definition; writes nothing."""
    from flows.adapters.datasets import definition_path, load_definition
    from flows.adapters.landing import LandingError
    from flows.feature_code import derive, derived_function
    from flows.logic.contract import frame_problems
    from flows.logic.definition import DefinitionError

    try:
        definition = load_definition(name, settings)
    except DefinitionError as exc:
        print(f"mlops dataset check: {exc}", file=sys.stderr)
        return 2
    try:
        frame = read_file(uri, settings)
    except LandingError as exc:
        print(f"mlops dataset check: {exc}", file=sys.stderr)
        return 1
    problems = frame_problems(frame, definition)
    if problems:
        print(f"{uri} does not match dataset {name!r} ({len(problems)} problem(s)):", file=sys.stderr)
        print("\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 1
    function = derived_function(definition, definition_path(name, settings).parent)
    if function is not None:
        try:
            derived = derive(function, frame, definition)
        except DefinitionError as exc:
            print(f"mlops dataset check: {exc}", file=sys.stderr)
            return 1
        print(f"derived features: {', '.join(map(str, derived.columns))}")
    print(f"{uri}: {len(frame)} rows match dataset {name!r} (nothing was written)")
    return 0


def dataset_publish(name: str, settings: Settings) -> int:
    """Store the checked definition where pipelines of these settings' data store find it first."""
    from flows.adapters.datasets import publish_definition, published_url
    from flows.logic.definition import DefinitionError

    try:
        definition = publish_definition(name, settings)
    except DefinitionError as exc:
        print(f"mlops dataset publish: {exc}", file=sys.stderr)
        return 2
    print(
        f"published dataset {name!r} ({len(definition.columns)} columns, {definition.label.task}) to "
        f"{published_url(name, settings)}: pipelines of {name!r} train with it from now on"
    )
    return 0


def promote_environment(
    source: str, target: str, repo: Path, base: str, remote: str, settings: Settings
) -> int:
    from flows.adapters.git_repo import GitError
    from flows.environments import promote
    from flows.logic.promotion import PromotionError

    try:
        done = promote(source, target, settings, repo, base, remote)
    except PromotionError as exc:
        print(f"mlops promote: refused: {exc}", file=sys.stderr)
        return 1
    except GitError as exc:
        print(f"mlops promote: {exc}", file=sys.stderr)
        return 1
    if not done.commit:
        print(f"mlops promote: {done.note}")
        return 0
    print(f"{target}: {done.previous} -> {done.pin} ({source}'s champion)")
    print(f"committed {done.commit[:12]} on branch {done.branch} (from {base})")
    if done.pushed_to:
        print(f"pushed to {done.pushed_to}: open a pull request of {done.branch} into {base}")
    else:
        print(f"no remote {remote!r}: push {done.branch} and open a pull request into {base}")
    return 0


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """'name@alias' or 'name/version' -> (name, alias, version)."""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if name and alias:
            return name, alias, None
    elif "/" in ref:
        name, version = ref.rsplit("/", 1)
        if name and version.isdigit():
            return name, None, version
    raise ValueError(f"expected NAME@ALIAS or NAME/VERSION, got {ref!r}")


def model_version(ref: str, settings: Settings, command: str) -> tuple[Any, str | None] | int:
    """The registered version `ref` names and its alias, or the exit code after saying why there is none."""
    from flows.adapters.tracking import connect

    try:
        name, alias, version = parse_model_ref(ref)
    except ValueError as exc:
        print(f"mlops {command}: {exc}", file=sys.stderr)
        return 2
    client = connect(settings)
    names = [name, settings.for_dataset(name).model_name] if _is_dataset_name(name) else [name]
    failure: Exception | None = None
    for candidate in names:  # a dataset's name stands for its model (loan-default: loan-default-xgb)
        try:
            found = (
                client.get_model_version_by_alias(candidate, alias)
                if alias
                else client.get_model_version(candidate, version or "")
            )
            return found, alias
        except Exception as exc:
            failure = failure or exc
    print(f"mlops {command}: no model version {ref}: {failure}", file=sys.stderr)
    return 1


def _is_dataset_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name) is not None


def version_settings(tags: dict[str, str], settings: Settings) -> Settings:
    """The settings of the dataset a version was trained on (its catalog, landing and model)."""
    return settings.for_dataset(tags.get(LINEAGE_DATASET_TAG) or settings.dataset)


def retract_batch(batch: int, reason: str, force: bool, settings: Settings) -> int:
    """Record a retraction; refused for a batch that registered versions used, unless forced."""
    from datetime import UTC, datetime

    from flows.adapters.catalog import Catalog
    from flows.adapters.tracking import connect, model_versions
    from flows.contracts import Retraction
    from flows.logic.validation import versions_trained_on

    catalog = Catalog(settings)
    if batch not in catalog.raw_versions():
        print(f"mlops batch retract: batch {batch} was never ingested", file=sys.stderr)
        return 1
    if batch in catalog.retractions():
        print(f"mlops batch retract: batch {batch} is retracted already", file=sys.stderr)
        return 1
    registered = model_versions(connect(settings), settings.model_name)
    used = versions_trained_on(
        batch, {str(v.version): v.tags.get(LINEAGE_BATCHES_TAG, "") for v in registered}
    )
    if used and not force:
        print(
            f"mlops batch retract: {settings.model_name} version(s) {', '.join(used)} were trained on batch "
            f"{batch}; they stay as they are (retract does not change the registry). Pass --force to retract "
            "it all the same",
            file=sys.stderr,
        )
        return 1
    now = datetime.now(UTC).isoformat(timespec="seconds")
    catalog.retract(Retraction(batch_number=batch, reason=reason, retracted_at=now, model_versions=used))
    print(f"batch {batch} retracted ({reason}): its data stays in the store, later pipelines leave it out")
    if used:
        print(f"trained on it: {settings.model_name} version(s) {', '.join(used)} (`mlops lineage` says so)")
    return 0


def data_get(ref: str, directory: Path, raw: bool, settings: Settings) -> int:
    from flows.adapters.catalog import Catalog
    from flows.data_access import DataGetError, lineage_files, restore

    found = model_version(ref, settings, "data get")
    if isinstance(found, int):
        return found
    mv, _ = found
    try:
        tags = dict(mv.tags or {})
        files = lineage_files(tags, Catalog(version_settings(tags, settings)), raw)
        restored = restore(files, directory, settings)
    except DataGetError as exc:
        print(f"mlops data get: {exc}", file=sys.stderr)
        return 1
    print(f"{mv.name} version {mv.version}: restored into {directory} with plain DVC; it ran, there:")
    print("\n".join(f"  {command}" for command in restored.commands))
    for name, md5 in restored.files.items():
        print(f"{name}  md5 {md5}")
    return 0


def reproduce_version(ref: str, settings: Settings) -> int:
    from flows.reproduce_flow import ReproductionError, reproduce

    found = model_version(ref, settings, "reproduce")
    if isinstance(found, int):
        return found
    version = found[0]
    try:
        result = reproduce(version.name, str(version.version))
    except (ReproductionError, ValueError) as exc:  # a definition that is gone or damaged is a ValueError
        print(f"mlops reproduce: {exc}", file=sys.stderr)
        return 1
    recorded = "not recorded" if result.recorded is None else f"{result.recorded:.6f}"
    print(f"{result.model_name} version {result.model_version} reproduced as MLflow run {result.run_id}")
    print(f"  holdout {result.metric}: {result.reproduced:.6f} (the original's: {recorded})")
    if result.recorded is not None:
        print(f"  difference: {abs(result.reproduced - result.recorded):.2e}")
    for difference in result.differences:
        print(f"  not as the original: {difference}")
    return 0


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


def show_lineage(ref: str, settings: Settings) -> int:
    from flows.adapters.catalog import Catalog
    from flows.logic.lineage import missing_lineage

    found = model_version(ref, settings, "lineage")
    if isinstance(found, int):
        return found
    mv, alias = found
    tags = dict(mv.tags or {})
    retracted = Catalog(version_settings(tags, settings)).retractions()
    trained_on = [int(b) for b in filter(None, tags.get(LINEAGE_BATCHES_TAG, "").split(","))]
    retracted_rows = [
        ("retracted batch", f"{r.batch_number}: {r.reason} ({r.retracted_at})")
        for n, r in sorted(retracted.items())
        if n in trained_on
    ]
    rows = [
        ("model", f"{mv.name} version {mv.version}" + (f" (@{alias})" if alias else "")),
        ("dataset", tags.get(LINEAGE_DATASET_TAG, "?")),
        ("definition sha256", tags.get(LINEAGE_DEFINITION_TAG, "?")),
        ("aliases", ", ".join(mv.aliases or []) or "-"),
        ("batch", tags.get(LINEAGE_BATCH_NUMBER_TAG, "?")),
        ("trained on batches", tags.get(LINEAGE_BATCHES_TAG, "?")),
        ("raw data md5 (batch:md5)", tags.get(LINEAGE_RAW_MD5S_TAG, "?")),
        ("dataset md5", tags.get(LINEAGE_DATASET_MD5_TAG, "?")),
        ("code version", tags.get(LINEAGE_CODE_VERSION_TAG, "?")),
        ("prefect flow run (train)", tags.get(LINEAGE_FLOW_RUN_TAG, "?")),
        ("prefect pipeline run", tags.get(LINEAGE_PIPELINE_RUN_TAG, "?")),
        ("mlflow run", mv.run_id or "?"),
        ("gate", f"{tags.get(GATE_DECISION_TAG, '?')}: {tags.get(GATE_REASON_TAG, '')}"),
        *retracted_rows,
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    missing = missing_lineage(tags)
    if missing:
        print(f"incomplete lineage: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
