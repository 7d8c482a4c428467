"""`mlops dataset init|check|publish`: draft a definition from a sample, check a file against it, publish
it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from flows.settings import Settings

if TYPE_CHECKING:
    import pandas as pd


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
