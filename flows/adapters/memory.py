"""How much memory this process may use: its cgroup's limit (a Kubernetes container's memory limit).

The kernel OOM-kills a container that passes it, with no Python error; the train stage compares its
estimate with this limit first, so that a dataset too large for the Job fails with a message instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from flows.adapters.cpu import CGROUP

# cgroup v1 writes "no limit" as a huge page-aligned number rather than "max".
_V1_UNLIMITED = 1 << 62


def limit_bytes(text: str) -> int | None:
    """A cgroup memory limit file's value in bytes (v2 'max' or v1's huge number mean no limit)."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    return None if value <= 0 or value >= _V1_UNLIMITED else value


def memory_limit(root: Path = CGROUP) -> int | None:
    """Bytes this process's cgroup may hold, or None when it has no limit (or none can be read)."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            return limit_bytes(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):  # an unreadable or odd cgroup file: no limit known
            return None
    return None


def rss_bytes() -> int:
    """This process's resident memory now (0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
