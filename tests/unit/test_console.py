"""The terminal's filter: Prefect's records of a refusal (its traceback, its failed states) are dropped,
any other failure and every ordinary record are kept; MLflow's own event prints go to the run's log."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import console
from flows.adapters.landing import LandingError
from flows.console import HideRefusals
from flows.logic.validation import BatchRejected


def record(
    message: str, exc: BaseException | None = None, name: str = "prefect.flow_runs"
) -> logging.LogRecord:
    exc_info = None
    if exc is not None:
        try:
            raise exc
        except BaseException:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_a_refusals_traceback_and_failed_states_are_dropped_and_the_rest_kept() -> None:
    hide = HideRefusals()
    refused = BatchRejected(2, ["column 'age' has 1 value(s) outside [18, 100] (e.g. 150)"])
    assert not hide.filter(record(f"Encountered exception during execution: {refused!r}", refused))
    assert not hide.filter(
        record(
            "Finished in state Failed('Task run encountered an exception BatchRejected: batch 2 rejected')"
        )
    )
    assert not hide.filter(
        record("Finished in state Failed('Flow run encountered an exception: LandingError: no batch_2.csv')")
    )
    assert not hide.filter(record("Encountered exception: LandingError('x')", LandingError("x")))
    bug = KeyError("split")
    assert hide.filter(record(f"Encountered exception during execution: {bug!r}", bug))
    assert hide.filter(
        record("Finished in state Failed('Task run encountered an exception KeyError: split')")
    )
    assert hide.filter(record("Finished in state Completed()"))
    assert hide.filter(record("LandingError: a word in a library's message", name="botocore"))


def test_a_refusal_defined_after_the_filter_was_installed_is_dropped_too() -> None:
    """`mlops run` installs the filter at start; a stage's module, and the refusal it raises, is imported
    only when the stage runs."""
    from flows.logic.refusal import Refusal

    hide = HideRefusals()

    class SheetNotFound(Refusal):
        pass

    assert not hide.filter(
        record("Finished in state Failed('Task run encountered an exception SheetNotFound: batch 3')")
    )


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Path]:
    """`mlops run`'s console for one test, undone after it (the tests share one process)."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    log = tmp_path / "run.log"
    console.quiet_console(log)
    yield log
    del MLFLOW_LOGGING_STREAM.write, MLFLOW_LOGGING_STREAM.flush
    for logger in (logging.getLogger(), console.PROGRESS):
        for handler in [h for h in logger.handlers if isinstance(h, (console._RunLog, console._Progress))]:
            logger.removeHandler(handler)
            handler.close()


def test_mlflows_event_prints_go_to_the_log_even_when_mlflow_switches_them_back_on(
    quiet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.utils.logging_utils import enable_logging, eprint

    enable_logging()  # what MLflow's own autologging guard does when it exits
    eprint("Created version '7' of model 'm'.")
    assert "Created version" not in capsys.readouterr().err
    assert "Created version '7' of model 'm'." in quiet.read_text()
