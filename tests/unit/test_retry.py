"""The retry condition: transient I/O failures are retried, bad input and bugs are not."""

from __future__ import annotations

import errno

import pytest

from flows.adapters.dvc_store import DvcError
from flows.adapters.landing import LandingError
from flows.logic.validation import BatchRejected
from flows.tasks.retry import retry_on_transient


class FailedState:
    """The one method of a Prefect state the condition uses."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [ConnectionError("reset"), TimeoutError(), DvcError("remote down")])
def test_transient_failures_are_retried(error: BaseException) -> None:
    assert retry_on_transient(None, None, FailedState(error))


@pytest.mark.parametrize(
    "error", [BatchRejected(2, ["missing columns: age"]), LandingError("unreadable"), KeyError("bug")]
)
def test_bad_input_and_bugs_are_not_retried(error: BaseException) -> None:
    assert not retry_on_transient(None, None, FailedState(error))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_or_read_only_disk_is_not_retried(code: int) -> None:
    assert not retry_on_transient(None, None, FailedState(OSError(code, "disk", "/cache")))


def test_other_os_errors_are_retried() -> None:
    assert retry_on_transient(None, None, FailedState(OSError(errno.ECONNRESET, "reset")))


def test_mlflow_failures_are_retried() -> None:
    from mlflow.exceptions import MlflowException

    assert retry_on_transient(None, None, FailedState(MlflowException("server unavailable")))
