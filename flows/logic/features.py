"""Model inputs, labels, row ids and the stable split, all from a dataset definition. Pure: data in, data out.

Features are the definition's non-role columns: integer, number and boolean columns as float64 (a null is
NaN, which XGBoost treats as missing), then the derived columns, then each category one-hot
(`<column>__<value>`, one per declared value; a null is all zeros). The same function builds them for
training, evaluation and the registered model, so a model always sees what it was trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.logic.definition import DatasetDefinition, Scalar

SPLIT_COLUMN = "split"
# The id of a dataset declared without one (`id: null`): a hash of the row's content.
ROW_ID_COLUMN = "row_id"
_NOT_IN_XGBOOST_NAMES = str.maketrans({"[": "(", "]": ")", "<": "lt "})


class UnseenCategory(ValueError):
    """A category value the definition does not list, where the definition says to refuse it."""


def id_column(definition: DatasetDefinition) -> str:
    return definition.id or ROW_ID_COLUMN


def content_ids(frame: pd.DataFrame, definition: DatasetDefinition) -> pd.Series:
    """A 64-bit id per row from all its declared columns (canonical dtypes): equal rows, equal ids."""
    columns = [c.name for c in definition.columns if c.name in frame.columns]
    hashes = pd.util.hash_pandas_object(frame.loc[:, columns], index=False).to_numpy()
    return pd.Series(hashes.view(np.int64), index=frame.index, name=ROW_ID_COLUMN)


def with_ids(frame: pd.DataFrame, definition: DatasetDefinition) -> pd.DataFrame:
    """The frame with its id column: as landed, or derived from content when the definition has none."""
    if definition.id is not None:
        return frame
    out = frame.copy()
    out.insert(0, ROW_ID_COLUMN, content_ids(frame, definition).to_numpy())
    return out


def numeric_columns(definition: DatasetDefinition) -> list[str]:
    return [
        c.name
        for c in definition.columns
        if c.name in definition.feature_columns and (c.numeric or c.type == "boolean")
    ]


def category_columns(definition: DatasetDefinition) -> list[tuple[str, list[Scalar]]]:
    return [
        (c.name, list(c.values or []))
        for c in definition.columns
        if c.name in definition.feature_columns and c.type == "category"
    ]


def feature_names(definition: DatasetDefinition, derived: list[str]) -> list[str]:
    """The model's input columns, in order."""
    one_hot = [f"{name}__{value}" for name, values in category_columns(definition) for value in values]
    return numeric_columns(definition) + derived + one_hot


def booster_names(names: list[str]) -> list[str]:
    """Feature names as XGBoost takes them: it refuses '[', ']' and '<' (a category value such as '<25')."""
    return [name.translate(_NOT_IN_XGBOOST_NAMES) for name in names]


def build_features(
    raw: pd.DataFrame, definition: DatasetDefinition, derived: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Model inputs (all float64) from conformed raw rows and their derived columns.

    A category value the definition does not list is refused or, as `features.unseen_categories` says,
    treated as missing (all zeros).
    """
    columns: dict[str, np.ndarray] = {}
    for name in numeric_columns(definition):
        columns[name] = pd.to_numeric(raw[name].astype("object"), errors="coerce").to_numpy(dtype="float64")
    if derived is not None:
        for name in derived.columns:
            columns[str(name)] = derived[name].to_numpy(dtype="float64")
    for name, values in category_columns(definition):
        texts = raw[name].astype(str)  # nulls stay null; every comparison below is of text
        allowed = [str(v) for v in values]
        unseen = (texts.notna() & ~texts.isin(allowed)).to_numpy()
        if unseen.any() and definition.features.unseen_categories == "refuse":
            example = texts[unseen].iloc[0]
            raise UnseenCategory(
                f"column {name!r} has {int(unseen.sum())} value(s) the definition does not list "
                f"(e.g. {example!r}); allowed: {', '.join(map(repr, allowed))}"
            )
        for value in allowed:
            columns[f"{name}__{value}"] = (texts == value).to_numpy(dtype="float64", na_value=0.0)
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(raw)))
    derived_columns = [] if derived is None else [str(c) for c in derived.columns]
    out = out.loc[:, feature_names(definition, derived_columns)]
    out.columns = booster_names(list(out.columns))
    return out


def encode_labels(labels: pd.Series, definition: DatasetDefinition) -> np.ndarray:
    """What XGBoost learns: binary 1 for the positive class, multiclass the class's index, regression the
    value. The labels are conformed (their column's canonical dtype) and present."""
    task = definition.label.task
    if task == "regression":
        return labels.to_numpy(dtype="float64")
    keys = labels.map(lambda value: repr(_canonical(value, definition))).to_numpy()
    if task == "binary":
        return (keys == repr(_canonical(definition.positive_class, definition))).astype("float64")
    index = {repr(_canonical(c, definition)): i for i, c in enumerate(definition.class_names)}
    return np.array([index[k] for k in keys], dtype="float64")


def _canonical(value: Scalar, definition: DatasetDefinition) -> Scalar:
    """A declared class as the label column holds it once conformed."""
    column = definition.column(definition.label.column)
    if column.type == "integer":
        return int(value)
    if column.type == "number":
        return float(value)
    if column.type == "boolean":
        return bool(value)
    return str(value)


def split_keys(frame: pd.DataFrame, definition: DatasetDefinition) -> np.ndarray:
    """What decides a row's split, as uint64: its group (rows of a group stay together), else its id
    (an integer id as itself, so a row's split is the same as before definitions existed)."""
    key = definition.split.group or id_column(definition)
    values = frame[key]
    if key != definition.split.group and pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64).astype(np.uint64)
    return pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy()


def stable_unit_interval(keys: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per key that depends only on (key, salt): splitmix64."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64(salt & (2**64 - 1))
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def assign_split(frame: pd.DataFrame, definition: DatasetDefinition) -> np.ndarray:
    """'holdout', 'valid' or 'train' per row. A row's split never changes as batches are added."""
    split = definition.split
    u = stable_unit_interval(split_keys(frame, definition), split.seed)
    return np.where(
        u < split.holdout, "holdout", np.where(u < split.holdout + split.validation, "valid", "train")
    )


def prepare_dataset(
    raw_batches: list[pd.DataFrame], definition: DatasetDefinition
) -> tuple[pd.DataFrame, int]:
    """The training table (the raw columns, the id, and each row's split) of the given conformed batches,
    and how many rows were dropped for a missing label (`label.missing: drop`)."""
    if not raw_batches:
        raise ValueError("prepare_dataset needs at least one batch")
    raw = with_ids(pd.concat(raw_batches, ignore_index=True), definition)
    ids = id_column(definition)
    dupes = raw[ids].duplicated()
    if dupes.any() and definition.id is not None:
        example = raw.loc[dupes, ids].iloc[0]
        raise ValueError(f"{int(dupes.sum())} {ids} value(s) appear in more than one batch (e.g. {example})")
    unlabelled = raw[definition.label.column].isna()
    if unlabelled.any():
        raw = raw.loc[~unlabelled].reset_index(drop=True)
    raw[SPLIT_COLUMN] = assign_split(raw, definition)
    return raw, int(unlabelled.sum())


def loan_ratios(raw: pd.DataFrame) -> pd.DataFrame:
    """The loan demo's derived features (its dataset.yaml names this function): burden ratios, log income."""
    income = raw["annual_income"].astype("float64").to_numpy()
    loan = raw["loan_amount"].astype("float64").to_numpy()
    term = raw["term_months"].astype("float64").to_numpy()
    return pd.DataFrame(
        {
            "loan_to_income": loan / income,
            "payment_to_income": (loan / term) / (income / 12.0),
            "log_income": np.log(income),
        }
    )
