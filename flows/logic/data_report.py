"""A batch's data report, before it is accepted: rows, label balance, nulls, duplicate rows, and each column's
drift against the earlier batches, with the definition's thresholds (`checks`) turning findings into warnings
or refusals.

Earlier batches are known by their profiles, kept beside their catalog records (never their rows): a numeric
column's 101 quantiles (0%, 1%, ..., 100%) and null count, a category's value counts. Drift is the
population stability index (PSI) over the deciles of the earlier batches' pooled quantiles (a category:
over its values), computed from profiles on both sides, so the batch and its reference are measured alike.
Pure: frames and profiles in, JSON-ready dictionaries out.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flows.logic.contract import as_text
from flows.logic.definition import DatasetDefinition

QUANTILES = np.linspace(0.0, 1.0, 101)
_SAMPLE = 100_000
_FLOOR = 1e-4  # a bin's share below this counts as this: PSI is infinite for an empty bin otherwise
Profile = dict[str, Any]  # column name -> its profile; "_rows" -> the batch's row count


def profiled_columns(definition: DatasetDefinition) -> list[str]:
    """The columns a report looks at: the features and the label."""
    return [*definition.feature_columns, definition.label.column]


def batch_profile(frame: pd.DataFrame, definition: DatasetDefinition) -> Profile:
    """A conformed batch's profile: per column its nulls and its quantiles (numbers) or value counts."""
    profile: Profile = {"_rows": len(frame)}
    for name in profiled_columns(definition):
        values = frame[name]
        nulls = int(values.isna().sum())
        present = values.dropna()
        if definition.column(name).numeric:
            # Quantiles of at most _SAMPLE evenly spaced rows: as exact as PSI needs (0.3% of the range),
            # and a 1M-row batch pays a tenth of the sort.
            numbers = present.to_numpy(dtype="float64")[:: max(1, -(-len(present) // _SAMPLE))]
            quantiles = np.quantile(numbers, QUANTILES).tolist() if len(numbers) else []
            profile[name] = {"nulls": nulls, "quantiles": quantiles}
        else:
            counts = as_text(present).value_counts()
            profile[name] = {"nulls": nulls, "counts": {str(k): int(v) for k, v in counts.items()}}
    return profile


def _pooled(profiles: list[Profile], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Every profile's quantiles of a column, each weighted by the rows it stands for."""
    points, weights = [], []
    for profile in profiles:
        column = profile.get(name) or {}
        quantiles = np.asarray(column.get("quantiles") or [], dtype="float64")
        if len(quantiles):
            present = profile["_rows"] - column["nulls"]
            points.append(quantiles)
            weights.append(np.full(len(quantiles), present / len(quantiles)))
    if not points:
        return np.empty(0), np.empty(0)
    return np.concatenate(points), np.concatenate(weights)


def _bin_shares(points: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    bins = np.searchsorted(edges, points, side="right")
    totals = np.bincount(bins, weights=weights, minlength=len(edges) + 1)
    return np.maximum(totals / max(totals.sum(), 1e-12), _FLOOR)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def column_drift(batch: Profile, reference: list[Profile], name: str, numeric: bool) -> float | None:
    """The column's PSI of the batch against the reference profiles; None when either side has no value."""
    if numeric:
        points, weights = _pooled(reference, name)
        mine, my_weights = _pooled([batch], name)
        if not len(points) or not len(mine):
            return None
        values, cumulative = _cdf(points, weights)
        edges = np.unique(np.interp(np.linspace(0.1, 0.9, 9), cumulative, values))
        return _psi(_bin_shares(points, weights, edges), _bin_shares(mine, my_weights, edges))
    expected, actual = shares(reference, name), shares([batch], name)
    if not expected or not actual:
        return None
    categories = sorted(set(expected) | set(actual))
    e, a = (np.maximum([table.get(v, 0.0) for v in categories], _FLOOR) for table in (expected, actual))
    return _psi(e, a)


@dataclass
class DataReport:
    batch: int
    rows: int
    reference_batches: list[int]
    duplicate_rows: int
    # Distinct rows equal (in every column but the id) to a row of an earlier batch: refused at ingest
    # when the dataset has ids (a copy under new ids), kept with their shared split when it has none.
    repeated_earlier_rows: int
    label: dict[str, Any]
    nulls: dict[str, int]
    drift: dict[str, float | None]
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def label_summary(frame: pd.DataFrame, definition: DatasetDefinition) -> dict[str, Any]:
    """Class counts (and shares) of a classification label; mean, spread and range of a regression one."""
    values = frame[definition.label.column].dropna()
    if definition.label.task == "regression":
        numbers = values.to_numpy(dtype="float64")
        if not len(numbers):
            return {}
        return {
            "mean": float(numbers.mean()),
            "std": float(numbers.std()),
            "min": float(numbers.min()),
            "max": float(numbers.max()),
        }
    counts = as_text(values).value_counts()
    return {"counts": {str(k): int(v) for k, v in counts.items()}}


def data_report(
    batch_number: int,
    frame: pd.DataFrame,
    definition: DatasetDefinition,
    profile: Profile,
    earlier: dict[int, Profile],
    duplicates: int,
    repeated_earlier: int = 0,
) -> DataReport:
    """The batch's report against the earlier batches' profiles, its findings judged by `checks`;
    `duplicates` counts rows that repeat another row of the batch, `repeated_earlier` distinct rows that
    repeat an earlier batch's (both from row hashes)."""
    columns = profiled_columns(definition)
    checks = definition.checks
    reference = [earlier[n] for n in sorted(earlier)]
    drift = {
        name: column_drift(profile, reference, name, definition.column(name).numeric) for name in columns
    }
    report = DataReport(
        batch=batch_number,
        rows=len(frame),
        reference_batches=sorted(earlier),
        duplicate_rows=duplicates,
        repeated_earlier_rows=repeated_earlier,
        label=label_summary(frame, definition),
        nulls={name: int(profile[name]["nulls"]) for name in columns},
        drift=drift,
    )
    if duplicates and checks.duplicate_rows != "ignore":
        finding = (
            f"{duplicates} row(s) repeat another row of the batch in every column but the id "
            f"(checks.duplicate_rows: {checks.duplicate_rows})"
        )
        (report.refusals if checks.duplicate_rows == "refuse" else report.warnings).append(finding)
    for name, value in drift.items():
        if value is None or value < checks.drift_warn:
            continue
        against = _span(report.reference_batches)
        if checks.drift_refuse is not None and value >= checks.drift_refuse:
            report.refusals.append(
                f"column {name!r} drifted from {against}: PSI {value:.3f} is at or over "
                f"checks.drift_refuse ({checks.drift_refuse:g})"
            )
        else:
            report.warnings.append(
                f"column {name!r} drifted from {against}: PSI {value:.3f} (checks.drift_warn: "
                f"{checks.drift_warn:g})"
            )
    return report


def _span(batches: list[int]) -> str:
    return f"batch {batches[0]}" if len(batches) == 1 else f"batches {batches[0]}-{batches[-1]}"


def report_table(report: DataReport) -> list[dict[str, Any]]:
    """The report as table rows, one per column, as the Prefect artifact shows it."""
    refused, warned = " ".join(report.refusals), " ".join(report.warnings)

    def finding(name: str) -> str:
        return "refused" if repr(name) in refused else "warning" if repr(name) in warned else ""

    return [
        {
            "column": name,
            "nulls": report.nulls[name],
            "psi_vs_earlier": "-" if psi is None else round(psi, 4),
            "finding": finding(name),
        }
        for name, psi in report.drift.items()
    ]


def report_key(dataset: str, batch_number: int) -> str:
    """The Prefect artifact key of a batch's report (keys allow lowercase letters, digits and dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")
    return f"data-report-{slug}-batch-{batch_number}"


def report_markdown(report: DataReport) -> str:
    """The report's summary above its table: rows, label, duplicates, and every finding."""
    reference = _span(report.reference_batches) if report.reference_batches else "none (the first batch)"
    label = report.label.get("counts") or {k: round(v, 4) for k, v in report.label.items()}
    lines = [
        f"Batch {report.batch}: {report.rows} rows; compared with {reference}.",
        f"Label: {label}. Rows repeating another row of the batch: {report.duplicate_rows}; repeating "
        f"an earlier batch's rows: {report.repeated_earlier_rows}.",
    ]
    lines += [f"- refused: {r}" for r in report.refusals] + [f"- warning: {w}" for w in report.warnings]
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if lines[2:] else "")


@dataclass(frozen=True)
class BatchReports:
    """The reports and profiles of the batches a model is trained on, as the catalog keeps them (a batch
    ingested before reports were kept has none)."""

    reports: dict[int, dict[str, Any]]
    profiles: dict[int, Profile]

    def to_json(self) -> dict[str, Any]:
        return {"batches": [self.reports[n] for n in sorted(self.reports)]}


def cdf(profiles: list[Profile], name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column's distribution over the profiles (values and the share of rows at or below each):
    what a report's plot draws, the batch against its reference."""
    return _cdf(*_pooled(profiles, name))


def _cdf(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points)
    return points[order], np.cumsum(weights[order]) / max(weights.sum(), 1e-12)


def shares(profiles: list[Profile], name: str) -> dict[str, float]:
    """A category column's share of each value over the profiles."""
    counts: dict[str, float] = {}
    for profile in profiles:
        for value, count in ((profile.get(name) or {}).get("counts") or {}).items():
            counts[value] = counts.get(value, 0) + count
    total = sum(counts.values()) or 1
    return {value: count / total for value, count in sorted(counts.items())}
