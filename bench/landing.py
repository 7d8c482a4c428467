"""Demo batches for the benchmarks: the same generator `make run` uses, written once per size."""

from __future__ import annotations

from pathlib import Path

from flows.logic.demo import generate_batch


def size_label(rows: int) -> str:
    """10000 -> '10k', 1000000 -> '1m': the suffix of per-size result keys."""
    for unit, name in ((1_000_000, "m"), (1_000, "k")):
        if rows >= unit and rows % unit == 0:
            return f"{rows // unit}{name}"
    return str(rows)


def land_batch(root: Path, rows: int, seed: int = 42) -> Path:
    """Batch 1 with `rows` rows as CSV in its own landing folder, in the loan demo's folder there
    (<landing>/loan-default/batch_1.csv: the pipeline reads a dataset's batches from its folder)."""
    folder = root / f"landing-{size_label(rows)}" / "loan-default"
    path = folder / "batch_1.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        generate_batch(1, rows, seed=seed).to_csv(path, index=False)
    return path
