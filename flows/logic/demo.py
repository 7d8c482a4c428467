"""A deterministic source of loan-application batches: same inputs, same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The generator's own vocabulary; datasets/loan-default/dataset.yaml declares what a batch may hold (a unit
# test checks that generated batches pass it).
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
# Ids of batch n start at n * ID_STRIDE, so batches never share an id.
ID_STRIDE = 10**10
TERMS = np.array([12, 24, 36, 48, 60])


def generate_batch(batch_number: int, rows: int, seed: int = 42, label_noise: float = 0.0) -> pd.DataFrame:
    """Batch `batch_number` of `rows` applications; later batches drift mildly (incomes, scores).

    `label_noise` is the share of labels replaced by coin flips (0 = clean): bad data on purpose.
    """
    if batch_number < 1 or rows < 1:
        raise ValueError("batch_number and rows must be positive")
    rng = np.random.default_rng([seed, batch_number])
    drift = batch_number - 1
    age = rng.integers(21, 75, rows)
    income = np.round(rng.lognormal(10.9 + 0.03 * drift, 0.5, rows), 2).clip(5_000, 5e6)
    employment = np.round(np.minimum(rng.exponential(6.0, rows), age - 18), 1)
    credit = np.clip(rng.normal(690 - 4 * drift, 60, rows).round(), 300, 850).astype(np.int64)
    dti = np.round(rng.beta(2.0, 5.0 - 0.1 * drift, rows) * 1.2, 4)
    accounts = rng.poisson(8, rows)
    delinquencies = rng.poisson(0.3 + 0.4 * (credit < 600), rows)
    loan = np.round(np.clip(income * rng.uniform(0.05, 0.6, rows), 500, 5e6), -2)
    term = rng.choice(TERMS, rows)
    home = rng.choice(np.array(HOME_OWNERSHIP), rows, p=[0.42, 0.12, 0.43, 0.03])
    purpose = rng.choice(np.array(PURPOSES), rows, p=[0.38, 0.2, 0.1, 0.1, 0.07, 0.05, 0.1])

    logit = (
        -1.6
        - 0.012 * (credit - 690)
        + 2.2 * (dti - 0.34)
        + 1.3 * (loan / income - 0.3)
        + 0.35 * delinquencies
        - 0.04 * employment
        + 0.01 * (term - 36)
        + 0.35 * (home == "RENT")
        + 0.5 * (purpose == "small_business")
        - 0.006 * (age - 45)
    )
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    if label_noise > 0:
        noisy = rng.random(rows) < label_noise
        label = np.where(noisy, rng.integers(0, 2, rows), label)

    return pd.DataFrame(
        {
            "application_id": batch_number * ID_STRIDE + np.arange(rows, dtype=np.int64),
            "age": age.astype(np.int64),
            "annual_income": income,
            "employment_years": employment,
            "credit_score": credit,
            "debt_to_income": dti,
            "open_accounts": accounts.astype(np.int64),
            "delinquencies_2y": delinquencies.astype(np.int64),
            "loan_amount": loan,
            "term_months": term.astype(np.int64),
            "home_ownership": home,
            "purpose": purpose,
            "defaulted": label,
        }
    )
