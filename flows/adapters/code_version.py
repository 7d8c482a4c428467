"""The code version recorded in lineage: configured (image digest), else the git sha."""

from __future__ import annotations

import subprocess
from pathlib import Path


def code_version(configured: str) -> str:
    if configured:
        return configured
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return f"{sha}-dirty" if dirty else sha
