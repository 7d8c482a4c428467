"""The Pod Security Standards' "restricted" profile (baseline included) as checks on a pod spec.

From https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy version v1.34): the rules
the API server's PodSecurity admission applies in a namespace labelled
`pod-security.kubernetes.io/enforce: restricted`. Each returns what breaks it, naming the container or volume.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_TYPES = {None, "RuntimeDefault", "Localhost"}


def all_containers(spec: Json) -> Iterator[Json]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def restricted_violations(spec: Json) -> list[str]:
    """Every way this pod spec breaks the restricted profile; empty when the namespace would admit it."""
    pod = spec.get("securityContext") or {}
    problems = [f"{field}: true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    problems += _pod_context_problems(pod)
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: type {', '.join(sorted(kinds))} not allowed")
    for container in all_containers(spec):
        problems += [f"{container['name']}: {p}" for p in _container_problems(container, pod)]
    return problems


def _pod_context_problems(pod: Json) -> list[str]:
    problems = []
    if pod.get("runAsUser") == 0:
        problems.append("pod runAsUser: 0")
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("pod windowsOptions.hostProcess: true")
    problems += _selinux_problems("pod", pod.get("seLinuxOptions") or {})
    if (pod.get("appArmorProfile") or {}).get("type") not in APPARMOR_TYPES:
        problems.append("pod appArmorProfile not RuntimeDefault or Localhost")
    unsafe = [s["name"] for s in pod.get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]
    if unsafe:
        problems.append(f"pod sysctls not allowed: {', '.join(unsafe)}")
    seccomp = (pod.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in SECCOMP_TYPES:
        problems.append(f"pod seccompProfile {seccomp}")
    return problems


def _selinux_problems(where: str, options: Json) -> list[str]:
    problems = []
    if options.get("type") not in SELINUX_TYPES:
        problems.append(f"{where} seLinuxOptions.type {options['type']}")
    if options.get("user") or options.get("role"):
        problems.append(f"{where} seLinuxOptions user/role set")
    return problems


def _container_problems(container: Json, pod: Json) -> list[str]:
    context = container.get("securityContext") or {}
    problems = []
    if context.get("privileged"):
        problems.append("privileged: true")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation must be false")
    run_as_non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if run_as_non_root is not True:
        problems.append("runAsNonRoot must be true (on the container or the pod)")
    if context.get("runAsUser") == 0:
        problems.append("runAsUser: 0")
    seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        problems.append(f"seccompProfile must be RuntimeDefault or Localhost, got {seccomp}")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append("capabilities must drop ALL")
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        problems.append(f"capabilities added: {', '.join(sorted(added))}")
    if any(port.get("hostPort") for port in container.get("ports") or []):
        problems.append("hostPort set")
    if context.get("procMount") not in (None, "Default"):
        problems.append(f"procMount {context['procMount']}")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("windowsOptions.hostProcess: true")
    if (context.get("appArmorProfile") or {}).get("type") not in APPARMOR_TYPES:
        problems.append("appArmorProfile not RuntimeDefault or Localhost")
    problems += _selinux_problems("container", context.get("seLinuxOptions") or {})
    return problems
