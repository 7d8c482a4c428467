"""The landing-batch contract: one row per loan application, with a stable id and a 0/1 label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["id", "int", "float", "category", "label"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    description: str = ""


ID_COLUMN = "application_id"
# Batches are numbered 1..MAX_BATCH_NUMBER: raw files are named with six digits (batch_000042), so names
# sort in batch order; a batch a day lasts 2,700 years.
MAX_BATCH_NUMBER = 999_999
LABEL_COLUMN = "defaulted"

HOME_OWNERSHIP = ("RENT", "OWN", "MORTGAGE", "OTHER")
PURPOSES = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
)

COLUMNS: tuple[Column, ...] = (
    Column(ID_COLUMN, "id", 0, 2**62, description="unique, stable id of the application"),
    Column("age", "int", 18, 100, description="applicant age in years"),
    Column("annual_income", "float", 1, 1e8, description="yearly gross income"),
    Column("employment_years", "float", 0, 70, description="years with current employer"),
    Column("credit_score", "int", 300, 850, description="bureau score"),
    Column("debt_to_income", "float", 0, 10, description="monthly debt over monthly income"),
    Column("open_accounts", "int", 0, 200, description="open credit lines"),
    Column("delinquencies_2y", "int", 0, 100, description="late payments in the last 2 years"),
    Column("loan_amount", "float", 100, 1e7, description="requested principal"),
    Column("term_months", "int", 6, 480, description="loan term"),
    Column("home_ownership", "category", categories=HOME_OWNERSHIP, description="housing"),
    Column("purpose", "category", categories=PURPOSES, description="stated loan purpose"),
    Column(LABEL_COLUMN, "label", 0, 1, description="1 if the loan defaulted"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
