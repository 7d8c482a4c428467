"""A draft dataset definition inferred from a sample, for a person to review (`mlops dataset init`).

The draft trains as it is when the sample is representative, and it is loose on purpose: numeric bounds
are widened past what the sample holds (a later batch is not refused only because the sample lacked a
plausible value), and every guess (types, task, positive class, id) is said in a comment beside it. Pure:
a frame in, YAML text out.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from flows.logic.definition import DEFAULT_METRIC, Task

# A text column with at most this many distinct values is a category; more, and it is free text.
MAX_CATEGORIES = 50
# An integer label with at most this many distinct values is a class; more, and it is a quantity.
MAX_CLASSES = 20
_POSITIVE_WORDS = ("yes", "true", "y", "t", "1", "positive", "pos")
_MARGIN: dict[Task, float] = {"binary": 0.002, "multiclass": 0.002, "regression": 0.0}


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value YAML writes (text stays text, quoted by the writer)."""
    return value.item() if hasattr(value, "item") else value


def _yaml(value: Any) -> str:
    """One value in YAML flow style; strings always quoted, so `Yes` stays text, not a boolean."""
    return json.dumps(value, ensure_ascii=False)


# Draft bounds are this many times wider than the sample's: they catch a wrong unit or garbage (1e30, -1 for a
# count), not a heavy tail the sample happened to cut short (breast-cancer "area error": 176 in a third of
# the table, 542 in the rest).
LOOSENESS = 10.0


def _loose(low: float, high: float, whole: bool) -> tuple[float, float]:
    """Bounds well past the sample's: from 0 when nothing was negative, and LOOSENESS spans beyond."""
    span = max(high - low, abs(high), abs(low)) or 1.0
    loose_low = 0.0 if low >= 0 else low - LOOSENESS * span
    loose_high = high + LOOSENESS * span
    if whole:
        return float(math.floor(loose_low)), float(math.ceil(loose_high))
    return float(f"{loose_low:.2g}"), float(f"{loose_high:.2g}")


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        # Whole numbers with a gap: an integer column that pandas read as floats because of its nulls.
        whole = len(present) > 0 and bool((present == present.round()).all())
        return "integer" if whole and values.isna().any() else "number"
    present = values.dropna()
    if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
        return "number"
    return "category" if present.astype(str).nunique() <= MAX_CATEGORIES else "text"


def _guess_task(values: pd.Series, kind: str) -> Task:
    distinct = values.dropna().nunique()
    if kind == "boolean" or distinct == 2:
        return "binary"
    if kind in ("category", "text"):
        return "multiclass"
    numbers = pd.to_numeric(values.dropna(), errors="coerce")
    whole = bool((numbers == numbers.round()).all())
    return "multiclass" if whole and distinct <= MAX_CLASSES else "regression"


def _positive_class(values: pd.Series) -> tuple[Any, str]:
    """The binary label's positive class and why: a word that means yes, 1, else the rarer class."""
    counts = values.dropna().value_counts()
    classes = sorted(counts.index, key=str)
    for candidate in classes:
        if str(candidate).strip().lower() in _POSITIVE_WORDS:
            return _scalar(candidate), f"{candidate!r} reads as the positive answer"
    rarer = min(classes, key=lambda c: (counts[c], str(c)))
    return _scalar(rarer), f"{rarer!r} is the rarer class ({counts[rarer]} of {int(counts.sum())} rows)"


def _guess_id(frame: pd.DataFrame, label: str) -> str | None:
    for name in frame.columns:
        lowered = str(name).lower()
        if name != label and (lowered == "id" or lowered.endswith("_id")):
            values = frame[name]
            if values.notna().all() and values.is_unique:
                return str(name)
    return None


def draft_definition(
    frame: pd.DataFrame, name: str, label: str, id_column: str | None = None, task: Task | None = None
) -> str:
    """The draft dataset.yaml for `frame` (a representative sample), with the label and id as given."""
    if label not in frame.columns:
        raise ValueError(
            f"--label {label!r} is not a column of the sample ({', '.join(map(str, frame.columns))})"
        )
    if id_column is not None and id_column not in frame.columns:
        raise ValueError(f"--id {id_column!r} is not a column of the sample")
    identifier = id_column or _guess_id(frame, label)
    label_kind = _kind(frame[label])
    chosen_task = task or _guess_task(frame[label], label_kind)
    lines = [
        f"# Draft definition of {name!r}, inferred from {len(frame)} sample rows by `mlops dataset init`.",
        "# Review it: the bounds are widened past the sample's on purpose, tighten what you know better.",
        f"name: {name}",
        "description: ''",
    ]
    if identifier is None:
        lines.append("id: null  # no id column: a stable id is derived from each row's content")
    else:
        how = "as given" if id_column else "unique in the sample, named like an id"
        lines.append(f"id: {_yaml(identifier)}  # {how}")
    lines.append("columns:")
    for column in frame.columns:
        lines += _column_lines(frame[column], str(column), label, chosen_task)
    lines += _label_lines(frame[label], label, label_kind, chosen_task, task is None)
    metric = DEFAULT_METRIC[chosen_task]
    lines += [
        "metric:",
        f"  name: {metric}  # the gate compares this on the holdout",
        f"  margin: {_MARGIN[chosen_task]}  # how much better than the champion a new version must be",
        "split: {holdout: 0.2, validation: 0.15, seed: 42}",
        "training: {rounds: 400, early_stopping: 30}  # params and candidates: the platform's defaults",
        "",
    ]
    return "\n".join(lines)


def _column_lines(values: pd.Series, name: str, label: str, task: Task) -> list[str]:
    kind = _kind(values)
    fields: list[str] = [f"name: {_yaml(name)}"]
    is_class_label = name == label and task != "regression"
    if is_class_label and kind == "number":
        kind = "integer" if (pd.to_numeric(values.dropna()) % 1 == 0).all() else "category"
    if is_class_label and kind == "text":
        kind = "category"
    fields.append(f"type: {kind}")
    present = values.dropna()
    if values.isna().any():
        fields.append("nullable: true")
    note = ""
    if kind == "category" or (is_class_label and kind == "integer"):
        distinct = sorted({_scalar(v) if kind == "integer" else str(v) for v in present}, key=str)
        if kind == "integer":
            distinct = sorted(int(v) for v in distinct)
        fields.append(f"values: {_yaml(distinct)}")
        if kind == "category":
            note = "  # values seen in the sample; any other is refused"
    elif kind in ("integer", "number") and len(present):
        numbers = pd.to_numeric(present)
        low, high = _loose(float(numbers.min()), float(numbers.max()), kind == "integer")
        fields += [f"min: {low:g}", f"max: {high:g}"]
        note = f"  # sample: {float(numbers.min()):g} .. {float(numbers.max()):g}, widened {LOOSENESS:g}x"
    elif kind == "text":
        note = "  # free text: make it the id, or leave it out of the data"
    return [f"  - {{{', '.join(fields)}}}{note}"]


def _label_lines(values: pd.Series, label: str, kind: str, task: Task, guessed: bool) -> list[str]:
    how = "guessed from the label's values" if guessed else "as given"
    lines = ["label:", f"  column: {_yaml(label)}", f"  task: {task}  # {how}"]
    if task == "binary" and kind != "boolean":
        positive, why = _positive_class(values)
        lines.append(f"  positive_class: {_yaml(positive)}  # guessed: {why}")
    if task == "multiclass":
        classes = sorted({_scalar(v) for v in values.dropna()}, key=str)
        if all(isinstance(c, int | float) for c in classes):
            classes = sorted(int(c) for c in classes)
        else:
            classes = sorted(str(c) for c in classes)
        lines.append(f"  classes: {_yaml(classes)}")
    missing = "drop" if values.isna().any() else "refuse"
    lines.append(f"  missing: {missing}  # a row without its label: refuse the batch, or drop the row")
    return lines
