"""kubectl and helm, the real binaries, pointed at the test cluster through its admin kubeconfig."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def run(argv: list[str], *, check: bool = True, timeout: float = 120, stdin: str | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
        )
    return result.stdout


@dataclass(frozen=True)
class Kubectl:
    binary: str
    kubeconfig: Path

    def argv(self, *args: str) -> list[str]:
        return [self.binary, f"--kubeconfig={self.kubeconfig}", *args]

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return run(self.argv(*args), stdin=stdin)

    def attempt(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run without raising, for requests that are expected to be refused."""
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=60, input=stdin, check=False
        )

    def get(self, *args: str, stdin: str | None = None) -> Json:
        document: Json = json.loads(self("get", "--output=json", *args, stdin=stdin))
        return document

    def can_i(
        self,
        verb: str,
        resource: str,
        *,
        user: str,
        groups: tuple[str, ...] = (),
        namespace: str = "default",
        name: str | None = None,
    ) -> bool:
        """`kubectl auth can-i` as `user`: the API server's own authorizers decide (SubjectAccessReview).

        `resource` is written as in RBAC rules, a subresource after a slash ("pods/log").
        """
        resource, _, subresource = resource.partition("/")
        target = f"{resource}/{name}" if name else resource
        argv = self.argv("auth", "can-i", verb, target, f"--namespace={namespace}", f"--as={user}")
        argv += [f"--as-group={group}" for group in groups]
        if subresource:
            argv.append(f"--subresource={subresource}")
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        # Exit 0 "yes", exit 1 "no" (maybe with the authorizer's reason); anything else is an error.
        answer = result.stdout.split(" ", 1)[0].strip()
        assert (result.returncode, answer) in ((0, "yes"), (1, "no")), result
        return result.returncode == 0


@dataclass(frozen=True)
class Helm:
    binary: str
    kubeconfig: Path

    def __call__(self, *args: str, timeout: float = 300) -> str:
        return run([self.binary, f"--kubeconfig={self.kubeconfig}", *args], timeout=timeout)


@contextlib.contextmanager
def port_forward(kubectl: Kubectl, namespace: str, target: str, remote_port: int) -> Iterator[int]:
    """`kubectl port-forward` of `target` (service/x, pod/y) to a free local port, for the block's time."""
    forward = subprocess.Popen(
        kubectl.argv("port-forward", target, f":{remote_port}", f"--namespace={namespace}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> REMOTE"
        assert line.startswith("Forwarding from 127.0.0.1:"), line + forward.stdout.read()
        yield int(line.split("127.0.0.1:")[1].split()[0])
    finally:
        forward.terminate()
        forward.wait(timeout=10)
