"""A real Kubernetes control plane as local processes: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, on free ports of loopback (or of the node's bridge address), with certificates made for
the run.

The binaries come from `make k8s-bins`: built from the k8s.io/kubernetes module pinned in hack/k8s/go.mod,
and etcd at the version that release names, from hack/etcd/go.mod. The node that runs pods is
tests/e2e/node.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devenv.services import free_port
from tests.e2e.pki import CertificateAuthority, KeyPair, service_account_keys
from tests.e2e.processes import Processes

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# kind's service range; the API server takes the first address for the `kubernetes` Service.
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def pinned_version(tool: str, module: str) -> str:
    """The version of `module` that hack/<tool>/go.mod pins (the one place it is set), in a require block
    or on a `require` line of its own (as go mod tidy writes a module's only requirement)."""
    go_mod = ROOT / "hack" / tool / "go.mod"
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", go_mod.read_text(), re.MULTILINE)
    assert match, f"no {module} requirement in {go_mod}"
    return match[1]


def kubernetes_version() -> str:
    return pinned_version("k8s", "k8s.io/kubernetes")


@dataclass(frozen=True)
class Binaries:
    """Where `make k8s-bins` puts them: bin/k8s/<release>/ and bin/etcd/<release>/ (or $MLOPS_K8S_BIN,
    $MLOPS_ETCD_BIN)."""

    kubernetes: Path
    etcd: Path

    @classmethod
    def find(cls) -> Binaries:
        kubernetes = os.environ.get("MLOPS_K8S_BIN") or ROOT / "bin" / "k8s" / kubernetes_version()
        etcd_version = pinned_version("etcd", "go.etcd.io/etcd/server/v3")
        etcd = os.environ.get("MLOPS_ETCD_BIN") or ROOT / "bin" / "etcd" / etcd_version
        return cls(Path(kubernetes), Path(etcd))

    def path(self, component: str) -> str:
        return str((self.etcd if component == "etcd" else self.kubernetes) / component)

    def missing(self) -> list[str]:
        return [name for name in ("etcd", *K8S_COMPONENTS) if not Path(self.path(name)).is_file()]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(path: Path, server: str, ca: KeyPair, user: str, credentials: dict[str, str]) -> Path:
    """A kubeconfig for `server` as `user`, proven by `credentials` (a client certificate, a token)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "e2e", "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem())}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
        "current-context": "e2e",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(document))
    return path


def wait_until(ready: Callable[[], bool], what: str, check: Callable[[], None], timeout: float) -> float:
    """Poll `ready` until true; `check` raises when the process behind it died. Returns the seconds taken."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        check()
        if ready():
            return time.monotonic() - started
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass
class ControlPlane:
    binaries: Binaries
    directory: Path
    # Where the API server listens and what it advertises: loopback alone, or the node's bridge address
    # once there is a node whose pods must reach it (through the `kubernetes` Service).
    address: str = LOOPBACK
    processes: Processes = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pki = self.directory / "pki"
        self.processes = Processes(self.directory / "logs")
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.apiserver_port = free_port()
        self.controller_manager_port, self.scheduler_port = free_port(), free_port()

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def start(self) -> None:
        started = time.monotonic()
        self._write_pki()
        self.timings["certificates"] = time.monotonic() - started
        self._start_etcd()
        self._start_apiserver()
        self._start_controllers()
        self.timings["bring-up"] = time.monotonic() - started

    def stop(self) -> None:
        self.processes.stop_all()

    # --- certificates and kubeconfigs ------------------------------------------------------------

    def _write_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        self.ca = CertificateAuthority.create(self.pki)
        self.serving = self.ca.issue(
            self.pki,
            "kube-apiserver",
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=tuple(dict.fromkeys((LOOPBACK, self.address, KUBERNETES_SERVICE_IP))),
        )
        # The API server's identity towards kubelets (logs, exec, port-forward), as kubeadm issues it.
        self.kubelet_client = self.ca.issue(
            self.pki,
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            organizations=("system:masters",),
        )
        self.service_account = service_account_keys(self.pki)
        # The front proxy's own CA and client, as kubeadm sets them up: the API server publishes this CA
        # (extension-apiserver-authentication) for the components and aggregated APIs that trust it.
        self.front_proxy_ca = CertificateAuthority.create(self.pki, "front-proxy-ca", "front-proxy-ca")
        self.front_proxy_client = self.front_proxy_ca.issue(
            self.pki, "front-proxy-client", "front-proxy-client"
        )
        # The users RBAC's bootstrap policy knows: cluster admins, and the two control-plane components.
        clients = {
            "admin": ("kubernetes-admin", ("system:masters",)),
            "kube-controller-manager": ("system:kube-controller-manager", ()),
            "kube-scheduler": ("system:kube-scheduler", ()),
        }
        for stem, (user, groups) in clients.items():
            pair = self.ca.issue(self.pki, f"{stem}-client", user, organizations=groups)
            credentials = {
                "client-certificate-data": b64(pair.cert_pem()),
                "client-key-data": b64(pair.key_pem()),
            }
            kubeconfig(self.directory / f"{stem}.kubeconfig", self.server, self.ca.pair, user, credentials)

    def admin_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.pair.cert))
        admin = KeyPair(self.pki / "admin-client.crt", self.pki / "admin-client.key")
        context.load_cert_chain(str(admin.cert), str(admin.key))
        return context

    # --- the components -----------------------------------------------------------------------------

    def _start_etcd(self) -> None:
        client_url = f"http://{LOOPBACK}:{self.etcd_port}"
        peer_url = f"http://{LOOPBACK}:{self.etcd_peer_port}"
        self.processes.start(
            "etcd",
            [
                self.binaries.path("etcd"),
                "--name=e2e",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--log-level=warn",
                # Its data dies with the run: skip the fsyncs that dominate its latency on a small VM.
                "--unsafe-no-fsync",
            ],
        )
        self.timings["etcd"] = wait_until(
            lambda: http_ok(f"{client_url}/health"), "etcd", lambda: self.processes.check("etcd"), 60
        )

    def _start_apiserver(self) -> None:
        pki = self.pki
        self.processes.start(
            "kube-apiserver",
            [
                self.binaries.path("kube-apiserver"),
                f"--etcd-servers=http://{LOOPBACK}:{self.etcd_port}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={self.serving.cert}",
                f"--tls-private-key-file={self.serving.key}",
                f"--client-ca-file={self.ca.pair.cert}",
                # The Node authorizer and NodeRestriction confine the kubelet (tests/e2e/node.py) to its
                # own node's objects; RBAC decides everything else.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.service_account.cert}",
                f"--service-account-signing-key-file={self.service_account.key}",
                f"--requestheader-client-ca-file={self.front_proxy_ca.pair.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={self.front_proxy_client.cert}",
                f"--proxy-client-key-file={self.front_proxy_client.key}",
                f"--kubelet-client-certificate={self.kubelet_client.cert}",
                f"--kubelet-client-key={self.kubelet_client.key}",
                # The node's name resolves nowhere; its address does.
                "--kubelet-preferred-address-types=InternalIP",
                # Loopback is refused as an endpoint: without a node network the `kubernetes` Service
                # gets none; with one, pods reach the API server on the bridge address it advertises.
                *(["--endpoint-reconciler-type=none"] if self.address == LOOPBACK else []),
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        context = self.admin_ssl_context()
        self.timings["kube-apiserver"] = wait_until(
            lambda: http_ok(f"{self.server}/readyz", context),
            "kube-apiserver /readyz",
            lambda: self.processes.check("kube-apiserver"),
            180,
        )

    def _start_controllers(self) -> None:
        common = [
            f"--bind-address={LOOPBACK}",
            "--leader-elect=false",
            "--profiling=false",
        ]
        for component, port, extra in (
            (
                "kube-controller-manager",
                self.controller_manager_port,
                [
                    # Each controller acts as its own service account, so RBAC applies to them as to anyone.
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={self.service_account.key}",
                    f"--root-ca-file={self.ca.pair.cert}",
                    f"--cluster-signing-cert-file={self.ca.pair.cert}",
                    f"--cluster-signing-key-file={self.ca.pair.key}",
                ],
            ),
            ("kube-scheduler", self.scheduler_port, []),
        ):
            config = self.directory / f"{component}.kubeconfig"
            self.processes.start(
                component,
                [
                    self.binaries.path(component),
                    f"--kubeconfig={config}",
                    f"--authentication-kubeconfig={config}",
                    f"--authorization-kubeconfig={config}",
                    f"--secure-port={port}",
                    f"--cert-dir={self.directory / component}",
                    *common,
                    *extra,
                ],
            )
        for component, port in (
            ("kube-controller-manager", self.controller_manager_port),
            ("kube-scheduler", self.scheduler_port),
        ):
            self.timings[component] = self._wait_healthz(component, port)

    def _wait_healthz(self, component: str, port: int) -> float:
        # /healthz needs no authentication; the certificate is one the component made for itself.
        unverified = ssl._create_unverified_context()
        return wait_until(
            lambda: http_ok(f"https://{LOOPBACK}:{port}/healthz", unverified),
            f"{component} /healthz",
            lambda: self.processes.check(component),
            120,
        )

    def etcd_version(self) -> dict[str, str]:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.etcd_port}/version") as r:
            version: dict[str, str] = json.loads(r.read())
        return version

    def version(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.server}/version", context=self.admin_ssl_context()) as r:
            version: dict[str, str] = json.loads(r.read())
        return version
