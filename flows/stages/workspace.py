"""A scratch DVC workspace per stage run: it starts empty, so every input really comes from the remote."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.settings import Settings


@contextmanager
def stage_workspace(stage: str, settings: Settings) -> Iterator[Path]:
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{stage}-", dir=settings.workspace_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
