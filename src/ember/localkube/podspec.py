"""Pure pieces of the process kubelet: what to run for a pod, and what status to report.

Nothing here touches processes, files or the network. The kubelet feeds these functions the pod
(a plain dict as the API serves it) and the facts it observed (exit code, OOM kill, times), and
patches the returned status through the status subresource.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

Pod = Mapping[str, Any]
Status = dict[str, Any]

#: Exit code the kubelet reports when the command cannot be executed (as a shell would).
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


class ContainerConfigError(Exception):
    """The container cannot be configured (a missing configMap/secret key, a bad fieldRef)."""


def first_container(pod: Pod) -> Mapping[str, Any]:
    containers = pod.get("spec", {}).get("containers") or []
    if not containers:
        msg = "the pod has no containers"
        raise ContainerConfigError(msg)
    return containers[0]


def memory_limit(container: Mapping[str, Any]) -> str | None:
    """The container's memory limit quantity, or None."""
    limits = (container.get("resources") or {}).get("limits") or {}
    value = limits.get("memory")
    return None if value is None else str(value)


_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_value(pod: Pod, path: str, *, pod_ip: str, host_ip: str, node_name: str) -> str:
    """The downward-API value of ``fieldRef.fieldPath`` for this pod."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName") or node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_PATH.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    msg = f"unsupported fieldRef.fieldPath {path!r}"
    raise ContainerConfigError(msg)


KeyLookup = Callable[[str, str, str], "str | None"]
"""``lookup(namespace, object_name, key) -> value or None`` for configMaps or secrets."""


def resolve_env(
    pod: Pod,
    container: Mapping[str, Any],
    *,
    pod_ip: str,
    host_ip: str,
    node_name: str,
    config_map_key: KeyLookup,
    secret_key: KeyLookup,
) -> dict[str, str]:
    """The container's ``env`` as a dict, with ``valueFrom`` and ``$(VAR)`` references resolved.

    ``envFrom`` is not supported. A missing non-optional key raises ``ContainerConfigError``.
    """
    namespace = pod.get("metadata", {}).get("namespace", "default")
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        name = item["name"]
        source = item.get("valueFrom")
        if source is None:
            env[name] = expand_references(str(item.get("value", "")), env)
            continue
        if "fieldRef" in source:
            env[name] = field_value(
                pod, source["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip, node_name=node_name,
            )
            continue
        for kind, lookup in (("configMapKeyRef", config_map_key), ("secretKeyRef", secret_key)):
            if kind in source:
                ref = source[kind]
                value = lookup(namespace, ref["name"], ref["key"])
                if value is not None:
                    env[name] = value
                elif not ref.get("optional", False):
                    msg = f"{kind} {ref['name']!r} has no key {ref['key']!r} (env var {name})"
                    raise ContainerConfigError(msg)
                break
        else:
            msg = f"unsupported valueFrom for env var {name}: {sorted(source)}"
            raise ContainerConfigError(msg)
    return env


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` as Kubernetes does: unknown names stay as they are, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


@dataclasses.dataclass(frozen=True)
class Mount:
    """A volume mount: where the pod expects it and the local directory that stands in for it."""

    name: str
    mount_path: str
    local_path: str

    @property
    def env_name(self) -> str:
        return "EMBER_MOUNT_" + re.sub(r"[^A-Za-z0-9]", "_", self.name).upper()


def rewrite_paths(text: str, mounts: list[Mount]) -> str:
    """Replace each mount path (as a whole path prefix) in ``text`` by its local directory.

    One pass over ``text``, longest mount path first, so a replacement is never rewritten again
    (a local directory under ``/tmp`` stays as it is even when a volume is mounted at ``/tmp``).
    """
    by_prefix = {m.mount_path.rstrip("/"): m.local_path for m in mounts if m.mount_path.rstrip("/")}
    if not by_prefix:
        return text
    alternatives = "|".join(re.escape(p) for p in sorted(by_prefix, key=len, reverse=True))
    pattern = rf"(?<![\w.-])({alternatives})(?=/|$|[\s:=,;\"'])"
    return re.sub(pattern, lambda m: by_prefix[m.group(1)], text)


def command_line(container: Mapping[str, Any], env: Mapping[str, str], mounts: list[Mount]) -> list[str]:
    """``command + args`` with ``$(VAR)`` expanded and mount paths rewritten."""
    argv = [str(a) for a in (container.get("command") or [])]
    argv += [str(a) for a in (container.get("args") or [])]
    if not argv:
        msg = "the container has no command (images are not run, so command is required)"
        raise ContainerConfigError(msg)
    return [rewrite_paths(expand_references(arg, env), mounts) for arg in argv]


# --- termination messages -----------------------------------------------------------------------

DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: Kubernetes keeps at most 4096 bytes of a termination message, and falls back to the last
#: 2048 bytes or 80 lines of the log, whichever is smaller.
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_BYTES = 2048
FALLBACK_LOG_LINES = 80


def termination_message_path(container: Mapping[str, Any]) -> str:
    return str(container.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH)


def termination_message(container: Mapping[str, Any], *, written: bytes, log_tail: bytes,
                        exit_code: int) -> str:
    """The message of a terminated container, as a kubelet reports it.

    What the container wrote to its ``terminationMessagePath``; when that is empty, the policy is
    ``FallbackToLogsOnError`` and the container failed, the end of its log instead.
    """
    text = written[:MAX_TERMINATION_MESSAGE]
    if (not text.strip() and exit_code != 0
            and container.get("terminationMessagePolicy") == "FallbackToLogsOnError"):
        lines = log_tail[-FALLBACK_LOG_BYTES:].splitlines()[-FALLBACK_LOG_LINES:]
        text = b"\n".join(lines)
    return text.decode(errors="replace").strip()


# --- status -------------------------------------------------------------------------------------


def exit_code_of(returncode: int) -> int:
    """Popen's return code as a container exit code (killed by signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def termination_reason(exit_code: int, *, oom_killed: bool) -> str:
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


def _condition(kind: str, value: bool, now: str, reason: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind, "status": "True" if value else "False", "lastTransitionTime": now,
    }
    if reason:
        condition["reason"] = reason
    return condition


def _container_status(pod: Pod, state: dict[str, Any], *, ready: bool, started: bool) -> list[dict[str, Any]]:
    container = first_container(pod)
    image = str(container.get("image", ""))
    return [{
        "name": container.get("name", "main"), "image": image, "imageID": "",
        "ready": ready, "started": started, "restartCount": 0, "state": state,
    }]


def pending_status(pod: Pod, *, now: str, host_ip: str) -> Status:
    return {
        "phase": "Pending", "hostIP": host_ip,
        "conditions": [_condition("PodScheduled", True, now)],
        "containerStatuses": _container_status(
            pod, {"waiting": {"reason": "ContainerCreating"}}, ready=False, started=False,
        ),
    }


def running_status(pod: Pod, *, now: str, started_at: str, pod_ip: str, host_ip: str) -> Status:
    return {
        "phase": "Running", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "hostIP": host_ip,
        "startTime": started_at,
        "conditions": [
            _condition("PodScheduled", True, now), _condition("Initialized", True, now),
            _condition("ContainersReady", True, now), _condition("Ready", True, now),
        ],
        "containerStatuses": _container_status(
            pod, {"running": {"startedAt": started_at}}, ready=True, started=True,
        ),
    }


def terminated_status(
    pod: Pod,
    *,
    exit_code: int,
    oom_killed: bool,
    started_at: str,
    finished_at: str,
    pod_ip: str,
    host_ip: str,
    reason: str | None = None,
    message: str | None = None,
    termination_message: str | None = None,
) -> Status:
    """The final status: Succeeded on exit code 0 (and no OOM kill), Failed otherwise."""
    reason = reason or termination_reason(exit_code, oom_killed=oom_killed)
    succeeded = exit_code == 0 and not oom_killed
    terminated: dict[str, Any] = {
        "exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at,
    }
    if message or termination_message:
        terminated["message"] = termination_message or message
    status: Status = {
        "phase": "Succeeded" if succeeded else "Failed", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "hostIP": host_ip, "startTime": started_at,
        "conditions": [
            _condition("PodScheduled", True, finished_at), _condition("Initialized", True, finished_at),
            _condition("ContainersReady", False, finished_at, "PodCompleted"),
            _condition("Ready", False, finished_at, "PodCompleted"),
        ],
        "containerStatuses": _container_status(pod, {"terminated": terminated}, ready=False, started=False),
    }
    if message:
        status["message"] = message
    if not succeeded:
        status["reason"] = reason
    return status


def cannot_run_status(
    pod: Pod, *, now: str, host_ip: str, exit_code: int, reason: str, message: str,
) -> Status:
    """The status of a pod whose command could not be started (or configured)."""
    return terminated_status(
        pod, exit_code=exit_code, oom_killed=False, started_at=now, finished_at=now,
        pod_ip="", host_ip=host_ip, reason=reason, message=message,
    )
