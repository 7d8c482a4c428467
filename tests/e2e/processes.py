"""Long-running processes the end-to-end tests start, each recorded so that nothing outlives the run.

Each process gets its own process group (so a stop reaches its children too), a log file and a record
`<name>.pid` holding its pid and kernel start time: a later run uses the pair to stop what an interrupted
run left behind without ever signalling an unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses, so split after its last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


class Processes:
    """Starts processes with logs and pid records in `directory`; stops them in reverse order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self._record(name, process.pid, argv)
        self.running[name] = process
        return process

    def adopt(self, name: str, pid: int, argv: Sequence[str]) -> None:
        """Record a process started elsewhere (a process-group leader), so that a later run stops it if
        this one dies before its own teardown; `forget` it once stopped."""
        self._record(name, pid, argv)

    def forget(self, name: str) -> None:
        (self.directory / f"{name}.pid").unlink(missing_ok=True)

    def _record(self, name: str, pid: int, argv: Sequence[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "start_time": start_time(pid), "argv": list(argv)}
        (self.directory / f"{name}.pid").write_text(json.dumps(record))

    def check(self, name: str) -> None:
        """Raise with the log's tail when `name` has exited."""
        process = self.running[name]
        if process.poll() is not None:
            tail = self.log(name).read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{name} exited with {process.returncode}; {self.log(name)} ends:\n{tail}")

    def stop(self, name: str, timeout: float = 20) -> None:
        process = self.running.pop(name)
        _stop_group(process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        self.forget(name)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def _stop_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def reap_leftovers(directory: Path) -> list[str]:
    """Stop every recorded process that still runs (an interrupted run's); returns their names."""
    stopped = []
    for record_path in sorted(directory.glob("*.pid")) if directory.is_dir() else []:
        record = json.loads(record_path.read_text())
        if record["start_time"] is not None and start_time(record["pid"]) == record["start_time"]:
            _stop_group(record["pid"], timeout=10)
            stopped.append(record_path.stem)
        record_path.unlink()
    return stopped


if __name__ == "__main__":
    # `python -m tests.e2e.processes DIR`: after the tests, anything left is a teardown bug: say so, fail.
    leftovers = reap_leftovers(Path(sys.argv[1]))
    if leftovers:
        sys.exit(f"processes left running after the tests (now stopped): {', '.join(leftovers)}")
