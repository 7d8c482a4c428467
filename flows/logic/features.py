"""Features and the deterministic, stable split. Pure: data in, new data out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.logic.schema import COLUMNS, ID_COLUMN, LABEL_COLUMN

SPLIT_COLUMN = "split"
NUMERIC_COLUMNS = tuple(c.name for c in COLUMNS if c.kind in ("int", "float"))
CATEGORY_COLUMNS = tuple(c for c in COLUMNS if c.kind == "category")
DERIVED_COLUMNS = ("loan_to_income", "payment_to_income", "log_income")
FEATURE_COLUMNS: tuple[str, ...] = (
    NUMERIC_COLUMNS
    + DERIVED_COLUMNS
    + tuple(f"{c.name}__{v}" for c in CATEGORY_COLUMNS for v in c.categories)
)
# Bump when the feature code changes: part of the prepare stage's cache key.
FEATURES_VERSION = "1"


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


def build_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Model inputs (all float) from validated raw rows: ratios plus one-hot categories."""
    out = raw.loc[:, list(NUMERIC_COLUMNS)].astype("float64").reset_index(drop=True)
    for name, ratio in loan_ratios(raw).items():
        out[name] = ratio.to_numpy()
    for column in CATEGORY_COLUMNS:
        values = raw[column.name].to_numpy()
        for value in column.categories:
            out[f"{column.name}__{value}"] = (values == value).astype("float64")
    return out.loc[:, list(FEATURE_COLUMNS)]


def stable_unit_interval(ids: pd.Series, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per id that depends only on (id, salt): splitmix64."""
    with np.errstate(over="ignore"):
        z = ids.to_numpy(dtype=np.int64).astype(np.uint64) + np.uint64(salt & (2**64 - 1))
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def assign_split(ids: pd.Series, holdout_fraction: float, validation_fraction: float, seed: int) -> pd.Series:
    """'holdout', 'valid' or 'train' per id. A row's split never changes as batches are added."""
    u = stable_unit_interval(ids, seed)
    split = np.where(
        u < holdout_fraction,
        "holdout",
        np.where(u < holdout_fraction + validation_fraction, "valid", "train"),
    )
    return pd.Series(split, index=ids.index, name=SPLIT_COLUMN)


def prepare_dataset(
    raw_batches: list[pd.DataFrame], holdout_fraction: float, validation_fraction: float, seed: int
) -> pd.DataFrame:
    """The training table: id, features, label and split for all rows of the given batches."""
    if not raw_batches:
        raise ValueError("prepare_dataset needs at least one batch")
    raw = pd.concat(raw_batches, ignore_index=True)
    dupes = raw[ID_COLUMN].duplicated()
    if dupes.any():
        example = raw.loc[dupes, ID_COLUMN].iloc[0]
        raise ValueError(
            f"{int(dupes.sum())} {ID_COLUMN} value(s) appear in more than one batch (e.g. {example})"
        )
    features = build_features(raw)
    features.insert(0, ID_COLUMN, raw[ID_COLUMN].to_numpy())
    features[LABEL_COLUMN] = raw[LABEL_COLUMN].to_numpy()
    features[SPLIT_COLUMN] = assign_split(
        raw[ID_COLUMN], holdout_fraction, validation_fraction, seed
    ).to_numpy()
    return features
