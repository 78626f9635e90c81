"""The process kubelet: runs pods as local processes for the local Kubernetes substrate.

It watches pods in all namespaces through any API server that speaks the Kubernetes API (the
local emulator, or a real one) using the ``kubernetes`` client, and runs each pod as a process
on this machine. It is a development and test tool, not a container runtime:

- **What runs.** The *first* container's ``command`` + ``args`` (``$(VAR)`` expanded), in the
  environment of the kubelet itself. The image is recorded in the status but never pulled; init
  and sidecar containers are ignored. A container without ``command`` fails the pod. This
  machine's Python environment stands in for every image: its ``bin`` directory comes first on
  ``PATH`` (so ``ember`` runs the installed package), and ``image_paths`` maps directories the
  image would hold (``/opt/ember`` for ember's examples) to local ones, rewritten like mounts.
- **Which pods.** Pods whose ``spec.nodeName`` is empty or equals the kubelet's ``node_name``
  (there is no scheduler, so unbound pods are taken). ``spec.nodeName`` as seen through the
  downward API is the kubelet's ``node_name`` for unbound pods.
- **Network.** Pods share the host network: every pod's ``podIP`` is ``127.0.0.1`` (and so is
  ``hostIP``). Pod processes must bind ephemeral ports and advertise them; two pods binding the
  same fixed port conflict. Services get no DNS names.
- **Environment.** The kubelet's own environment, then ``HOSTNAME`` = pod name, ``KUBECONFIG``
  (when the kubelet was given a kubeconfig file, so pods can reach the API as an in-cluster
  client would), then the container's ``env``: literal values, ``valueFrom.fieldRef``
  (``metadata.name``, ``metadata.namespace``, ``metadata.uid``, ``metadata.labels['x']``,
  ``metadata.annotations['x']``, ``status.podIP``, ``status.hostIP``, ``spec.nodeName``,
  ``spec.serviceAccountName``), ``configMapKeyRef`` and ``secretKeyRef`` (read through the API).
  ``envFrom`` is not supported.
- **Volumes and paths.** Each volume gets a real directory and each ``volumeMounts[]`` entry is
  made visible in two ways: the env var ``EMBER_MOUNT_<NAME>`` (the mount's *volume* name,
  upper-cased, non-alphanumerics as ``_``) holds the local directory, and every occurrence of the
  ``mountPath`` as a path prefix in ``command``, ``args``, literal env values and ``workingDir``
  is rewritten to that directory. ``emptyDir``, ``configMap`` and ``secret`` volumes live under
  the pod's sandbox ``<work_dir>/pods/<namespace>_<name>_<uid>/volumes/<volume>`` (configMap and
  secret keys, or their ``items``, are written as files); a ``hostPath`` volume *is* the host
  directory (created when missing), read-write. ``subPath`` is honoured; ``readOnly`` is not.
- **Working directory.** ``workingDir`` (rewritten) if it exists on this machine, otherwise the
  pod's sandbox directory.
- **Status** goes through the status subresource (merge patches): ``Pending`` (PodScheduled),
  ``Running`` (podIP, hostIP, startTime, running containerStatuses, Ready), then ``Succeeded`` or
  ``Failed`` with the exit code, ``finishedAt`` and reason ``Completed``, ``Error`` or
  ``OOMKilled``. A command that cannot be executed fails the pod with reason
  ``ContainerCannotRun`` (exit code 127, or 126 when not executable) and a message; an env or
  volume that cannot be resolved fails it with ``CreateContainerConfigError`` (a real kubelet
  would keep retrying).
- **Termination messages.** The container's ``terminationMessagePath`` (default
  ``/dev/termination-log``) is a file in the sandbox, rewritten like a mount path; what the
  process wrote there becomes ``state.terminated.message`` (``FallbackToLogsOnError`` takes the
  end of the log when the file is empty and the container failed).
- **restartPolicy** is always treated as ``Never``: the pod ends when its process ends.
- **Memory limits.** As root with a writable cgroup memory controller (v2, or v1), each pod
  process runs in its own cgroup whose limit is ``resources.limits.memory``; going over it gets
  the process killed, reported as exit code 137 and ``OOMKilled``. Otherwise the kubelet logs once,
  at start-up, that limits are not enforced.
- **Deletion.** When a pod is deleted or gets a ``deletionTimestamp``, its process group gets
  SIGTERM, then SIGKILL after ``metadata.deletionGracePeriodSeconds`` (or
  ``spec.terminationGracePeriodSeconds``, default 30). If the object is still there afterwards it
  is deleted with grace period 0, which is how a kubelet confirms the deletion. :meth:`Kubelet.stop`
  ends every process it started.
- **Logs.** stdout and stderr go to ``<work_dir>/pods/<namespace>_<name>_<uid>/container.log``.
  :meth:`Kubelet.log_text` is the function the API emulator serves ``pods/{name}/log`` from;
  :meth:`Kubelet.logs` and :meth:`Kubelet.log_source` read them with a tail or by following.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from ember.localkube import cgroups, podlogs, podspec

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30
MERGE_PATCH = "application/merge-patch+json"


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(limit)
    except OSError:
        return b""


def _tail_bytes(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read()
    except OSError:
        return b""


def now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def core_api(*, kubeconfig: str | os.PathLike[str] | None = None, url: str | None = None) -> client.CoreV1Api:
    """A CoreV1Api client from a kubeconfig file, or from a plain (unauthenticated) URL."""
    if kubeconfig is not None:
        return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    if url is None:
        msg = "the kubelet needs an API server\n\npass kubeconfig=PATH or url=http://127.0.0.1:PORT"
        raise ValueError(msg)
    configuration = client.Configuration()
    configuration.host = url.rstrip("/")
    return client.CoreV1Api(client.ApiClient(configuration))


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata", {})
    return str(meta.get("uid") or f"{meta.get('namespace', 'default')}/{meta.get('name')}")


def grace_seconds(pod: Mapping[str, Any]) -> float:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    for value in (meta.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        if value is not None:
            return float(value)
    return float(DEFAULT_GRACE_SECONDS)


@dataclasses.dataclass
class PodProcess:
    """What the kubelet knows about one pod it runs."""

    pod: dict[str, Any]
    sandbox: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    cgroup: cgroups.MemoryCgroup | None = None
    started_at: str = ""
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    deleting: threading.Event = dataclasses.field(default_factory=threading.Event)
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace", "default"))

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    def signal(self, signum: int) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        if signum == signal.SIGKILL and self.cgroup is not None:
            self.cgroup.kill()

    def terminate(self, grace: float) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
        with self.lock:
            self.deleting.set()
            process = self.process
        if process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            process.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            process.wait()


class Kubelet:
    """Runs the pods an API server holds as local processes (see the module docstring).

    >>> kubelet = Kubelet(url="http://127.0.0.1:6443", work_dir="/tmp/kubelet")  # doctest: +SKIP
    >>> kubelet.start()  # doctest: +SKIP
    >>> "".join(kubelet.log_source("default", "hello"))  # doctest: +SKIP
    >>> kubelet.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        work_dir: str | os.PathLike[str],
        kubeconfig: str | os.PathLike[str] | None = None,
        url: str | None = None,
        api: client.CoreV1Api | None = None,
        node_name: str = "localkube",
        pod_ip: str = "127.0.0.1",
        enforce_memory_limits: bool = True,
        watch_poll_seconds: float = 1.0,
        image_paths: Mapping[str, str] | None = None,
    ) -> None:
        self.api = api if api is not None else core_api(kubeconfig=kubeconfig, url=url)
        self.kubeconfig = None if kubeconfig is None else str(Path(kubeconfig).resolve())
        self.work_dir = Path(work_dir)
        self.node_name = node_name
        self.pod_ip = pod_ip
        self.host_ip = pod_ip
        self.enforce_memory_limits = enforce_memory_limits
        self.watch_poll_seconds = watch_poll_seconds
        self.image_mounts = [
            podspec.Mount(name="image", mount_path=inside, local_path=str(local))
            for inside, local in (image_paths or {}).items()
        ]
        self.memory: cgroups.MemoryHierarchy | None = None
        self.logs_store = podlogs.LogStore()
        self._pods: dict[str, PodProcess] = {}
        self._pods_lock = threading.Lock()
        # Peak memory of each ended pod's cgroup, kept after the pod is gone (see peak_memory).
        self._peaks: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Check the memory controller, then start watching pods in a background thread."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.enforce_memory_limits:
            self.memory, reason = cgroups.probe()
            if self.memory is None:
                logger.warning("memory limits are not enforced: %s", reason)
            else:
                logger.info("memory limits are enforced with the %s", reason)
        else:
            logger.warning("memory limits are not enforced: disabled by configuration")
        self._watcher = threading.Thread(target=self._watch_forever, name="kubelet-watch", daemon=True)
        self._watcher.start()

    def stop(self, *, grace_seconds: float = 2.0) -> None:
        """Stop watching and end every process this kubelet started (SIGTERM, then SIGKILL)."""
        self._stopping.set()
        with self._pods_lock:
            running = list(self._pods.values())
        stoppers = [
            threading.Thread(target=pod.terminate, args=(grace_seconds,), daemon=True) for pod in running
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._watcher is not None:
            self._watcher.join(timeout=self.watch_poll_seconds + 5)
        if self.memory is not None:
            self.memory.remove_parent()

    def __enter__(self) -> Kubelet:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- logs -----------------------------------------------------------------------------------

    def logs(self, namespace: str, name: str, *, tail_lines: int | None = None) -> str:
        """The pod's captured stdout and stderr. Raises LookupError for a pod never run here."""
        return self.logs_store.read(namespace, name, tail_lines=tail_lines)

    def follow_logs(self, namespace: str, name: str, *, tail_lines: int | None = None) -> Iterator[str]:
        """Yield the log, then new output as it comes, until the pod's process has ended."""
        return self.logs_store.follow(namespace, name, tail_lines=tail_lines)

    def log_source(
        self, namespace: str, name: str, *, follow: bool = False, tail_lines: int | None = None,
    ) -> Iterator[str]:
        """The log source for an API emulator's ``pods/{name}/log``.

        Signature: ``(namespace, name, *, follow=False, tail_lines=None) -> Iterator[str]``. It
        yields text chunks (one chunk unless following; a following iterator blocks between chunks,
        so async servers should iterate it in a thread) and raises LookupError when this kubelet
        never ran the pod.
        """
        if follow:
            return self.follow_logs(namespace, name, tail_lines=tail_lines)
        return iter([self.logs(namespace, name, tail_lines=tail_lines)])

    def peak_memory(self, namespace: str, name: str) -> int | None:
        """Bytes of memory at the peak of a pod's cgroup: read live while it runs, kept after it
        ends. None when limits are not enforced, the pod had no memory limit, or the kernel does not
        report a peak. (A kubelet reports no such figure; this is for benchmarks on this machine.)"""
        with self._pods_lock:
            running = [p for p in self._pods.values()
                       if (p.namespace, p.name) == (namespace, name) and not p.done.is_set()]
        for pod_process in running:
            live = None if pod_process.cgroup is None else pod_process.cgroup.peak_bytes()
            if live is not None:
                return live
        return self._peaks.get(f"{namespace}/{name}")

    def log_text(self, namespace: str, name: str, container: str | None = None) -> str:
        """The pod's whole log so far, or "" for a pod never run here.

        This is the emulator's ``LogSource`` signature, ``(namespace, name, container) -> str``
        (give it with ``kube.set_log_source(kubelet.log_text)``); ``container`` is ignored since
        only the first container runs. It only reads a file, so it is safe to call on an event loop.
        """
        try:
            return self.logs(namespace, name)
        except LookupError:
            return ""

    # --- watching -------------------------------------------------------------------------------

    def _watch_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self._list_and_watch()
            except Exception as exc:  # noqa: BLE001 - reconnect on any failure; the watch is the heart
                if self._stopping.is_set():
                    return
                if "timed out" not in str(exc).lower():
                    logger.debug("pod watch interrupted: %s", exc)
                    self._stopping.wait(0.2)

    def _list_and_watch(self) -> None:
        response = self.api.list_pod_for_all_namespaces(_preload_content=False)
        listing = json.loads(response.data)
        items = listing.get("items") or []
        self._reconcile(items)
        resource_version = (listing.get("metadata") or {}).get("resourceVersion")
        kwargs: dict[str, Any] = {"timeout_seconds": 60, "_request_timeout": (5, self.watch_poll_seconds)}
        if resource_version and str(resource_version).isdigit():
            kwargs["resource_version"] = resource_version
        stream = watch.Watch().stream(self.api.list_pod_for_all_namespaces, deserialize=False, **kwargs)
        for event in stream:
            if self._stopping.is_set():
                return
            pod = event.get("object")
            if isinstance(pod, dict) and event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                self._handle(event["type"], pod)

    def _owns(self, pod: Mapping[str, Any]) -> bool:
        return (pod.get("spec") or {}).get("nodeName") in (None, "", self.node_name)

    def _reconcile(self, items: list[dict[str, Any]]) -> None:
        present = {pod_key(pod) for pod in items}
        for pod in items:
            self._handle("ADDED", pod)
        with self._pods_lock:
            vanished = [p for key, p in self._pods.items() if key not in present and not p.done.is_set()]
        for pod_process in vanished:
            self._handle("DELETED", pod_process.pod)

    def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        if not self._owns(pod):
            return
        key = pod_key(pod)
        with self._pods_lock:
            known = self._pods.get(key)
        if kind == "DELETED" or pod.get("metadata", {}).get("deletionTimestamp"):
            if known is None:
                if kind != "DELETED":
                    self._spawn(self._finalize, pod)
            elif not known.deleting.is_set():
                known.deleting.set()
                self._spawn(self._delete, known, grace_seconds(pod))
            return
        if known is not None or (pod.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
            return
        meta = pod["metadata"]
        sandbox_name = f"{meta.get('namespace', 'default')}_{meta['name']}_{meta.get('uid', '')}"
        sandbox = self.work_dir / "pods" / sandbox_name
        pod_process = PodProcess(pod=pod, sandbox=sandbox, log_path=sandbox / "container.log")
        with self._pods_lock:
            self._pods[key] = pod_process
        self.logs_store.register(
            pod_process.namespace, pod_process.name, pod_process.log_path, finished=pod_process.done.is_set,
        )
        self._spawn(self._run, pod_process)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # --- running one pod ------------------------------------------------------------------------

    def _run(self, pod_process: PodProcess) -> None:
        pod = pod_process.pod
        try:
            self._patch_status(pod, podspec.pending_status(pod, now=now_iso(), host_ip=self.host_ip))
            try:
                argv, env, cwd, limit = self._prepare(pod_process)
            except (podspec.ContainerConfigError, ValueError, OSError, ApiException) as exc:
                self._fail(pod, reason="CreateContainerConfigError", exit_code=1, message=str(exc))
                return
            with pod_process.lock:
                if pod_process.deleting.is_set():
                    return
                try:
                    self._launch(pod_process, argv, env=env, cwd=cwd, limit=limit)
                except OSError as exc:
                    not_executable = isinstance(exc, PermissionError)
                    code = podspec.EXIT_NOT_EXECUTABLE if not_executable else podspec.EXIT_NOT_FOUND
                    message = f"failed to start container command {argv[0]!r}: {exc.strerror or exc}"
                    self._fail(pod, reason="ContainerCannotRun", exit_code=code, message=message)
                    return
            self._patch_status(pod, podspec.running_status(
                pod, now=now_iso(), started_at=pod_process.started_at,
                pod_ip=self.pod_ip, host_ip=self.host_ip,
            ))
            self._wait(pod_process)
        finally:
            pod_process.done.set()

    def _prepare(self, pod_process: PodProcess) -> tuple[list[str], dict[str, str], Path, int | None]:
        pod = pod_process.pod
        container = podspec.first_container(pod)
        pod_process.sandbox.mkdir(parents=True, exist_ok=True)
        mounts = self._materialise_volumes(pod_process)
        image_env = {mount.env_name for mount in self.image_mounts}
        mounts += self.image_mounts
        termination_log = pod_process.sandbox / "termination-log"
        termination_log.touch()
        mounts.append(podspec.Mount("termination-log", podspec.termination_message_path(container),
                                    str(termination_log)))
        image_env.add(mounts[-1].env_name)
        pod_env = podspec.resolve_env(
            pod, container, pod_ip=self.pod_ip, host_ip=self.host_ip, node_name=self.node_name,
            config_map_key=self._config_map_key, secret_key=self._secret_key,
        )
        literal = {item["name"] for item in container.get("env") or [] if "valueFrom" not in item}
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
        env["HOSTNAME"] = pod_process.name
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = self.kubeconfig
        for name, value in pod_env.items():
            env[name] = podspec.rewrite_paths(value, mounts) if name in literal else value
        for mount in mounts:
            if mount.env_name not in image_env:
                env[mount.env_name] = mount.local_path
        env["EMBER_POD_SANDBOX"] = str(pod_process.sandbox)
        argv = podspec.command_line(container, pod_env, mounts)
        cwd = pod_process.sandbox
        if container.get("workingDir"):
            wanted = Path(podspec.rewrite_paths(str(container["workingDir"]), mounts))
            if wanted.is_dir():
                cwd = wanted
        quantity = podspec.memory_limit(container)
        limit = None if quantity is None else cgroups.parse_quantity(quantity)
        return argv, env, cwd, limit

    def _launch(
        self, pod_process: PodProcess, argv: list[str], *, env: dict[str, str], cwd: Path, limit: int | None,
    ) -> None:
        cgroup = None
        if limit is not None and self.memory is not None:
            cgroup_name = "pod-" + pod_key(pod_process.pod).replace("/", "_")
            cgroup = self.memory.create(cgroup_name, limit_bytes=limit)
        with pod_process.log_path.open("ab") as log:
            pod_process.process = subprocess.Popen(  # noqa: S603 - running the pod's command is the point
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=None if cgroup is None else cgroup.join,  # noqa: PLW1509
            )
        pod_process.cgroup = cgroup
        pod_process.started_at = now_iso()

    def _wait(self, pod_process: PodProcess) -> None:
        assert pod_process.process is not None
        returncode = pod_process.process.wait()
        oom_killed = pod_process.cgroup is not None and pod_process.cgroup.oom_kills() > 0
        if pod_process.cgroup is not None:
            peak = pod_process.cgroup.peak_bytes()
            if peak is not None:
                self._peaks[f"{pod_process.namespace}/{pod_process.name}"] = peak
                logger.info("pod %s/%s used at most %.0f MiB", pod_process.namespace, pod_process.name,
                            peak / 2**20)
            pod_process.cgroup.remove()
        if self._stopping.is_set():
            return
        exit_code = podspec.exit_code_of(returncode)
        message = podspec.termination_message(
            podspec.first_container(pod_process.pod), exit_code=exit_code,
            written=_read_bytes(pod_process.sandbox / "termination-log", podspec.MAX_TERMINATION_MESSAGE),
            log_tail=_tail_bytes(pod_process.log_path, podspec.FALLBACK_LOG_BYTES))
        self._patch_status(pod_process.pod, podspec.terminated_status(
            pod_process.pod, exit_code=exit_code, oom_killed=oom_killed, started_at=pod_process.started_at,
            finished_at=now_iso(), pod_ip=self.pod_ip, host_ip=self.host_ip,
            termination_message=message or None,
        ))

    def _fail(self, pod: Mapping[str, Any], *, reason: str, exit_code: int, message: str) -> None:
        meta = pod["metadata"]
        logger.info("pod %s/%s failed: %s", meta.get("namespace"), meta["name"], message)
        self._patch_status(pod, podspec.cannot_run_status(
            pod, now=now_iso(), host_ip=self.host_ip, exit_code=exit_code, reason=reason, message=message,
        ))

    def _delete(self, pod_process: PodProcess, grace: float) -> None:
        pod_process.terminate(grace)
        pod_process.done.wait(timeout=grace + 10)
        self._finalize(pod_process.pod)

    def _finalize(self, pod: Mapping[str, Any]) -> None:
        """Confirm a graceful deletion: delete the object with grace 0 if it is still there."""
        if self._stopping.is_set():
            return
        meta = pod["metadata"]
        with contextlib.suppress(ApiException):
            self.api.delete_namespaced_pod(
                meta["name"], meta.get("namespace", "default"), grace_period_seconds=0, _request_timeout=5,
            )

    # --- API reads and writes -------------------------------------------------------------------

    def _patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self.api.patch_namespaced_pod_status(
                meta["name"], meta.get("namespace", "default"), {"status": status},
                _content_type=MERGE_PATCH, _request_timeout=10,
            )
        except ApiException as exc:
            if exc.status != 404:  # a pod deleted under us has no status to report
                logger.warning(
                    "cannot patch the status of pod %s/%s: %s", meta.get("namespace"), meta["name"], exc,
                )
        except Exception as exc:  # noqa: BLE001 - the API may be gone during shutdown
            logger.debug("cannot patch the status of pod %s: %s", meta["name"], exc)

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        api = self.api
        reader = api.read_namespaced_config_map if kind == "configmap" else api.read_namespaced_secret
        try:
            response = reader(name, namespace, _preload_content=False, _request_timeout=10)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(json.loads(response.data))

    def _config_map_key(self, namespace: str, name: str, key: str) -> str | None:
        obj = self._read("configmap", namespace, name) or {}
        value = (obj.get("data") or {}).get(key)
        return None if value is None else str(value)

    def _secret_key(self, namespace: str, name: str, key: str) -> str | None:
        obj = self._read("secret", namespace, name) or {}
        if key in (obj.get("stringData") or {}):
            return str(obj["stringData"][key])
        value = (obj.get("data") or {}).get(key)
        return None if value is None else base64.b64decode(value).decode()

    def _volume_files(self, volume: Mapping[str, Any], namespace: str) -> dict[str, bytes] | None:
        """The files of a configMap or secret volume (None for other kinds)."""
        if "configMap" in volume:
            source, kind, name_field = volume["configMap"], "configmap", "name"
        elif "secret" in volume:
            source, kind, name_field = volume["secret"], "secret", "secretName"
        else:
            return None
        obj = self._read(kind, namespace, source[name_field])
        if obj is None:
            if source.get("optional"):
                return {}
            msg = f"{kind} {source[name_field]!r} for volume {volume['name']!r} not found"
            raise podspec.ContainerConfigError(msg)
        data: dict[str, bytes] = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        if kind == "secret":
            data = {k: base64.b64decode(v) for k, v in data.items()}
            data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        items = source.get("items")
        if items:
            return {item["path"]: data[item["key"]] for item in items if item["key"] in data}
        return data

    def _materialise_volumes(self, pod_process: PodProcess) -> list[podspec.Mount]:
        pod = pod_process.pod
        directories: dict[str, Path] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            if "hostPath" in volume:
                directory = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type") not in ("File", "FileOrCreate", "Socket", "CharDevice"):
                    directory.mkdir(parents=True, exist_ok=True)
            else:
                directory = pod_process.sandbox / "volumes" / volume["name"]
                directory.mkdir(parents=True, exist_ok=True)
                files = self._volume_files(volume, pod_process.namespace)
                for relative, content in (files or {}).items():
                    target = directory / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
            directories[volume["name"]] = directory
        mounts = []
        for mount in podspec.first_container(pod).get("volumeMounts") or []:
            if mount["name"] not in directories:
                msg = f"volumeMount {mount['name']!r} names no volume of the pod"
                raise podspec.ContainerConfigError(msg)
            local = directories[mount["name"]]
            if mount.get("subPath"):
                local = local / mount["subPath"]
                if not local.exists():
                    local.mkdir(parents=True, exist_ok=True)
            mounts.append(podspec.Mount(
                name=mount["name"], mount_path=mount["mountPath"], local_path=str(local),
            ))
        return mounts
