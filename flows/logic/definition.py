"""A dataset definition (`datasets/<name>/dataset.yaml`): what a team declares instead of editing code.

It names the columns and their rules, the id (or none: then one is derived from each row's content), the label
and the task, the metric the gate compares, the split, XGBoost's parameters and an optional derived-feature
function. The names follow the declarative tabular tools people know: AutoGluon's `label`, `problem_type`
(here `task`), `positive_class`, `eval_metric` (here `metric`), `sample_weight` (`weight`) and `groups`
(`split.group`); Ludwig's per-feature `type` and missing-value policy. Pure: text in, a checked definition
(or every problem with it) out.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flows.logic.refusal import Refusal

ColumnType = Literal["integer", "number", "category", "boolean", "text"]
Task = Literal["binary", "multiclass", "regression"]
Scalar = int | float | str | bool

# Each task's metrics and whether the gate wants them higher (True) or lower (False).
METRICS: dict[Task, dict[str, bool]] = {
    "binary": {"roc_auc": True, "pr_auc": True, "log_loss": False, "accuracy": True, "f1": True},
    "multiclass": {"log_loss": False, "accuracy": True, "macro_f1": True},
    "regression": {"rmse": False, "mae": False, "r2": True},
}
DEFAULT_METRIC: dict[Task, str] = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
# XGBoost parameters the task decides; a definition that sets them would train another task.
TASK_PARAMS = ("objective", "num_class", "eval_metric")
# What a definition trains with unless it says otherwise.
DEFAULT_PARAMS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 5,
    "eta": 0.08,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 2.0,
    "lambda": 1.0,
}
# A candidate search's parameter sets, each over the params; the first is the params as they are.
DEFAULT_CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    {"max_depth": 3, "eta": 0.1},
    {"max_depth": 7, "eta": 0.05, "min_child_weight": 4.0},
    {"max_depth": 4, "eta": 0.15, "subsample": 0.8},
    {"max_depth": 6, "eta": 0.05, "colsample_bytree": 0.7},
    {"max_depth": 5, "eta": 0.1, "lambda": 5.0},
    {"max_depth": 8, "eta": 0.03, "min_child_weight": 8.0},
    {"max_depth": 2, "eta": 0.2},
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class DefinitionError(Refusal):
    """A dataset definition that cannot be used; `problems` says every reason, each on its own."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        super().__init__(f"{where} is not a valid dataset definition", problems)
        self.args = (f"{where} is not a valid dataset definition:\n" + "\n".join(f"- {p}" for p in problems),)

    def block(self) -> str:
        return str(self)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One column of a batch: every declared column is required, and no other is allowed."""

    name: str = Field(min_length=1, description="The column's name in the landing file's header.")
    type: ColumnType = Field(description="The kind of its values; `text` is never a feature.")
    nullable: bool = Field(default=False, description="Whether a row may leave it empty.")
    min: float | None = Field(default=None, description="The smallest value allowed (numbers only).")
    max: float | None = Field(default=None, description="The largest value allowed (numbers only).")
    values: list[Scalar] | None = Field(
        default=None,
        description="The values allowed: required for a category (one-hot encoded from them), optional "
        "for the others.",
    )
    description: str = Field(default="", description="What the column means, for people.")

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "number")


class LabelSpec(_Strict):
    """What the model predicts."""

    column: str = Field(description="The label's column, one of `columns`.")
    task: Task = Field(description="Two classes, three or more, or a number.")
    positive_class: Scalar | None = Field(
        default=None,
        description="Binary: the class whose probability the model gives (`Yes`, `True`, 1). Absent: "
        "`true` or 1 for a boolean or 0/1 label.",
    )
    classes: list[Scalar] | None = Field(
        default=None, description="Multiclass: the classes, at least three, in the model's order."
    )
    missing: Literal["refuse", "drop"] = Field(
        default="refuse", description="A row without its label: refuse the batch, or drop the row and say so."
    )


class MetricSpec(_Strict):
    """What the gate compares, on the holdout."""

    name: str | None = Field(
        default=None, description="One of the task's metrics (see below). Absent: the task's default."
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        default=None, description="Follows from the metric; if given, it must agree."
    )
    margin: float = Field(
        default=0.0,
        ge=0.0,
        description="How much better than the champion a new version must be, in the metric's own units.",
    )


class SplitSpec(_Strict):
    """Train, validation and holdout: each row's split depends only on a hash of its id (or group)."""

    holdout: float = Field(default=0.2, gt=0.0, lt=1.0, description="The holdout's share of the rows.")
    validation: float = Field(
        default=0.15, gt=0.0, lt=1.0, description="The validation share (early stopping, candidates)."
    )
    seed: int = Field(default=42, description="Salts the hash that assigns each row its split.")
    group: str | None = Field(
        default=None,
        description="A column whose rows stay in one split together (a customer, a patient); never a "
        "feature.",
    )


class TrainingSpec(_Strict):
    """XGBoost's parameters; the task decides `objective`, `num_class` and `eval_metric`."""

    params: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_PARAMS), description="XGBoost's training parameters."
    )
    rounds: int = Field(default=400, ge=1, description="The most boosting rounds.")
    early_stopping: int = Field(
        default=30, ge=1, description="Rounds without improvement on the validation split before stopping."
    )
    candidates: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(c) for c in DEFAULT_CANDIDATES],
        description="The parameter sets `training_pipeline(candidates=N)` tries, each over `params`; the "
        "first is `params` as they are.",
    )

    def first_candidates(self, count: int) -> list[dict[str, Any]]:
        """The first `count` hyperparameter candidates (a pipeline's `candidates` parameter)."""
        if not 1 <= count <= len(self.candidates):
            raise ValueError(f"candidates must be between 1 and {len(self.candidates)}, got {count}")
        return [dict(o) for o in self.candidates[:count]]


class FeaturesSpec(_Strict):
    """Features beyond the declared columns."""

    derived: str | None = Field(
        default=None,
        description="`package.module:function` taking the raw rows and returning new columns (same rows); "
        "`features:derive` is `datasets/<name>/features.py`. It travels with the model.",
    )
    unseen_categories: Literal["refuse", "missing"] = Field(
        default="refuse",
        description="A category value at scoring time that training never saw: refuse the rows, or treat "
        "it as missing.",
    )


class ChecksSpec(_Strict):
    """The data report's thresholds. Drift is each column's population stability index (PSI) against the
    earlier batches: 0 is the same distribution; by convention under 0.1 is stable, over 0.25 a shift."""

    drift_warn: float = Field(default=0.2, gt=0.0, description="The PSI from which the report warns.")
    drift_refuse: float | None = Field(
        default=None, gt=0.0, description="The PSI from which the batch is refused. Absent: never for drift."
    )
    duplicate_rows: Literal["warn", "refuse", "ignore"] = Field(
        default="warn",
        description="Rows equal in every column but the id (within the batch or to an earlier batch's).",
    )


class DatasetDefinition(_Strict):
    """`datasets/<name>/dataset.yaml`."""

    name: str = Field(description="Lowercase letters, digits and dashes; names the experiment and model.")
    description: str = Field(default="", description="What the dataset is, for people.")
    columns: list[ColumnSpec] = Field(min_length=1, description="Every column of a batch, in any order.")
    id: str | None = Field(
        description="The column that identifies a row (unique, never reused across batches), or `null`: "
        "a stable id is derived from each row's content. Required, even when null."
    )
    label: LabelSpec = Field(description="What the model predicts.")
    metric: MetricSpec = Field(default_factory=MetricSpec, description="What the gate compares.")
    split: SplitSpec = Field(default_factory=SplitSpec, description="How rows are split.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="How XGBoost trains.")
    features: FeaturesSpec = Field(default_factory=FeaturesSpec, description="Derived features.")
    weight: str | None = Field(default=None, description="A per-row training weight column; never a feature.")
    checks: ChecksSpec = Field(default_factory=ChecksSpec, description="The data report's thresholds.")

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"must be lowercase letters, digits and dashes (e.g. loan-default), got {name!r}"
            )
        return name

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def metric_name(self) -> str:
        return self.metric.name or DEFAULT_METRIC[self.label.task]

    @property
    def maximize(self) -> bool:
        """Whether a higher value of the gate's metric is better."""
        return METRICS[self.label.task][self.metric_name]

    @property
    def class_names(self) -> list[Scalar]:
        """The label's classes in model order: binary [negative, positive], multiclass as declared."""
        if self.label.task == "regression":
            return []
        if self.label.task == "multiclass":
            return list(self.label.classes or [])
        label = self.column(self.label.column)
        values = [False, True] if label.type == "boolean" else list(label.values or [])
        return [v for v in values if v != self.positive_class] + [self.positive_class]

    @property
    def positive_class(self) -> Scalar:
        """The binary label's positive class (declared, or True / 1 when the label is boolean / 0-1)."""
        if self.label.positive_class is not None:
            return self.label.positive_class
        return True if self.column(self.label.column).type == "boolean" else 1

    @property
    def role_columns(self) -> set[str]:
        """Columns that are never features: id, label, weight and split group."""
        return {c for c in (self.id, self.label.column, self.weight, self.split.group) if c}

    @property
    def feature_columns(self) -> list[str]:
        """The raw columns the model sees, in declared order."""
        return [c.name for c in self.columns if c.name not in self.role_columns]


def parse_definition(text: str, where: str) -> DatasetDefinition:
    """The definition in `text` (YAML), or a DefinitionError listing every problem, each naming its key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(where, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise DefinitionError(where, ["must be a YAML mapping (name, columns, id, label, ...)"])
    if "id" not in data:
        raise DefinitionError(
            where,
            ["id: name the column that identifies a row, or write `id: null` to derive one from content"],
        )
    try:
        definition = DatasetDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(where, [_pydantic_problem(e) for e in exc.errors()]) from None
    problems = definition_problems(definition)
    if problems:
        raise DefinitionError(where, problems)
    return definition


def _pydantic_problem(error: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    return f"{where or 'definition'}: {message}"


def definition_problems(d: DatasetDefinition) -> list[str]:
    """Every way the parts of a definition contradict each other; empty when they fit."""
    problems: list[str] = []
    names = [c.name for c in d.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"columns: {', '.join(map(repr, repeated))} declared more than once")
    for i, column in enumerate(d.columns):
        problems += [f"columns[{i}] ({column.name!r}): {p}" for p in _column_problems(column)]
    declared = set(names)
    for role, column_name in (
        ("id", d.id),
        ("label.column", d.label.column),
        ("weight", d.weight),
        ("split.group", d.split.group),
    ):
        if column_name is not None and column_name not in declared:
            problems.append(f"{role}: {column_name!r} is not among the columns ({', '.join(names)})")
    if problems:
        return problems
    roles = [(r, c) for r, c in (("id", d.id), ("weight", d.weight), ("split.group", d.split.group)) if c]
    for role, column_name in roles:
        if column_name == d.label.column:
            problems.append(f"{role}: {column_name!r} is the label; a label cannot also be the {role}")
    if d.id is not None and d.column(d.id).nullable:
        problems.append(f"id: {d.id!r} is nullable; every row needs its id")
    if d.weight is not None:
        weight = d.column(d.weight)
        if not weight.numeric or weight.nullable or weight.min is None or weight.min < 0:
            problems.append(
                f"weight: {d.weight!r} must be an integer or number column, not nullable, with min: 0 or "
                "above (XGBoost refuses a missing or negative weight)"
            )
    reserved = sorted({"split", "row_id"} & set(names))
    if reserved:
        problems.append(
            f"columns: {', '.join(map(repr, reserved))}: the platform names its own columns so (each row's "
            "split, the derived id); rename it in the data"
        )
    problems += _label_problems(d)
    problems += _metric_problems(d)
    if d.split.holdout + d.split.validation >= 1.0:
        problems.append(
            f"split: holdout {d.split.holdout:g} + validation {d.split.validation:g} leave no rows to "
            "train on (their sum must be below 1)"
        )
    if d.checks.drift_refuse is not None and d.checks.drift_refuse < d.checks.drift_warn:
        problems.append(
            f"checks: drift_refuse ({d.checks.drift_refuse:g}) is below drift_warn "
            f"({d.checks.drift_warn:g}); a batch would be refused before it is warned about"
        )
    if d.training.early_stopping >= d.training.rounds:
        problems.append(
            f"training.early_stopping ({d.training.early_stopping}) must be below training.rounds "
            f"({d.training.rounds})"
        )
    for where, params in [("training.params", d.training.params)] + [
        (f"training.candidates[{i}]", c) for i, c in enumerate(d.training.candidates)
    ]:
        fixed = sorted(set(params) & set(TASK_PARAMS))
        if fixed:
            problems.append(
                f"{where}: {', '.join(fixed)} follow from label.task ({d.label.task}); remove them"
            )
    if not d.training.candidates:
        problems.append("training.candidates: give at least one parameter set ({} is `params` as they are)")
    texts = [c.name for c in d.columns if c.type == "text" and c.name not in d.role_columns]
    if texts:
        problems.append(
            f"columns {', '.join(map(repr, texts))}: free text cannot be a feature; declare it a category "
            "with its values, or remove it from the data"
        )
    if not d.feature_columns:
        problems.append(
            "columns: no column is left as a feature once id, label, weight and group are set aside"
        )
    if d.features.derived is not None and not _IMPORT_PATH.match(d.features.derived):
        problems.append(
            f"features.derived: {d.features.derived!r} is not an import path of the form "
            "package.module:function"
        )
    return problems


def _column_problems(c: ColumnSpec) -> list[str]:
    problems: list[str] = []
    if (c.min is not None or c.max is not None) and not c.numeric:
        problems.append(f"min/max only apply to integer and number columns, not {c.type}")
    for bound in (c.min, c.max):
        if bound is not None and not math.isfinite(bound):
            problems.append(f"min/max must be finite numbers, got {bound}")
    if c.min is not None and c.max is not None and c.min > c.max:
        problems.append(f"min {c.min:g} is above max {c.max:g}")
    if c.type == "category" and not c.values:
        problems.append("a category needs its list of values (values: [...]), and the list cannot be empty")
    if c.values is not None and c.type != "category" and not c.values:
        problems.append("values: the list of allowed values is empty")
    if c.values:
        if len({repr(v) for v in c.values}) < len(c.values):
            problems.append("values: a value is listed twice")
        if c.type == "boolean":
            problems.append("values: a boolean column's values are true and false; remove the list")
        elif c.numeric and not all(isinstance(v, int | float) and not isinstance(v, bool) for v in c.values):
            problems.append(f"values: an {c.type} column's values must be numbers")
        elif c.type == "integer" and not all(float(v).is_integer() for v in c.values):
            problems.append("values: an integer column's values must be whole numbers")
        elif c.type in ("category", "text") and not all(isinstance(v, str) for v in c.values):
            problems.append(
                f"values: a {c.type} column's values are text; quote them ('1', 'Yes': YAML reads an "
                "unquoted Yes/No as a boolean)"
            )
    return problems


def _label_problems(d: DatasetDefinition) -> list[str]:
    label, column = d.label, d.column(d.label.column)
    where = f"label ({column.name!r}, {label.task})"
    if column.nullable and label.missing == "refuse":
        return [
            f"{where}: the column is nullable but label.missing is 'refuse'; choose 'drop' or not nullable"
        ]
    if label.task == "regression":
        if not column.numeric:
            return [f"{where}: a regression label must be an integer or number column, not {column.type}"]
        if label.positive_class is not None or label.classes is not None:
            return [f"{where}: positive_class and classes are for classification labels"]
        return []
    values: list[Scalar] | None = [False, True] if column.type == "boolean" else column.values
    if label.task == "binary":
        if label.classes is not None:
            return [f"{where}: classes is for multiclass; a binary label names its positive_class"]
        if values is None or len(values) != 2:
            return [f"{where}: declare the label's two values (values: [...]) on its column"]
        if label.positive_class is None:
            if column.type == "boolean" or sorted(map(repr, values)) == ["0", "1"]:
                return []
            return [f"{where}: name the positive class, one of {', '.join(map(repr, values))}"]
        if repr(label.positive_class) not in map(repr, values):
            hint = ""
            if isinstance(label.positive_class, bool) and all(isinstance(v, str) for v in values):
                hint = " (YAML reads an unquoted Yes/No/True/False as a boolean: quote it)"
            return [
                f"{where}: positive_class {label.positive_class!r} is not one of the label's values "
                f"({', '.join(map(repr, values))}){hint}"
            ]
        return []
    if label.positive_class is not None:
        return [f"{where}: positive_class is for binary labels; a multiclass label lists its classes"]
    if not label.classes or len(label.classes) < 3:
        return [f"{where}: list the classes (label.classes), at least three; two classes are a binary task"]
    if values is not None and {repr(v) for v in label.classes} != {repr(v) for v in values}:
        return [f"{where}: label.classes and the column's values differ"]
    return []


def _metric_problems(d: DatasetDefinition) -> list[str]:
    allowed = METRICS[d.label.task]
    if d.metric_name not in allowed:
        return [
            f"metric.name: {d.metric_name!r} does not fit a {d.label.task} task; "
            f"use one of {', '.join(allowed)}"
        ]
    natural = "maximize" if allowed[d.metric_name] else "minimize"
    if d.metric.direction is not None and d.metric.direction != natural:
        return [f"metric.direction: {d.metric_name} is always {natural}d; remove metric.direction or fix it"]
    return []
