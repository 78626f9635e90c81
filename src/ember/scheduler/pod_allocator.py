"""The executor-pod allocator: how many executor pods to have, and what to do when they fail.

A sans-IO state machine in the manner of Spark's ExecutorPodsAllocator and
ExecutorPodsLifecycleManager. The Kubernetes backend feeds it events (`Start`, `PodsObserved`
from watch events and periodic relists, `Tick`, `KillExecutor`, `Stop`), each carrying the
time, and carries out the instructions it returns: `CreatePod`, `DeletePod`, `ExecutorLost`
(to the driver, whose TaskScheduler re-queues the executor's tasks) and `FailApplication`.

* **Target.** ``spark.executor.instances``, or with dynamic allocation the initial count
  (max of ``initialExecutors``, ``minExecutors`` and ``instances``) kept within min/max.
* **Batches.** Pods are requested ``spark.kubernetes.allocation.batch.size`` (5) at a time. The
  next batch waits until the pods of the last one run, or until a snapshot or tick at least
  ``spark.kubernetes.allocation.batch.delay`` (1 s) after it; it never holds more than a batch of
  pods pending.
* **Snapshots.** A watch event updates one pod; a relist (``full=True``) replaces the view, so a
  tracked pod missing from it is gone.
* **Pods that never start.** A pod still unseen or pending ``spark.kubernetes.allocation.
  executor.timeout`` (600 s) after it was requested is deleted and counted as never started.
* **Failures.** An executor whose pod fails, ends or disappears without being asked to is
  reported (`ExecutorLost`), its ended pod deleted, and replaced, until
  ``spark.executor.maxNumFailures`` (default max(2 x target, 3)) have failed;
  then the allocator stops and says `FailApplication`.
  Exit code 137 or ``OOMKilled`` names the memory settings to raise.
* **Stop.** `DeletePod` for every pod that still exists; nothing is reported or replaced after.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ember.core.conf import parse_seconds
from ember.errors import IllegalArgumentException
from ember.scheduler import events

__all__ = [
    "AllocatorConf", "PodAllocator", "PodObservation",
    "Start", "PodsObserved", "Tick", "KillExecutor", "Stop",
    "CreatePod", "DeletePod", "ExecutorLost", "FailApplication",
]

# Executor states.
REQUESTED = "requested"  # CreatePod given; the pod has not been seen yet
PENDING = "pending"
RUNNING = "running"
DELETING = "deleting"  # DeletePod given by the allocator (timeout, kill or stop)
GONE = "gone"

TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Deleted"})


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocatorConf:
    target: int
    batch_size: int = 5
    batch_delay: float = 1.0
    pending_timeout: float = 600.0
    max_failures: int = 3

    @classmethod
    def from_conf(cls, conf: Mapping[str, str]) -> AllocatorConf:
        """The allocator's settings from Spark's keys (values as strings, as in spark.properties).

        >>> c = AllocatorConf.from_conf({"spark.executor.instances": "4"})
        >>> c.target, c.batch_size, c.max_failures
        (4, 5, 8)
        """
        instances = _int(conf, "spark.executor.instances", "2")
        target = instances
        if str(conf.get("spark.dynamicAllocation.enabled", "false")).lower() == "true":
            low = _int(conf, "spark.dynamicAllocation.minExecutors", "0")
            high = _int(conf, "spark.dynamicAllocation.maxExecutors", str(max(instances, low, 1)))
            initial = _int(conf, "spark.dynamicAllocation.initialExecutors", str(low))
            if low > high:
                msg = (f"spark.dynamicAllocation.minExecutors ({low}) is above "
                       f"spark.dynamicAllocation.maxExecutors ({high})\n\nraise maxExecutors")
                raise IllegalArgumentException(msg)
            given = instances if "spark.executor.instances" in conf else 0
            target = min(max(initial, low, given), high)
        default_failures = max(2 * target, 3)
        return cls(
            target=target,
            batch_size=_int(conf, "spark.kubernetes.allocation.batch.size", "5"),
            batch_delay=_seconds(conf, "spark.kubernetes.allocation.batch.delay", "1s"),
            pending_timeout=_seconds(conf, "spark.kubernetes.allocation.executor.timeout", "600s"),
            max_failures=_int(conf, "spark.executor.maxNumFailures", str(default_failures)),
        )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            msg = (f"spark.kubernetes.allocation.batch.size must be at least 1, got "
                   f"{self.batch_size}\n\nuse e.g. 5")
            raise IllegalArgumentException(msg)
        if self.target < 0:
            msg = f"the executor count must not be negative, got {self.target}"
            raise IllegalArgumentException(msg)


def _int(conf: Mapping[str, str], key: str, default: str) -> int:
    value = conf.get(key, default)
    try:
        return int(str(value))
    except ValueError:
        msg = f"{key} must be an integer, got {value!r}"
        raise IllegalArgumentException(msg) from None


def _seconds(conf: Mapping[str, str], key: str, default: str) -> float:
    return parse_seconds(str(conf.get(key, default)), key=key)


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodObservation:
    """What a watch event or relist says about one executor pod.

    ``phase`` is the pod's phase, or ``Deleted`` for a watch DELETED event. ``exit_code``,
    ``reason`` and ``message`` come from the container's ``terminated`` state.
    """

    name: str
    executor_id: str
    phase: str
    exit_code: int | None = None
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str
    time: float


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class PodsObserved(Event):
    pods: tuple[PodObservation, ...]
    full: bool = False  # a relist: the complete set of the app's executor pods


@dataclass(frozen=True, kw_only=True)
class Tick(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class KillExecutor(Event):
    """The driver gave up on an executor (no heartbeat, unreachable): delete and replace it."""

    executor_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Stop(Event):
    pass


# -- instructions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    pass


@dataclass(frozen=True)
class CreatePod(Instruction):
    executor_id: str


@dataclass(frozen=True)
class DeletePod(Instruction):
    name: str


@dataclass(frozen=True)
class ExecutorLost(Instruction):
    executor_id: str
    reason: str


@dataclass(frozen=True)
class FailApplication(Instruction):
    reason: str


# -- the machine ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Executor:
    executor_id: str
    pod_name: str
    requested_at: float
    state: str = REQUESTED
    reason: str = ""  # why the allocator deleted it


class PodAllocator:
    """Keeps ``conf.target`` executor pods; see the module docstring.

    ``pod_name`` maps an executor id to its pod's name (the backend's naming scheme).
    """

    def __init__(self, conf: AllocatorConf, *, pod_name: Callable[[str], str],
                 story_size: int = events.STORY_SIZE) -> None:
        self.conf = conf
        self.pod_name = pod_name
        self.story: events.Story = events.new_story(story_size)
        self.failures = 0
        self.never_started = 0
        self.started = False
        self.stopped = False
        self.failed = False
        self._executors: dict[str, _Executor] = {}  # every executor not yet GONE
        self._ids = events.EventIds("alloc")
        self._next_executor = itertools.count(1)
        self._last_batch_at: float | None = None

    # -- public API: each method builds an event and handles it ----------------------------------

    def start(self, *, now: float, event_id: str | None = None) -> list[Instruction]:
        return self.handle(Start(event_id=self._ids.resolve(event_id), time=now))

    def pods_observed(self, pods: Iterable[PodObservation], *, now: float, full: bool = False,
                      event_id: str | None = None) -> list[Instruction]:
        return self.handle(PodsObserved(event_id=self._ids.resolve(event_id), time=now,
                                        pods=tuple(pods), full=full))

    def tick(self, *, now: float, event_id: str | None = None) -> list[Instruction]:
        return self.handle(Tick(event_id=self._ids.resolve(event_id), time=now))

    def kill(self, executor_id: str, *, now: float, reason: str = "",
             event_id: str | None = None) -> list[Instruction]:
        return self.handle(KillExecutor(event_id=self._ids.resolve(event_id), time=now,
                                        executor_id=executor_id, reason=reason))

    def stop(self, *, now: float, event_id: str | None = None) -> list[Instruction]:
        return self.handle(Stop(event_id=self._ids.resolve(event_id), time=now))

    def handle(self, event: Event) -> list[Instruction]:
        """Apply one event and return the instructions it produces, in order."""
        handler = self._EVENT_HANDLERS.get(type(event))
        if handler is None:
            msg = f"the PodAllocator does not handle {type(event).__name__} events"
            raise TypeError(msg)
        return handler(self, event)

    # -- queries --------------------------------------------------------------------------------

    def states(self) -> dict[str, str]:
        """The state of every executor that has not ended, by executor id."""
        return {e.executor_id: e.state for e in self._executors.values()}

    def pod_names(self) -> dict[str, str]:
        return {e.executor_id: e.pod_name for e in self._executors.values()}

    def format_story(self, *, last: int | None = None) -> str:
        return events.format_story(self.story, last=last)

    # -- event handlers -------------------------------------------------------------------------

    def _on_start(self, event: Start) -> list[Instruction]:
        self.started = True
        self._record(event.event_id, f"start: target {self.conf.target} executors")
        return self._allocate(event)

    def _on_pods_observed(self, event: PodsObserved) -> list[Instruction]:
        out: list[Instruction] = []
        seen = set()
        for pod in event.pods:
            seen.add(pod.executor_id)
            executor = self._executors.get(pod.executor_id)
            if executor is None or executor.pod_name != pod.name:
                continue  # a pod that ended already, or not one of ours
            out += self._observe(executor, pod, event.event_id)
        if event.full:
            for executor in list(self._executors.values()):
                if executor.executor_id not in seen and executor.state != REQUESTED:
                    gone = PodObservation(executor.pod_name, executor.executor_id, "Deleted")
                    out += self._observe(executor, gone, event.event_id)
        return out + self._expire(event) + self._allocate(event)

    def _on_tick(self, event: Tick) -> list[Instruction]:
        return self._expire(event) + self._allocate(event)

    def _on_kill(self, event: KillExecutor) -> list[Instruction]:
        executor = self._executors.get(event.executor_id)
        if executor is None or executor.state == DELETING:
            return []
        executor.reason = event.reason or f"executor {executor.executor_id} was killed by the driver"
        self._transition(executor, DELETING, event.event_id)
        return [DeletePod(executor.pod_name)]

    def _on_stop(self, event: Stop) -> list[Instruction]:
        self.stopped = True
        out: list[Instruction] = []
        for executor in self._executors.values():
            if executor.state != DELETING:
                self._transition(executor, DELETING, event.event_id)
                out.append(DeletePod(executor.pod_name))
        self._record(event.event_id, f"stop: deleting {len(out)} pods")
        return out

    _EVENT_HANDLERS: dict[type, Callable[..., list[Instruction]]] = {
        Start: _on_start,
        PodsObserved: _on_pods_observed,
        Tick: _on_tick,
        KillExecutor: _on_kill,
        Stop: _on_stop,
    }

    # -- transitions ----------------------------------------------------------------------------

    _TRANSITIONS = frozenset({
        (REQUESTED, PENDING), (REQUESTED, RUNNING), (REQUESTED, GONE), (REQUESTED, DELETING),
        (PENDING, RUNNING), (PENDING, GONE), (PENDING, DELETING),
        (RUNNING, GONE), (RUNNING, DELETING),
        (DELETING, GONE),
    })

    def _transition(self, executor: _Executor, finish: str, eid: str) -> None:
        start = executor.state
        if (start, finish) not in self._TRANSITIONS:
            raise events.InvalidTransition(f"executor {executor.executor_id}", start, finish,
                                           self.story)
        executor.state = finish
        if finish == GONE:
            del self._executors[executor.executor_id]
        self._record(eid, f"executor {executor.executor_id} ({executor.pod_name}): "
                          f"{start} -> {finish}")

    def _observe(self, executor: _Executor, pod: PodObservation, eid: str) -> list[Instruction]:
        if pod.phase in TERMINAL_PHASES:
            return self._ended(executor, pod, eid)
        finish = RUNNING if pod.phase == "Running" else PENDING
        if executor.state in (DELETING, finish) or (executor.state, finish) == (RUNNING, PENDING):
            return []
        self._transition(executor, finish, eid)
        return []

    def _ended(self, executor: _Executor, pod: PodObservation, eid: str) -> list[Instruction]:
        deleted_on_purpose = executor.state == DELETING
        self._transition(executor, GONE, eid)
        # A pod that ended by itself stays in the API until deleted (Spark deletes them too).
        out: list[Instruction] = [] if pod.phase == "Deleted" or deleted_on_purpose \
            else [DeletePod(pod.name)]
        if self.stopped or self.failed:
            return out
        if deleted_on_purpose and not _oom_killed(pod):
            reason = executor.reason
        else:
            # An OOM kill is the most useful thing to say, even when the driver had already
            # given up on the executor (it found it unreachable) before the pod's status came.
            reason = loss_reason(executor.executor_id, pod)
        return out + [ExecutorLost(executor.executor_id, reason)] + \
            self._count_failure(reason, eid)

    def _count_failure(self, reason: str, eid: str) -> list[Instruction]:
        self.failures += 1
        if self.failures < self.conf.max_failures:
            return []
        self.failed = True
        msg = (f"{self.failures} executors failed, the most allowed "
               f"(spark.executor.maxNumFailures={self.conf.max_failures}); the last: {reason}")
        self._record(eid, "failing the application: " + msg)
        return [FailApplication(msg)]

    def _expire(self, event: Event) -> list[Instruction]:
        """Delete the pods that were requested too long ago and still do not run."""
        out: list[Instruction] = []
        for executor in list(self._executors.values()):
            waited = event.time - executor.requested_at
            if executor.state in (REQUESTED, PENDING) and waited >= self.conf.pending_timeout:
                self.never_started += 1
                executor.reason = (
                    f"executor {executor.executor_id}'s pod {executor.pod_name} did not start "
                    f"within {self.conf.pending_timeout:g}s "
                    "(spark.kubernetes.allocation.executor.timeout); it was deleted\n\n"
                    "check that the cluster has room for its resources and can pull the image")
                self._transition(executor, DELETING, event.event_id)
                out.append(DeletePod(executor.pod_name))
        return out

    def _allocate(self, event: Event) -> list[Instruction]:
        if not self.started or self.stopped or self.failed:
            return []
        live = [e for e in self._executors.values() if e.state != DELETING]
        waiting = sum(1 for e in live if e.state in (REQUESTED, PENDING))
        needed = self.conf.target - len(live)
        if needed <= 0:
            return []
        if waiting and self._last_batch_at is not None and \
                event.time - self._last_batch_at < self.conf.batch_delay:
            return []
        count = min(needed, self.conf.batch_size - waiting)
        if count <= 0:
            return []
        self._last_batch_at = event.time
        out: list[Instruction] = []
        for _ in range(count):
            executor_id = str(next(self._next_executor))
            executor = _Executor(executor_id, self.pod_name(executor_id), event.time)
            self._executors[executor_id] = executor
            out.append(CreatePod(executor_id))
        self._record(event.event_id, f"requesting executors {[i.executor_id for i in out]}")
        return out

    def _record(self, event_id: str, what: str) -> None:
        self.story.append((event_id, what))


def loss_reason(executor_id: str, pod: PodObservation) -> str:
    """Why an executor's pod ended, in words that say what to do about it.

    >>> loss_reason("3", PodObservation("p", "3", "Failed", 137, "OOMKilled"))
    'executor 3 was OOMKilled (exit code 137): raise spark.executor.memoryOverhead (or spark.executor.memory)'
    """
    if _oom_killed(pod):
        return (f"executor {executor_id} was OOMKilled (exit code 137): raise "
                "spark.executor.memoryOverhead (or spark.executor.memory)")
    if pod.phase == "Deleted":
        return f"executor {executor_id}'s pod {pod.name} was deleted"
    detail = ": ".join(p for p in (pod.reason, pod.message.strip()) if p)
    code = "an unknown code" if pod.exit_code is None else f"code {pod.exit_code}"
    return f"executor {executor_id} exited with {code}" + (f" ({detail})" if detail else "")


def _oom_killed(pod: PodObservation) -> bool:
    return pod.exit_code == 137 or pod.reason == "OOMKilled"
