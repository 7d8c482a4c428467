"""CLI argument handling (no services)."""

from __future__ import annotations

import argparse

import pytest

from flows.cli import batch_number, main, positive_int
from flows.commands.versions import parse_model_ref
from flows.contracts import MAX_BATCH_NUMBER


def test_model_refs() -> None:
    assert parse_model_ref("m@champion") == ("m", "champion", None)
    assert parse_model_ref("my/model/3") == ("my/model", None, "3")
    for bad in ("m", "m@", "@a", "m/x"):
        with pytest.raises(ValueError, match="NAME@ALIAS or NAME/VERSION"):
            parse_model_ref(bad)


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "two", ""])
def test_batch_numbers_must_be_positive_integers(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
        positive_int(text)


@pytest.mark.parametrize("text", [str(MAX_BATCH_NUMBER + 1), "9" * 40])
def test_batch_numbers_have_an_upper_bound(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"must be at most {MAX_BATCH_NUMBER}, got {text}"):
        batch_number(text)
    assert batch_number(str(MAX_BATCH_NUMBER)) == MAX_BATCH_NUMBER


def test_run_rejects_a_text_batch_before_doing_anything(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--batches", "x"])
    assert exit_info.value.code == 2
    assert "must be a positive integer, got 'x'" in capsys.readouterr().err


def test_python_dash_m_runs_the_command() -> None:
    """`python -m flows.cli` (how the tests and the seed's users call it) runs main, not just the import."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "flows.cli", "lineage", "x"], capture_output=True, text=True)
    assert done.returncode == 2 and "expected NAME@ALIAS or NAME/VERSION" in done.stderr
