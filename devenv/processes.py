"""Services as processes of their own: started with a clean environment when run as another user, waited
for over HTTP, reaped when they end."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import time
import urllib.request
from pathlib import Path


def unprivileged_env() -> dict[str, str]:
    """What a service run as another user inherits: none of our credentials."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


def reap(pid: int) -> None:
    """Collect the exit status when the service is our own child (else it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died (exit {process.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (OSError, http.client.HTTPException):  # not listening yet, or not speaking HTTP yet
            time.sleep(0.3)
    raise TimeoutError(f"{url} not up after {timeout}s; see {log}")
