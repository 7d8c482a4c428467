"""A real node for the e2e cluster: containerd with runc and the CNI plugins (Debian packages), a kubelet and
kube-proxy (built from hack/k8s), CoreDNS (hack/coredns) and kube-router's NetworkPolicy controller
(hack/kube-router, the enforcer k3s embeds: the bridge enforces nothing itself), all host processes, on a
bridge of their own.

Pods get addresses on BRIDGE (POD_CIDR); the host is NODE_IP on it, where the API server, the kubelet and
CoreDNS listen, so nothing leaves loopback and the bridge. Images come from `make node-images` (built
offline with buildah) and are imported into this containerd.

The node is tainted (NODE_TAINT): only pods that tolerate it run here, so the control-plane tests keep
their pods waiting for a node. Everything the node creates is named or placed so that `sweep` finds it
again: processes by the node's directory in their command line or by cgroup, mounts under that directory
(the pods' network namespaces too), the bridge by name, iptables rules by their KUBE- chains.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devenv.services import free_port
from tests.e2e.clients import Kubectl
from tests.e2e.cluster import (
    ROOT,
    SERVICE_CIDR,
    Binaries,
    ControlPlane,
    b64,
    http_ok,
    kubeconfig,
    pinned_version,
    wait_until,
)
from tests.e2e.processes import Processes

BRIDGE = "mlops-e2e0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
CLUSTER_DNS = NODE_IP
NODE_NAME = "e2e-node"
NODE_TAINT = "mlops.dev/e2e-node"
CGROUP_ROOT = "mlops-e2e"
CNI_BIN = Path("/usr/lib/cni")
CGROUP_HIERARCHIES = Path("/sys/fs/cgroup")
SANDBOX_IMAGE = "localhost/pause:e2e"
# What `make node-images` saves into bin/images/<name>.tar (NODE_IMAGES in mk/e2e.mk).
NODE_IMAGES = ("pause", "flow-runner", "mlflow", "postgres", "minio")
# Sysctls a bridged pod network needs: forwarding, and bridged frames through iptables (Service DNAT).
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
# The sets kube-router makes (a policy's pods, by KUBE-SRC-/KUBE-DST- and its own names).
KUBE_ROUTER_IPSETS = ("KUBE-", "kube-router-")


def containerd_config(directory: Path) -> str:
    """containerd (config version 2) with its state under `directory`, CRI on runc with cgroupfs."""
    return f"""version = 2
root = "{directory}/root"
state = "{directory}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{directory}/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # Nothing here may lower an oom_score_adj below its own (the VM refuses it): cap pods' at containerd's.
  restrict_oom_score_adj = true
  # Pods' network namespaces under our state directory, not /run/netns, where other runtimes keep theirs.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{directory}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{directory}/cni"
"""


def cni_config(directory: Path) -> dict[str, object]:
    """One bridge network: host-local addresses from POD_CIDR (leases kept under `directory`), NODE_IP the
    gateway; no masquerade (pods only talk to each other and to the host)."""
    return {
        "cniVersion": "1.0.0",
        "name": "mlops-e2e",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(directory / "ipam"),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "loopback"},
        ],
    }


def kubelet_config(ca_file: Path, socket: Path, port: int, healthz_port: int) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failSwapOn": False,
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": "cluster.local",
        # No host resolver in pods: cluster DNS only, so no lookup leaves the bridge.
        "resolvConf": "",
        # Nothing can pull an image back once collected (no registry): never collect, never evict.
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
        "registerWithTaints": [{"key": NODE_TAINT, "effect": "NoSchedule"}],
        "serializeImagePulls": False,
    }


def kube_proxy_config(kubeconfig_path: Path, healthz_port: int, metrics_port: int) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig_path)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # NodePorts on the bridge address only, not on every address of the host.
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # The kernel's conntrack table is the VM's, not ours to resize.
        "conntrack": {"maxPerCore": 0},
    }


def corefile(kubeconfig_path: Path, health_port: int, ready_port: int) -> str:
    """Cluster names only (no forwarding: nothing resolves outside the cluster), on the bridge address."""
    return f""".:53 {{
    bind {CLUSTER_DNS}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig_path} e2e
        pods insecure
    }}
    cache 30
    loadbalance
}}
"""


def node_component_rbac(component: str, rules: list[dict[str, list[str]]]) -> str:
    """A ClusterRole of `rules` bound to the user `system:<component>` (its client certificate's)."""
    name = f"mlops-e2e:{component}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"system:{component}"}
        ],
    }
    return yaml.safe_dump_all([role | {"rules": rules}, binding])


READ = ["get", "list", "watch"]
# CoreDNS reads Services, EndpointSlices and Namespaces cluster-wide, as kubeadm's system:coredns role.
COREDNS_RULES = [
    {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
]
# kube-router's NetworkPolicy controller: its upstream role, less what its router and proxy would need.
KUBE_ROUTER_RULES = [
    {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
]


def local_aliases(reference: str) -> list[str]:
    """Names a locally built image also answers to: `localhost/x/y:t` is what `x/y:t` means to the
    kubelet (docker.io/x/y:t), so the chart's default references find it without a registry."""
    if reference.startswith("localhost/") and reference != SANDBOX_IMAGE:
        return [f"docker.io/{reference.removeprefix('localhost/')}"]
    return []


@dataclass(frozen=True)
class NodeBinaries:
    """The kubelet and kube-proxy beside the control plane's binaries, CoreDNS and kube-router from
    `make k8s-bins` ($MLOPS_COREDNS_BIN, $MLOPS_KUBE_ROUTER_BIN), the images from `make node-images`
    ($MLOPS_NODE_IMAGES), the rest from Debian."""

    kubelet: str
    kube_proxy: str
    coredns: str
    kube_router: str
    images: Path

    @classmethod
    def find(cls, kubernetes: Binaries) -> NodeBinaries:
        release = pinned_version("coredns", "github.com/coredns/coredns")
        coredns = os.environ.get("MLOPS_COREDNS_BIN") or ROOT / "bin" / "coredns" / release
        router = pinned_version("kube-router", "github.com/cloudnativelabs/kube-router/v2")
        kube_router = os.environ.get("MLOPS_KUBE_ROUTER_BIN") or ROOT / "bin" / "kube-router" / router
        images = os.environ.get("MLOPS_NODE_IMAGES") or ROOT / "bin" / "images"
        return cls(
            kubernetes.path("kubelet"),
            kubernetes.path("kube-proxy"),
            str(Path(coredns) / "coredns"),
            str(Path(kube_router) / "kube-router"),
            Path(images),
        )

    def missing(self) -> list[str]:
        tools = ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ipset"]
        missing = [tool for tool in tools if shutil.which(tool) is None]
        binaries = (self.kubelet, self.kube_proxy, self.coredns, self.kube_router)
        missing += [p for p in binaries if not Path(p).is_file()]
        missing += [str(CNI_BIN / "bridge")] if not (CNI_BIN / "bridge").is_file() else []
        missing += [
            str(self.images / f"{name}.tar")
            for name in NODE_IMAGES
            if not (self.images / f"{name}.tar").is_file()
        ]
        return missing


def sh(*argv: str, check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result.stdout


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def create_bridge(directory: Path) -> None:
    """The node's network before anything listens on it; the sysctls' old values kept for `sweep`."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = directory / "sysctls.json"
    if not saved.exists():
        saved.write_text(json.dumps({k: (Path("/proc/sys") / k).read_text().strip() for k in SYSCTLS}))
    for key, value in SYSCTLS.items():
        (Path("/proc/sys") / key).write_text(value)
    if not bridge_exists():
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


@dataclass
class Node:
    binaries: NodeBinaries
    plane: ControlPlane
    directory: Path
    processes: Processes = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.processes = Processes(self.directory / "logs")
        self.socket = self.directory / "containerd" / "containerd.sock"

    def ctr(self, *args: str) -> str:
        return sh("ctr", f"--address={self.socket}", "--namespace=k8s.io", *args)

    def start(self, kubectl: Kubectl) -> None:
        started = time.monotonic()
        self._credentials()
        for hierarchy in CGROUP_HIERARCHIES.iterdir():
            if (hierarchy / "cgroup.procs").exists():
                (hierarchy / CGROUP_ROOT).mkdir(exist_ok=True)
        self._start_containerd()
        self._import_images()
        kubectl("apply", "--filename=-", stdin=node_component_rbac("coredns", COREDNS_RULES))
        self._start_coredns()
        # kube-proxy waits for its Node object, which the kubelet registers.
        self._start_kubelet()
        self._start_kube_proxy()
        self._start_kube_router(kubectl)
        self.timings["node bring-up"] = time.monotonic() - started

    def _credentials(self) -> None:
        pki = self.directory / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        users = {
            "kubelet": (f"system:node:{NODE_NAME}", ("system:nodes",)),
            "kube-proxy": ("system:kube-proxy", ()),
            "coredns": ("system:coredns", ()),
            "kube-router": ("system:kube-router", ()),
        }
        for stem, (user, groups) in users.items():
            pair = self.plane.ca.issue(pki, f"{stem}-client", user, organizations=groups)
            credentials = {
                "client-certificate-data": b64(pair.cert_pem()),
                "client-key-data": b64(pair.key_pem()),
            }
            kubeconfig(
                self.directory / f"{stem}.kubeconfig",
                self.plane.server,
                self.plane.ca.pair,
                user,
                credentials,
            )

    def _start_containerd(self) -> None:
        directory = self.socket.parent
        (directory / "cni").mkdir(parents=True, exist_ok=True)
        (directory / "cni" / "10-mlops-e2e.conflist").write_text(json.dumps(cni_config(directory), indent=2))
        config = directory / "config.toml"
        config.write_text(containerd_config(directory))
        self.processes.start("containerd", ["containerd", f"--config={config}"])
        self.timings["containerd"] = wait_until(
            lambda: (
                subprocess.run(["ctr", f"--address={self.socket}", "version"], capture_output=True).returncode
                == 0
            ),
            "containerd",
            lambda: self.processes.check("containerd"),
            60,
        )

    def _import_images(self) -> None:
        started = time.monotonic()
        for archive in sorted(self.binaries.images.glob("*.tar")):
            if archive.name == "base.tar":
                continue
            output = self.ctr("images", "import", str(archive))
            for line in output.splitlines():
                # "unpacking localhost/x:t (sha256:...)...done"
                if line.startswith("unpacking "):
                    reference = line.split()[1]
                    for alias in local_aliases(reference):
                        self.ctr("images", "tag", "--force", reference, alias)
        self.timings["image import"] = time.monotonic() - started

    def _start_until_healthy(self, name: str, argv: list[str], health_url: str, timeout: float = 60) -> None:
        """Start `name` and wait for its health endpoint, recording the time it took."""
        self.processes.start(name, argv)
        self.timings[name] = wait_until(
            lambda: http_ok(health_url), f"{name} {health_url}", lambda: self.processes.check(name), timeout
        )

    def _start_coredns(self) -> None:
        health, ready = free_port(), free_port()
        config = self.directory / "Corefile"
        config.write_text(corefile(self.directory / "coredns.kubeconfig", health, ready))
        self._start_until_healthy(
            "coredns", [self.binaries.coredns, "-conf", str(config)], f"http://127.0.0.1:{ready}/ready"
        )

    def _start_kube_proxy(self) -> None:
        healthz = free_port()
        config = self.directory / "kube-proxy.yaml"
        config.write_text(
            yaml.safe_dump(kube_proxy_config(self.directory / "kube-proxy.kubeconfig", healthz, free_port()))
        )
        self._start_until_healthy(
            "kube-proxy",
            [self.binaries.kube_proxy, f"--config={config}"],
            f"http://127.0.0.1:{healthz}/healthz",
        )

    def _start_kube_router(self, kubectl: Kubectl) -> None:
        """kube-router with only its NetworkPolicy controller: each pod a policy selects gets a firewall chain
        (iptables, ipsets of the peers' addresses) that drops what no policy admits; the node's own traffic
        (the kubelet's probes) is admitted, as the NetworkPolicy API says."""
        kubectl("apply", "--filename=-", stdin=node_component_rbac("kube-router", KUBE_ROUTER_RULES))
        health = free_port()
        self._start_until_healthy(
            "kube-router",
            [
                self.binaries.kube_router,
                f"--kubeconfig={self.directory / 'kube-router.kubeconfig'}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--health-port={health}",
            ],
            f"http://127.0.0.1:{health}/healthz",
        )

    def _start_kubelet(self) -> None:
        healthz = free_port()
        config = self.directory / "kubelet.yaml"
        config.write_text(
            yaml.safe_dump(kubelet_config(self.plane.ca.pair.cert, self.socket, free_port(), healthz))
        )
        self._start_until_healthy(
            "kubelet",
            [
                self.binaries.kubelet,
                f"--config={config}",
                f"--kubeconfig={self.directory / 'kubelet.kubeconfig'}",
                f"--root-dir={self.directory / 'kubelet'}",
                f"--cert-dir={self.directory / 'kubelet' / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
            ],
            f"http://127.0.0.1:{healthz}/healthz",
            timeout=120,
        )

    def stop(self, kubectl: Kubectl) -> None:
        """Pods first, through the kubelet (so CNI releases their addresses and namespaces), then the
        processes, then `sweep` for whatever an interrupted pod teardown left."""
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            kubectl(
                "delete",
                "jobs,deployments,statefulsets,replicasets,daemonsets",
                "--all",
                "--all-namespaces",
                "--wait=false",
            )
            kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=2", "--timeout=90s")
        self.processes.stop_all()
        sh(self.binaries.kube_proxy, "--cleanup", check=False)
        sh(self.binaries.kube_router, "--cleanup-config", check=False)
        sweep(self.directory)


def _node_processes(directory: Path) -> list[int]:
    """Pids of whatever names the node's directory in its command line (its own processes, containerd's
    shims by their socket), and of anything in its cgroup tree (the containers)."""
    marker = f"{directory}/"
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.add(int(proc.name))
    for tasks in CGROUP_HIERARCHIES.glob(f"*/{CGROUP_ROOT}/**/cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in tasks.read_text().split())
    pids.discard(os.getpid())
    return sorted(pids)


def _node_mounts(directory: Path) -> list[str]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(f"{directory}/"):
            mounts.append(point)
    return mounts


IPTABLES_TABLES = ("nat", "filter", "mangle")


def _iptables_rules(table: str) -> list[str]:
    """The node's rules and chains in `table` (kube-proxy's and the kubelet's KUBE-*; its CNI network adds
    none), as `iptables -S` prints them: the arguments that would add each."""
    dump = sh("iptables", "-t", table, "-S", check=False)
    return [rule for rule in dump.splitlines() if "KUBE-" in rule]


def _remove_iptables_rules() -> None:
    """What kube-proxy's --cleanup leaves (the kubelet's KUBE-FIREWALL): rules first, then empty chains."""
    for table in IPTABLES_TABLES:
        rules = [shlex.split(rule) for rule in _iptables_rules(table)]
        for words in rules:
            if words[0] == "-A":
                sh("iptables", "-t", table, "-D", *words[1:], check=False)
        for words in rules:
            if words[0] == "-N":
                sh("iptables", "-t", table, "-X", words[1], check=False)


def _ipsets() -> list[str]:
    """The ipsets kube-router made (none else on the machine is touched)."""
    if shutil.which("ipset") is None:
        return []
    names = sh("ipset", "list", "-name", check=False).split()
    return [name for name in names if name.startswith(KUBE_ROUTER_IPSETS)]


def sets_holding(address: str) -> int:
    """How many of kube-router's ipsets hold `address`: a pod is a policy's peer once it is in that
    policy's source set (kube-router adds a new pod's address moments after the pod starts)."""
    members = sh("ipset", "list", check=False)
    return sum(
        1
        for block in members.split("\nName: ")
        if block.split("\n", 1)[0].removeprefix("Name: ").strip().startswith(KUBE_ROUTER_IPSETS)
        and address in block.split("Members:", 1)[-1].split()
    )


def leftovers(directory: Path) -> list[str]:
    """What a node under `directory` left behind: each an item `sweep` removes."""
    found = [f"process {pid}" for pid in _node_processes(directory)]
    found += [f"mount {point}" for point in _node_mounts(directory)]
    found += [f"link {BRIDGE}"] if bridge_exists() else []
    found += [f"cgroup {c}" for c in CGROUP_HIERARCHIES.glob(f"*/{CGROUP_ROOT}")]
    found += [f"iptables -t {table} {rule}" for table in IPTABLES_TABLES for rule in _iptables_rules(table)]
    found += [f"ipset {name}" for name in _ipsets()]
    return found


def sweep(directory: Path) -> None:
    """Remove everything a node under `directory` created, whatever state it was left in."""
    for _ in range(3):
        pids = _node_processes(directory)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    for point in sorted(_node_mounts(directory), key=len, reverse=True):
        sh("umount", "--lazy", point, check=False)
    if bridge_exists():
        sh("ip", "link", "del", BRIDGE, check=False)
    for cgroup in CGROUP_HIERARCHIES.glob(f"*/{CGROUP_ROOT}"):
        for child in sorted(
            (p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            cgroup.rmdir()
    _remove_iptables_rules()
    for name in _ipsets():  # after the rules that match them
        sh("ipset", "destroy", name, check=False)
    saved = directory / "sysctls.json"
    if saved.exists():
        for key, value in json.loads(saved.read_text()).items():
            (Path("/proc/sys") / key).write_text(value)
        saved.unlink()


if __name__ == "__main__":
    # `python -m tests.e2e.node DIR`: after the tests, anything left is a teardown bug: say so, remove, fail.
    node_directory = Path(sys.argv[1])
    if left := leftovers(node_directory):
        sweep(node_directory)
        sys.exit("left behind by the node after the tests (now removed):\n  " + "\n  ".join(left))
