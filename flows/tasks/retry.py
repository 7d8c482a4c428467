"""Retry policy for I/O tasks: exponential backoff, only for failures a retry can fix."""

from __future__ import annotations

import errno
import sys
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from prefect.tasks import exponential_backoff

from flows.adapters.dvc_store import DvcError

# Network and service hiccups; bad input and bugs fail at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError
    DvcError,
    requests.RequestException,
    BotoCoreError,
    ClientError,
)


# A full or read-only disk is an OSError too, but seconds later it is just as full.
LOCAL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in LOCAL_DISK_ERRNOS:
        return False
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    # MLflow's errors are transient too. Looked up lazily: importing mlflow costs ~3 s, and a stage that
    # never imported it (ingest, prepare) cannot have raised one.
    mlflow_exceptions = sys.modules.get("mlflow.exceptions")
    return mlflow_exceptions is not None and isinstance(exc, mlflow_exceptions.MlflowException)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.2,
    "retry_condition_fn": retry_on_transient,
}
