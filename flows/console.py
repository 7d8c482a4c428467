"""What the terminal shows of a pipeline run: a line per stage, and a refused batch as one block of problems,
not three tracebacks.

Prefect logs a stage's exception at every level it passes (the task, the stage's flow run, the pipeline's),
each with its traceback. For a refusal that is noise in the terminal: the filter here keeps those records out
of Prefect's console handler only, so the Prefect API (the UI's flow-run logs) still holds them in full.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from flows.logic.refusal import Refusal, refusal_names
from flows.progress import PROGRESS


class HideRefusals(logging.Filter):
    """Drops the records that report a refusal: its exception with a traceback, or its state message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], Refusal):
            return False
        if record.levelno < logging.INFO or not record.name.startswith("prefect"):
            return True
        message = record.getMessage()
        if not ("Failed(" in message or "exception" in message):
            return True
        # The refusal classes as of now, not of the filter's making: a stage's module (with its refusal)
        # is imported only when the stage runs.
        names = refusal_names()
        return not any(f"{name}: " in message or f"{name}(" in message for name in names)


def hide_refusals_in_console() -> None:
    """Install the filter on Prefect's console handlers (configured when prefect is imported)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, HideRefusals) for f in handler.filters
        ):
            handler.addFilter(HideRefusals())


def quiet_console(log_file: Path) -> None:
    """`mlops run`'s terminal: the progress lines, warnings and errors. Prefect's INFO records (each flow and
    task run starting and finishing, its temporary server) go to `log_file`, with everything else it logs;
    MLflow's event messages are not shown."""
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    progress = logging.getLogger(PROGRESS.name)
    for logger in (root, progress):  # a second run in one process (tests) replaces the first's handlers
        for ours in [h for h in logger.handlers if isinstance(h, (_RunLog, _Progress))]:
            logger.removeHandler(ours)
            ours.close()
    for handler in root.handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.WARNING)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = _RunLog(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s - %(message)s"))
    root.addHandler(to_file)
    # MLflow prints its own events (creating its tables, "Created version '2' of model ...") to stderr through
    # a stream of its own; the progress lines say the same, so they go to the log file. Switching the stream
    # off (`disable_logging`) does not hold: MLflow switches it on again after some of its calls.
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    _MLFLOW_EVENTS.setLevel(logging.INFO)
    MLFLOW_LOGGING_STREAM.write = _mlflow_event  # type: ignore[method-assign]
    MLFLOW_LOGGING_STREAM.flush = lambda: None  # type: ignore[method-assign]
    progress.setLevel(logging.INFO)
    progress.propagate = False
    to_terminal = _Progress(sys.stdout)
    to_terminal.setFormatter(logging.Formatter("%(message)s"))
    progress.addHandler(to_terminal)
    progress.addHandler(to_file)


# MLflow's events, as records of the run's log (not a child of the `mlflow` logger, whose handler writes to
# the stream this receives from).
_MLFLOW_EVENTS = logging.getLogger("mlops.mlflow-events")


def _mlflow_event(text: str) -> int:
    if text.strip():
        _MLFLOW_EVENTS.info(text.strip())
    return len(text)


class _RunLog(logging.FileHandler):
    """The run's log file (a class of its own, so that a later run finds and replaces it)."""


class _Progress(logging.StreamHandler):
    """The progress lines on the terminal."""
