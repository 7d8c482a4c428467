"""Every kind of bad landing file gets its message from the adapter and the contract that ingest runs, with
no service: tests/integration/test_bad_batches.py takes one kind per refusal path through the pipeline."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from flows.adapters.landing import LandingError, parse_batch
from flows.logic.contract import frame_problems
from flows.logic.demo import generate_batch
from tests.bad_files import BAD_FILES, GOOD_ROWS
from tests.definitions import loan

URI = "s3://mlops-landing/tenant/loan-default/batch_2.csv"


def refusal(data: bytes) -> str:
    """What ingest refuses the bytes with: the landing adapter's error, else the contract's problems."""
    try:
        frame = parse_batch(data, URI)
    except LandingError as error:
        return str(error)
    return "\n".join(frame_problems(frame, loan()))


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return generate_batch(2, GOOD_ROWS)


def test_the_good_batch_is_accepted(good: pd.DataFrame) -> None:
    assert refusal(good.to_csv(index=False).encode()) == ""


@pytest.mark.parametrize(
    ("make", "message"), [(m, s) for _, m, s in BAD_FILES], ids=[n for n, _, _ in BAD_FILES]
)
def test_each_bad_file_is_refused_with_its_message(
    good: pd.DataFrame, make: Callable[[pd.DataFrame], bytes], message: str
) -> None:
    assert message in refusal(make(good))
