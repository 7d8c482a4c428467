"""What the terminal shows of a pipeline run: a refused batch is one block of problems, not three tracebacks.

Prefect logs a stage's exception at every level it passes (the task, the stage's flow run, the pipeline's),
each with its traceback. For a refusal that is noise in the terminal: the filter here keeps those records out
of Prefect's console handler only, so the Prefect API (the UI's flow-run logs) still holds them in full.
"""

from __future__ import annotations

import logging

from flows.logic.refusal import Refusal, refusal_names


class HideRefusals(logging.Filter):
    """Drops the records that report a refusal: its exception with a traceback, or its state message."""

    def __init__(self) -> None:
        super().__init__()
        self.markers = tuple(f"{name}: " for name in refusal_names()) + tuple(
            f"{name}(" for name in refusal_names()
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], Refusal):
            return False
        if record.levelno < logging.INFO or not record.name.startswith("prefect"):
            return True
        message = record.getMessage()
        return not ("Failed(" in message or "exception" in message) or not any(
            marker in message for marker in self.markers
        )


def hide_refusals_in_console() -> None:
    """Install the filter on Prefect's console handlers (configured when prefect is imported)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, HideRefusals) for f in handler.filters
        ):
            handler.addFilter(HideRefusals())
