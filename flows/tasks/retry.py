"""Retry policy for I/O tasks: exponential backoff, only for failures a retry can fix."""

from __future__ import annotations

from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from mlflow.exceptions import MlflowException
from prefect.tasks import exponential_backoff

from flows.adapters.dvc_store import DvcError

# Network and service hiccups; bad input and bugs fail at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError
    DvcError,
    MlflowException,
    requests.RequestException,
    BotoCoreError,
    ClientError,
)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:
        return isinstance(exc, TRANSIENT_ERRORS)
    return False


IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.2,
    "retry_condition_fn": retry_on_transient,
}
