"""The definitions tests build on: the loan demo's as shipped, and small ones made in code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from flows.logic.definition import DatasetDefinition, parse_definition

REPO = Path(__file__).resolve().parents[1]
LOAN = REPO / "datasets" / "loan-default" / "dataset.yaml"


@cache
def loan() -> DatasetDefinition:
    return parse_definition(LOAN.read_text(), str(LOAN))


def customers(**changes: object) -> DatasetDefinition:
    """A small text-label dataset without an id (like the credit-card default table), with `changes` applied
    to its top-level keys."""
    data: dict[str, object] = {
        "name": "customers",
        "id": None,
        "columns": [
            {"name": "default", "type": "category", "values": ["No", "Yes"]},
            {"name": "student", "type": "category", "values": ["No", "Yes"]},
            {"name": "balance", "type": "number", "min": 0, "max": 10000, "nullable": True},
            {"name": "income", "type": "number", "min": 0, "max": 1000000},
            {"name": "cards", "type": "integer", "min": 0, "max": 20},
        ],
        "label": {"column": "default", "task": "binary", "positive_class": "Yes"},
    } | changes
    return parse_definition(yaml.safe_dump(data, sort_keys=False), "customers")
