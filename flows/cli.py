"""The `mlops` command: run the pipeline on batches, land demo data, trace a model's lineage, promote it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flows.commands.dataset import dataset_check, dataset_init, dataset_publish
from flows.commands.status import pipeline_status
from flows.commands.versions import data_get, reproduce_version, retract_batch, show_lineage
from flows.settings import Settings, get_settings, use_embedded_prefect

if TYPE_CHECKING:  # the pipeline imports Prefect, MLflow and XGBoost: load them only when needed
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
    console = Console(width=max(Console().width, 150))  # full md5s (people copy them) and every header
    console.print(table)
    if settings.mode == "embedded":
        console.print(
            "Open the results:\n"
            "  Prefect UI: make ui-prefect   (http://127.0.0.1:4200)\n"
            "  MLflow UI:  make ui-mlflow    (http://127.0.0.1:5000)\n"
            f"  Lineage:    uv run mlops lineage {settings.model_name}@{settings.champion_alias}"
        )


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


if __name__ == "__main__":
    sys.exit(main())
