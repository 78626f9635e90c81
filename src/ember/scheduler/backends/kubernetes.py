"""The Kubernetes scheduler backend: executors are pods the driver creates in its namespace.

A thin adapter around `ember.scheduler.pod_allocator.PodAllocator`. It watches the app's executor
pods (label selector app-id + role=executor), relists them every
``spark.kubernetes.executor.apiPollingInterval`` (30 s), ticks the allocator for batch delays and
pending timeouts, and carries out its instructions: pods are built by
`ember.k8s.executor_pod.build_executor_pod` and created or deleted through the API, retrying API
errors with backoff (the driver never crashes on them). Lost executors go to ``on_lost`` (the
driver's executor-lost path), and ``on_fail`` is told when too many executors failed.

The Kubernetes client is passed in (``api`` a ``CoreV1Api``, ``new_watch`` making a ``Watch``),
so this layer holds no client set-up; `ember.driver.runtime` builds them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ember.core.conf import parse_seconds
from ember.k8s import executor_pod, names
from ember.scheduler import pod_allocator as pa

log = logging.getLogger("ember.backend")

LostCallback = Callable[[str, str], None]
FailCallback = Callable[[str], None]

_MAX_BACKOFF = 30.0
_TICK = 0.25


class KubernetesBackend:
    """Creates, watches and deletes the executor pods of one application."""

    def __init__(self, *, conf: Mapping[str, str], driver_url: str, api: Any,
                 new_watch: Callable[[], Any], namespace: str, driver_pod_name: str,
                 on_lost: LostCallback, on_fail: FailCallback) -> None:
        self.conf = dict(conf)
        self.driver_url = driver_url
        self.api = api
        self.new_watch = new_watch
        self.namespace = namespace
        self.driver_pod_name = driver_pod_name
        self.on_lost = on_lost
        self.on_fail = on_fail
        self.poll_interval = parse_seconds(
            conf.get("spark.kubernetes.executor.apiPollingInterval", "30s"),
            key="spark.kubernetes.executor.apiPollingInterval")
        prefix = executor_pod.pod_name_prefix(conf)
        self.allocator = pa.PodAllocator(pa.AllocatorConf.from_conf(conf),
                                         pod_name=lambda i: names.executor_pod_name(prefix, i))
        labels = executor_pod.executor_labels(conf, {})
        self.selector = (f"{names.LABEL_APP_ID}={labels[names.LABEL_APP_ID]},"
                         f"{names.LABEL_ROLE}={names.ROLE_EXECUTOR}")
        self.driver_pod: dict[str, Any] = {}
        self.template: dict[str, Any] | None = None
        self.created: list[dict[str, Any]] = []  # every pod body sent, for tests and debugging
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._work: queue.Queue[pa.Instruction | None] = queue.Queue()
        self._watch: Any = None
        self._threads: list[threading.Thread] = []

    # -- the interface DriverRuntime uses -------------------------------------------------------

    def start(self) -> None:
        raw = self._call("read the driver pod", self.api.read_namespaced_pod,
                         self.driver_pod_name, self.namespace, attempts=8)
        if raw is None:
            msg = (f"cannot read the driver's own pod {self.namespace}/{self.driver_pod_name}, "
                   "which owns the executor pods\n\ncheck POD_NAME/POD_NAMESPACE and that the "
                   "driver's service account may get, create, list, watch and delete pods")
            raise RuntimeError(msg)
        self.driver_pod = self.api.api_client.sanitize_for_serialization(raw)
        self.template = load_template(self.conf.get("spark.kubernetes.executor.podTemplateFile"))
        # Fail fast, in the driver's log, on settings the pods cannot be built from.
        executor_pod.build_executor_pod(self.conf, executor_id="0", driver_url=self.driver_url,
                                        driver_pod=self.driver_pod, template=self.template)
        for target, name in ((self._run_work, "pod-api"), (self._run_watch, "pod-watch"),
                             (self._run_ticks, "pod-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        with self._lock:
            instructions = self.allocator.start(now=time.monotonic())
        self._carry_out(instructions)

    def publish_driver_url(self, url: str) -> None:
        """Annotate the driver's own pod with its URL (the operator shows it in the status)."""
        body = {"metadata": {"annotations": {names.ANNOTATION_DRIVER_URL: url}}}
        self._call("annotate the driver pod", self.api.patch_namespaced_pod,
                   self.driver_pod_name, self.namespace, body, attempts=5)

    def kill_executor(self, executor_id: str) -> None:
        with self._lock:
            instructions = self.allocator.kill(executor_id, now=time.monotonic(),
                                               reason=f"executor {executor_id} was removed by "
                                                      "the driver")
        self._carry_out(instructions)

    def pids(self) -> dict[str, int]:
        return {}  # executors are pods; see pod_names()

    def pod_names(self) -> dict[str, str]:
        with self._lock:
            return self.allocator.pod_names()

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopping.is_set():
            return
        with self._lock:
            instructions = self.allocator.stop(now=time.monotonic())
        self._stopping.set()
        self._work.put(None)
        deadline = time.monotonic() + timeout
        for ins in instructions:
            if isinstance(ins, pa.DeletePod):
                self._delete(ins.name, deadline=deadline)
        if self._watch is not None:
            self._watch.stop()
        # The watch thread may sit in a long poll; it is a daemon and ends with its stream.
        for thread in self._threads:
            if thread.name != "pod-watch":
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- instructions ---------------------------------------------------------------------------

    def _carry_out(self, instructions: list[pa.Instruction]) -> None:
        for ins in instructions:
            if isinstance(ins, pa.ExecutorLost):
                log.warning("%s", ins.reason)
                self.on_lost(ins.executor_id, ins.reason)
            elif isinstance(ins, pa.FailApplication):
                log.error("%s", ins.reason)
                self.on_fail(ins.reason)
            else:
                self._work.put(ins)

    def _run_work(self) -> None:
        while True:
            ins = self._work.get()
            if ins is None or self._stopping.is_set():
                return
            if isinstance(ins, pa.CreatePod):
                self._create(ins.executor_id)
            elif isinstance(ins, pa.DeletePod):
                self._delete(ins.name)

    def _create(self, executor_id: str) -> None:
        body = executor_pod.build_executor_pod(
            self.conf, executor_id=executor_id, driver_url=self.driver_url,
            driver_pod=self.driver_pod, template=self.template)
        name = body["metadata"]["name"]
        log.info("creating executor pod %s", name)
        self.created.append(body)
        self._call(f"create executor pod {name}", self.api.create_namespaced_pod,
                   self.namespace, body, ok_statuses=(409,))

    def _delete(self, name: str, *, deadline: float | None = None) -> None:
        attempts = None if deadline is None else 3
        self._call(f"delete executor pod {name}", self.api.delete_namespaced_pod, name,
                   self.namespace, ok_statuses=(404,), attempts=attempts, during_stop=True)

    def _call(self, what: str, method: Callable[..., Any], *args: Any,
              ok_statuses: tuple[int, ...] = (), attempts: int | None = None,
              during_stop: bool = False) -> Any:
        """Call the API, retrying with exponential backoff; None when it gave up."""
        delay = 0.2
        tried = 0
        while True:
            tried += 1
            try:
                return method(*args)
            except Exception as exc:  # noqa: BLE001 - API and connection errors alike
                status = getattr(exc, "status", None)
                if status in ok_statuses:
                    return None
                # A refusal (invalid, forbidden) will not change by retrying for long; the
                # allocator replaces pods that never appear.
                refused = status is not None and 400 <= status < 500 and status != 429
                if (attempts is not None and tried >= attempts) or (refused and tried >= 3) or \
                        (self._stopping.is_set() and not during_stop):
                    log.error("could not %s after %d attempts: %s", what, tried, _brief(exc))
                    return None
                log.warning("could not %s (%s); retrying in %.1fs", what, _brief(exc), delay)
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    # -- observing pods -------------------------------------------------------------------------

    def _observe(self, pods: list[pa.PodObservation], *, full: bool) -> None:
        with self._lock:
            instructions = self.allocator.pods_observed(pods, now=time.monotonic(), full=full)
        self._carry_out(instructions)

    def _run_watch(self) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            self._watch = self.new_watch()
            try:
                for event in self._watch.stream(
                        self.api.list_namespaced_pod, self.namespace,
                        label_selector=self.selector, timeout_seconds=60):
                    if self._stopping.is_set():
                        return
                    seen = observation(event["object"], deleted=event["type"] == "DELETED")
                    if seen is not None:
                        self._observe([seen], full=False)
                delay = 0.2
            except Exception as exc:  # noqa: BLE001 - the relist covers what a broken watch missed
                if self._stopping.is_set():
                    return
                log.warning("watching executor pods failed (%s); retrying in %.1fs",
                            _brief(exc), delay)
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    def _run_ticks(self) -> None:
        next_relist = time.monotonic() + self.poll_interval
        while not self._stopping.wait(_TICK):
            if time.monotonic() >= next_relist:
                next_relist = time.monotonic() + self.poll_interval
                self._relist()
            with self._lock:
                instructions = self.allocator.tick(now=time.monotonic())
            self._carry_out(instructions)

    def _relist(self) -> None:
        try:
            listed = self.api.list_namespaced_pod(self.namespace, label_selector=self.selector)
        except Exception as exc:  # noqa: BLE001 - try again at the next interval
            log.warning("listing executor pods failed: %s", _brief(exc))
            return
        pods = [o for o in (observation(p) for p in listed.items) if o is not None]
        self._observe(pods, full=True)


def observation(pod: Any, *, deleted: bool = False) -> pa.PodObservation | None:
    """A client ``V1Pod`` as the allocator sees it; None for a pod without an executor id."""
    meta = pod.metadata
    executor_id = (meta.labels or {}).get(names.LABEL_EXECUTOR_ID)
    if not executor_id:
        return None
    status = pod.status
    phase = (status.phase if status else None) or "Pending"
    exit_code, reason, message = None, "", ""
    for cs in (status.container_statuses or []) if status else []:
        terminated = cs.state.terminated if cs.state else None
        if terminated is not None:
            exit_code = terminated.exit_code
            reason = terminated.reason or ""
            message = terminated.message or ""
            break
    if deleted and phase not in ("Failed", "Succeeded"):
        phase = "Deleted"
    return pa.PodObservation(meta.name, executor_id, phase, exit_code, reason, message)


def load_template(path: str | None) -> dict[str, Any] | None:
    """The executor pod template file (JSON, or YAML when PyYAML is there), if it exists."""
    if not path or not Path(path).is_file():
        return None
    text = Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        import yaml

        return yaml.safe_load(text)


def _brief(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return f"{type(exc).__name__}: {exc}"
