"""The TaskScheduler: places the tasks of each task set on executor slots, and retries failures.

A sans-IO state machine in the manner of Spark's TaskSchedulerImpl and TaskSetManager. The driver
feeds it events (task set submitted, executor added or lost, task finished, failed or killed) and
carries out the instructions it returns: `LaunchTask` and `KillTask` go to executors, while
`TaskSucceeded`, `TaskFetchFailed`, `TaskSetAborted` and `ExecutorRemoved` go to the DAGScheduler.

* One task set per stage attempt, one task per partition; each executor has
  ``cores // cpus_per_task`` slots.
* Placement: a partition goes to its preferred executor (PROCESS_LOCAL: the one holding its
  cached block) when that executor has a free slot. Otherwise it waits for that executor up to
  ``locality_wait`` seconds (``spark.locality.wait``) since the task set last launched a local
  task, then goes to the next executor with a free slot, round-robin, so tasks spread out. A
  partition whose preferred executor is gone, or failed it, goes anywhere at once. Time comes in
  as events (`tick`, with the driver's clock): nothing here reads a clock.
* A failed task is retried, on another executor if one has a free slot, until its partition has
  failed ``max_failures`` times (``spark.task.maxFailures``); then the task set is aborted.
* A fetch failure turns the task set into a *zombie*: it launches nothing more, its running
  tasks may finish, and the DAGScheduler decides what to re-run.
* Tasks running on a lost executor are re-queued without counting as failures.
* Speculation (``spark.speculation``), checked on each `tick`: once ``quantile`` of a task set's
  tasks have succeeded, a task running longer than ``multiplier`` x the median run time of those
  (and at least ``min_runtime``) gets one speculative copy on another executor, as soon as one
  has a free slot. The first copy to succeed wins and the other is killed; what the loser
  reports later is ignored. A copy that fails while another runs is not counted as a failure.

Running tasks are tracked per partition as a set of copies.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ember.scheduler import events
from ember.scheduler.events import (
    ExecutorRemoved,
    FetchFailure,
    Instruction,
    KillTask,
    LaunchTask,
    TaskFetchFailed,
    TaskSetAborted,
    TaskSucceeded,
)

__all__ = ["ClockTickEvent", "Speculation", "TaskScheduler"]


@dataclass(frozen=True)
class ClockTickEvent(events.Event):
    """The driver's clock, in seconds; it only moves forward."""

    now: float


@dataclass(frozen=True)
class Speculation:
    """When a running task is a straggler worth a copy: ``spark.speculation.multiplier``,
    ``spark.speculation.quantile`` and ``spark.speculation.minTaskRuntime`` (seconds)."""

    multiplier: float = 1.5
    quantile: float = 0.75
    min_runtime: float = 0.1

    def __post_init__(self) -> None:
        if not self.multiplier > 0:
            msg = f"spark.speculation.multiplier must be positive, got {self.multiplier}"
            raise ValueError(msg)
        if not 0 <= self.quantile <= 1:
            msg = f"spark.speculation.quantile must be between 0 and 1, got {self.quantile}"
            raise ValueError(msg)
        if not self.min_runtime >= 0:
            msg = f"spark.speculation.minTaskRuntime must not be negative, got {self.min_runtime}"
            raise ValueError(msg)

    def threshold(self, durations: Sequence[float], num_tasks: int) -> float | None:
        """The run time beyond which a task is a straggler, or None while fewer than
        ``quantile`` of the ``num_tasks`` tasks have succeeded (``durations``)."""
        if not durations or len(durations) < max(math.floor(self.quantile * num_tasks), 1):
            return None
        return max(self.multiplier * statistics.median(durations), self.min_runtime)


RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
KILLED = "killed"
LOST = "lost"


@dataclass(eq=False)
class _Task:
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt_number: int
    executor_id: str
    launched_at: float = 0.0
    state: str = RUNNING
    kill_requested: bool = False

    @property
    def name(self) -> str:
        return f"task {self.partition}.{self.attempt_number} in stage " \
               f"{self.stage_id}.{self.stage_attempt} (TID {self.task_id})"


@dataclass(eq=False)
class _TaskSet:
    stage_id: int
    stage_attempt: int
    partitions: tuple[int, ...]
    preferred: dict[int, str]
    # Partitions waiting for a slot. `queue` may hold stale entries; `pending` is the truth.
    pending: set[int] = field(default_factory=set)
    queue: deque[int] = field(default_factory=deque)
    local_queues: dict[str, deque[int]] = field(default_factory=dict)
    running: dict[int, set[int]] = field(default_factory=dict)  # partition -> task ids
    finished: set[int] = field(default_factory=set)
    failures: dict[int, int] = field(default_factory=dict)
    failed_on: dict[int, set[str]] = field(default_factory=dict)
    launches: dict[int, int] = field(default_factory=dict)
    # Run times of the succeeded tasks, and the partitions that are due a speculative copy.
    durations: list[float] = field(default_factory=list)
    speculatable: set[int] = field(default_factory=set)
    zombie: bool = False
    # When the task set last launched a task on its preferred executor (or was submitted).
    last_local_launch: float = 0.0

    @property
    def name(self) -> str:
        return f"task set {self.stage_id}.{self.stage_attempt}"

    def enqueue(self, partition: int, *, front: bool = False) -> None:
        self.pending.add(partition)
        if front:
            self.queue.appendleft(partition)
        else:
            self.queue.append(partition)
        executor_id = self.preferred.get(partition)
        if executor_id is not None:
            self.local_queues.setdefault(executor_id, deque()).append(partition)

    def drop_pending(self) -> None:
        self.pending.clear()
        self.queue.clear()
        self.local_queues.clear()

    @property
    def done(self) -> bool:
        return not self.running and (self.zombie or len(self.finished) == len(self.partitions))


@dataclass(eq=False)
class _Executor:
    executor_id: str
    slots: int
    running: set[int] = field(default_factory=set)

    @property
    def free(self) -> int:
        return self.slots - len(self.running)


class TaskScheduler:
    """Assigns tasks of submitted task sets to executor slots; see the module docstring."""

    def __init__(
        self,
        *,
        max_failures: int = 4,
        cpus_per_task: int = 1,
        locality_wait: float = 0.0,
        speculation: Speculation | None = None,
        story_size: int = events.STORY_SIZE,
    ) -> None:
        if max_failures < 1:
            msg = f"max_failures (spark.task.maxFailures) must be at least 1, got {max_failures}"
            raise ValueError(msg)
        if cpus_per_task < 1:
            msg = f"cpus_per_task (spark.task.cpus) must be at least 1, got {cpus_per_task}"
            raise ValueError(msg)
        if locality_wait < 0:
            msg = f"locality_wait (spark.locality.wait) must not be negative, got {locality_wait}"
            raise ValueError(msg)
        self.max_failures = max_failures
        self.cpus_per_task = cpus_per_task
        self.locality_wait = locality_wait
        self.speculation = speculation
        self._now = 0.0
        self.story: events.Story = events.new_story(story_size)
        self._ids = events.EventIds("tasks")
        self._task_ids = itertools.count(0)
        self._executors: dict[str, _Executor] = {}
        self._tasksets: dict[tuple[int, int], _TaskSet] = {}  # in submission order (FIFO)
        self._tasks: dict[int, _Task] = {}  # running tasks only
        self._next_executor = 0  # round-robin position in self._executors

    # -- public API: each method builds an event and handles it ----------------------------------

    def submit_taskset(
        self,
        stage_id: int,
        stage_attempt: int,
        partitions: Sequence[int],
        *,
        preferred: Mapping[int, str] | None = None,
        event_id: str | None = None,
    ) -> list[Instruction]:
        event = events.TaskSetSubmittedEvent(
            stage_id, stage_attempt, tuple(partitions), tuple(sorted((preferred or {}).items())),
            event_id=self._ids.resolve(event_id),
        )
        return self.handle(event)

    def executor_added(
        self, executor_id: str, cores: int, *, event_id: str | None = None
    ) -> list[Instruction]:
        event = events.ExecutorAddedEvent(executor_id, cores, event_id=self._ids.resolve(event_id))
        return self.handle(event)

    def executor_lost(
        self,
        executor_id: str,
        reason: str,
        *,
        exit_caused_by_app: bool = False,
        event_id: str | None = None,
    ) -> list[Instruction]:
        """Re-queue the executor's running tasks; they count as failures only when the exit was
        caused by the application (an OOM kill, say), as in Spark."""
        event = events.ExecutorLostEvent(
            executor_id, reason, exit_caused_by_app, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def task_finished(self, task_id: int, *, event_id: str | None = None) -> list[Instruction]:
        return self.handle(events.TaskFinishedEvent(task_id, event_id=self._ids.resolve(event_id)))

    def task_failed(
        self,
        task_id: int,
        *,
        reason: str,
        fetch_failed: FetchFailure | None = None,
        event_id: str | None = None,
    ) -> list[Instruction]:
        event = events.TaskFailedEvent(
            task_id, reason, fetch_failed, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def task_killed(self, task_id: int, *, event_id: str | None = None) -> list[Instruction]:
        """The executor reports that a task stopped because it was killed; frees its slot."""
        return self.handle(events.TaskKilledEvent(task_id, event_id=self._ids.resolve(event_id)))

    def kill_task(self, task_id: int, *, event_id: str | None = None) -> list[Instruction]:
        """Ask for one running task to be killed; its partition is re-queued once it stops."""
        event = events.KillTaskRequestedEvent(task_id, event_id=self._ids.resolve(event_id))
        return self.handle(event)

    def cancel_stage(
        self, stage_id: int, stage_attempt: int, *, event_id: str | None = None
    ) -> list[Instruction]:
        """Drop the attempt's pending tasks and kill its running ones."""
        event = events.StageCancelledEvent(
            stage_id, stage_attempt, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def tick(self, now: float, *, event_id: str | None = None) -> list[Instruction]:
        """The clock moved to ``now``: tasks that waited long enough for their preferred
        executor may now launch anywhere, and stragglers may get speculative copies."""
        return self.handle(ClockTickEvent(now, event_id=self._ids.resolve(event_id)))

    def handle(self, event: events.Event) -> list[Instruction]:
        """Apply one event and return the instructions it produces, in order."""
        handler = self._EVENT_HANDLERS.get(type(event))
        if handler is None:
            msg = f"the TaskScheduler does not handle {type(event).__name__} events"
            raise TypeError(msg)
        return handler(self, event)

    # -- queries --------------------------------------------------------------------------------

    def running_tasks_on(self, executor_id: str) -> list[int]:
        executor = self._executors.get(executor_id)
        return sorted(executor.running) if executor is not None else []

    def free_slots(self) -> int:
        return sum(max(executor.free, 0) for executor in self._executors.values())

    def pending_tasks(self) -> int:
        """Tasks waiting for a slot (what dynamic allocation sizes the executor count on)."""
        return sum(len(ts.pending) for ts in self._tasksets.values() if not ts.zombie)

    def waiting_for_locality(self) -> bool:
        """Whether a pending task waits for its busy preferred executor while slots are free
        elsewhere (then the driver should keep the clock ticking)."""
        if self.free_slots() == 0:
            return False
        return any(self._holds_back(ts, p) for ts in self._tasksets.values() if not ts.zombie
                   for p in ts.pending)

    def is_idle(self) -> bool:
        return not self._tasks and self.pending_tasks() == 0

    def kill_requested(self, task_id: int) -> bool:
        """Whether a running task is being killed (say, the losing copy of a speculated task):
        its failure then is no failure of the job."""
        task = self._tasks.get(task_id)
        return task is not None and task.kill_requested

    @property
    def executors(self) -> dict[str, int]:
        """Slots per registered executor."""
        return {executor_id: ex.slots for executor_id, ex in self._executors.items()}

    def format_story(self, *, last: int | None = None) -> str:
        return events.format_story(self.story, last=last)

    # -- event handlers -------------------------------------------------------------------------

    def _on_taskset_submitted(self, event: events.TaskSetSubmittedEvent) -> list[Instruction]:
        eid = event.event_id
        key = (event.stage_id, event.stage_attempt)
        if key in self._tasksets:
            msg = f"task set {key[0]}.{key[1]} was already submitted\n\nuse a new stage attempt"
            raise ValueError(msg)
        if len(set(event.partitions)) != len(event.partitions) or any(
            p < 0 for p in event.partitions
        ):
            msg = f"task set {key[0]}.{key[1]} has repeated or negative partitions " \
                  f"{list(event.partitions)}"
            raise ValueError(msg)
        # Only one attempt of a stage may launch tasks: older ones become zombies, as in Spark.
        for other in self._tasksets.values():
            if other.stage_id == event.stage_id and not other.zombie:
                self._make_zombie(other, eid, why="a newer attempt was submitted")
        wanted = set(event.partitions)
        ts = _TaskSet(
            event.stage_id, event.stage_attempt, event.partitions,
            {p: executor for p, executor in event.preferred if p in wanted},
            last_local_launch=self._now,
        )
        for partition in event.partitions:
            ts.enqueue(partition)
        self._tasksets[key] = ts
        self._record(eid, f"{ts.name} submitted with partitions {list(event.partitions)}")
        self._drop_if_done(ts, eid)
        return self._schedule(eid)

    def _on_executor_added(self, event: events.ExecutorAddedEvent) -> list[Instruction]:
        eid = event.event_id
        slots = event.cores // self.cpus_per_task
        executor = self._executors.get(event.executor_id)
        if executor is None:
            self._executors[event.executor_id] = _Executor(event.executor_id, slots)
        else:
            executor.slots = slots
        self._record(eid, f"executor {event.executor_id} added with {event.cores} cores "
                          f"({slots} slots)")
        return self._schedule(eid)

    def _on_executor_lost(self, event: events.ExecutorLostEvent) -> list[Instruction]:
        eid = event.event_id
        executor = self._executors.pop(event.executor_id, None)
        if executor is None:
            self._record(eid, f"executor {event.executor_id} lost: ignored, not registered")
            return []
        self._record(eid, f"executor {event.executor_id} lost ({event.reason}); "
                          f"running tasks {sorted(executor.running)}")
        out: list[Instruction] = [ExecutorRemoved(event.executor_id, event.reason)]
        for task_id in sorted(executor.running):
            out += self._transition(
                self._tasks[task_id], LOST, eid,
                reason=event.reason, counts=event.exit_caused_by_app,
            )
        return out + self._schedule(eid)

    def _on_task_finished(self, event: events.TaskFinishedEvent) -> list[Instruction]:
        task = self._running_task(event.task_id, event.event_id, "finished")
        if task is None:
            return []
        return self._transition(task, SUCCEEDED, event.event_id) + self._schedule(event.event_id)

    def _on_task_failed(self, event: events.TaskFailedEvent) -> list[Instruction]:
        task = self._running_task(event.task_id, event.event_id, "failed")
        if task is None:
            return []
        out = self._transition(
            task, FAILED, event.event_id, reason=event.reason, fetch_failed=event.fetch_failed
        )
        return out + self._schedule(event.event_id)

    def _on_task_killed(self, event: events.TaskKilledEvent) -> list[Instruction]:
        task = self._running_task(event.task_id, event.event_id, "killed")
        if task is None:
            return []
        return self._transition(task, KILLED, event.event_id) + self._schedule(event.event_id)

    def _on_kill_requested(self, event: events.KillTaskRequestedEvent) -> list[Instruction]:
        task = self._running_task(event.task_id, event.event_id, "kill request")
        if task is None:
            return []
        return self._kill([task], event.event_id)

    def _on_stage_cancelled(self, event: events.StageCancelledEvent) -> list[Instruction]:
        eid = event.event_id
        ts = self._tasksets.get((event.stage_id, event.stage_attempt))
        if ts is None:
            self._record(eid, f"cancel task set {event.stage_id}.{event.stage_attempt}: "
                              "nothing running")
            return []
        self._make_zombie(ts, eid, why="stage cancelled")
        out = self._kill(self._tasks_of(ts), eid)
        self._drop_if_done(ts, eid)
        return out

    def _on_clock_tick(self, event: ClockTickEvent) -> list[Instruction]:
        self._now = max(self._now, event.now)
        self._find_stragglers(event.event_id)
        return self._schedule(event.event_id)

    _EVENT_HANDLERS: dict[type, Callable[..., list[Instruction]]] = {
        ClockTickEvent: _on_clock_tick,
        events.TaskSetSubmittedEvent: _on_taskset_submitted,
        events.ExecutorAddedEvent: _on_executor_added,
        events.ExecutorLostEvent: _on_executor_lost,
        events.TaskFinishedEvent: _on_task_finished,
        events.TaskFailedEvent: _on_task_failed,
        events.TaskKilledEvent: _on_task_killed,
        events.KillTaskRequestedEvent: _on_kill_requested,
        events.StageCancelledEvent: _on_stage_cancelled,
    }

    # -- task transitions -----------------------------------------------------------------------

    def _transition(
        self, task: _Task, finish: str, eid: str, **kwargs: object
    ) -> list[Instruction]:
        start = task.state
        handler = self._TASK_TRANSITIONS.get((start, finish))
        if handler is None:
            raise events.InvalidTransition(task.name, start, finish, self.story)
        task.state = finish
        # Every transition out of RUNNING frees the slot and forgets the task.
        del self._tasks[task.task_id]
        executor = self._executors.get(task.executor_id)
        if executor is not None:
            executor.running.discard(task.task_id)
        ts = self._tasksets[(task.stage_id, task.stage_attempt)]
        copies = ts.running[task.partition]
        copies.discard(task.task_id)
        if not copies:
            del ts.running[task.partition]
        self._record(eid, f"{task.name} on executor {task.executor_id}: {start} -> {finish}")
        out = handler(self, task, ts, eid, **kwargs)
        self._drop_if_done(ts, eid)
        return out

    def _running_succeeded(self, task: _Task, ts: _TaskSet, eid: str) -> list[Instruction]:
        if task.partition in ts.finished:
            self._record(eid, f"{task.name}: partition already finished, success ignored")
            return []
        ts.finished.add(task.partition)
        ts.pending.discard(task.partition)
        ts.speculatable.discard(task.partition)
        ts.durations.append(self._now - task.launched_at)
        out: list[Instruction] = [
            TaskSucceeded(
                task.task_id, task.stage_id, task.stage_attempt, task.partition, task.executor_id
            )
        ]
        # Other copies of the partition (speculative ones) are no longer needed.
        others = [self._tasks[tid] for tid in sorted(ts.running.get(task.partition, ()))]
        return out + self._kill(others, eid)

    def _running_failed(
        self,
        task: _Task,
        ts: _TaskSet,
        eid: str,
        *,
        reason: str,
        fetch_failed: FetchFailure | None,
    ) -> list[Instruction]:
        if fetch_failed is not None:
            # Not the task's fault: the map output is gone. The DAGScheduler re-runs the parent
            # stage and then submits a new attempt of this one.
            self._make_zombie(ts, eid, why="fetch failure")
            return [
                TaskFetchFailed(
                    task.stage_id, task.stage_attempt, task.partition, fetch_failed.shuffle_id,
                    fetch_failed.map_id, fetch_failed.executor_id,
                    fetch_failed.message or reason,
                )
            ]
        return self._count_failure(task, ts, eid, reason)

    def _running_killed(self, task: _Task, ts: _TaskSet, eid: str) -> list[Instruction]:
        self._requeue(task, ts, eid)
        return []

    def _running_lost(
        self, task: _Task, ts: _TaskSet, eid: str, *, reason: str, counts: bool
    ) -> list[Instruction]:
        if counts:
            why = f"ExecutorLostFailure (executor {task.executor_id} exited caused by one of " \
                  f"the running tasks) Reason: {reason}"
            return self._count_failure(task, ts, eid, why)
        self._requeue(task, ts, eid)
        return []

    _TASK_TRANSITIONS: dict[tuple[str, str], Callable[..., list[Instruction]]] = {
        (RUNNING, SUCCEEDED): _running_succeeded,
        (RUNNING, FAILED): _running_failed,
        (RUNNING, KILLED): _running_killed,
        (RUNNING, LOST): _running_lost,
    }

    # -- failures -------------------------------------------------------------------------------

    def _count_failure(
        self, task: _Task, ts: _TaskSet, eid: str, reason: str
    ) -> list[Instruction]:
        if task.partition in ts.finished or ts.zombie:
            self._record(eid, f"{task.name} failed ({reason}); not retried")
            return []
        if task.partition in ts.running:
            # Another copy still runs: the partition may yet succeed, so this is no failure.
            ts.failed_on.setdefault(task.partition, set()).add(task.executor_id)
            self._record(eid, f"{task.name} failed ({reason}); another copy still runs, "
                              "not counted")
            return []
        failures = ts.failures.get(task.partition, 0) + 1
        ts.failures[task.partition] = failures
        ts.failed_on.setdefault(task.partition, set()).add(task.executor_id)
        self._record(eid, f"{task.name} failed ({failures}/{self.max_failures}): {reason}")
        if failures < self.max_failures:
            self._requeue(task, ts, eid)
            return []
        message = (
            f"Task {task.partition} in stage {ts.stage_id}.{ts.stage_attempt} failed "
            f"{self.max_failures} times, most recent failure: Lost task "
            f"{task.partition}.{task.attempt_number} in stage {ts.stage_id}.{ts.stage_attempt} "
            f"(TID {task.task_id}) (executor {task.executor_id}): {reason}"
        )
        self._make_zombie(ts, eid, why="aborted")
        return [TaskSetAborted(ts.stage_id, ts.stage_attempt, message)] + self._kill(
            self._tasks_of(ts), eid
        )

    def _requeue(self, task: _Task, ts: _TaskSet, eid: str) -> None:
        if ts.zombie or task.partition in ts.finished or task.partition in ts.running:
            return
        # Retries go to the front of the queue, like Spark's pending-task lists.
        ts.enqueue(task.partition, front=True)
        self._record(eid, f"{ts.name} partition {task.partition} re-queued")

    def _make_zombie(self, ts: _TaskSet, eid: str, *, why: str) -> None:
        if not ts.zombie:
            ts.zombie = True
            ts.drop_pending()
            self._record(eid, f"{ts.name} is a zombie ({why}); running tasks: "
                              f"{sorted(tid for tids in ts.running.values() for tid in tids)}")

    def _kill(self, tasks: Sequence[_Task], eid: str) -> list[Instruction]:
        out: list[Instruction] = []
        for task in tasks:
            # A task on a lost executor is already gone; its loss is being handled.
            if not task.kill_requested and task.executor_id in self._executors:
                task.kill_requested = True
                self._record(eid, f"killing {task.name} on executor {task.executor_id}")
                out.append(KillTask(task.task_id, task.executor_id))
        return out

    def _tasks_of(self, ts: _TaskSet) -> list[_Task]:
        return [self._tasks[tid] for tids in ts.running.values() for tid in sorted(tids)]

    def _drop_if_done(self, ts: _TaskSet, eid: str) -> None:
        key = (ts.stage_id, ts.stage_attempt)
        if ts.done and self._tasksets.get(key) is ts:
            del self._tasksets[key]
            self._record(eid, f"{ts.name} removed")

    # -- placement ------------------------------------------------------------------------------

    def _schedule(self, eid: str) -> list[Instruction]:
        """Fill free slots from the task sets in submission order; in each, pending tasks go
        before speculative copies."""
        out: list[Instruction] = []
        for ts in list(self._tasksets.values()):
            if self.free_slots() == 0:
                break
            if ts.zombie:
                continue
            if ts.pending:
                out += self._launch_local(ts, eid)
                out += self._launch_anywhere(ts, eid)
            if ts.speculatable:
                out += self._launch_speculative(ts, eid)
        return out

    def _launch_local(self, ts: _TaskSet, eid: str) -> list[Instruction]:
        out: list[Instruction] = []
        for executor in self._executors.values():
            queue = ts.local_queues.get(executor.executor_id)
            while queue and executor.free > 0:
                partition = queue.popleft()
                failed_here = executor.executor_id in ts.failed_on.get(partition, ())
                if partition in ts.pending and not failed_here:
                    out.append(self._launch(ts, partition, executor, eid))
        return out

    def _launch_anywhere(self, ts: _TaskSet, eid: str) -> list[Instruction]:
        out: list[Instruction] = []
        held: list[int] = []  # waiting for their preferred executor: keep their queue order
        while ts.queue:
            partition = ts.queue[0]
            if partition not in ts.pending:
                ts.queue.popleft()  # stale: launched from a local queue
                continue
            if self._holds_back(ts, partition):
                held.append(ts.queue.popleft())
                continue
            executor = self._pick_executor(avoid=ts.failed_on.get(partition, set()))
            if executor is None:
                break
            ts.queue.popleft()
            out.append(self._launch(ts, partition, executor, eid))
        if held:
            ts.queue.extendleft(reversed(held))
            self._record(eid, f"{ts.name} partitions {held} wait for their preferred executors "
                              f"(spark.locality.wait {self.locality_wait:g}s)")
        return out

    def _holds_back(self, ts: _TaskSet, partition: int) -> bool:
        """Whether ``partition`` should still wait for its preferred executor."""
        executor_id = ts.preferred.get(partition)
        if executor_id is None or self.locality_wait <= 0 or executor_id not in self._executors:
            return False
        if executor_id in ts.failed_on.get(partition, ()):
            return False
        return self._now - ts.last_local_launch < self.locality_wait

    def _launch_speculative(self, ts: _TaskSet, eid: str) -> list[Instruction]:
        out: list[Instruction] = []
        for partition in sorted(ts.speculatable):
            copies = ts.running.get(partition)
            if partition in ts.finished or not copies:
                ts.speculatable.discard(partition)  # stale: it ended meanwhile
                continue
            executor = self._pick_executor(
                avoid=ts.failed_on.get(partition, set()),
                exclude={self._tasks[tid].executor_id for tid in copies})
            if executor is None:
                continue  # wait for a free slot on an executor that does not run it
            ts.speculatable.discard(partition)
            out.append(self._launch(ts, partition, executor, eid, speculative=True))
        return out

    def _find_stragglers(self, eid: str) -> None:
        """Mark the partitions whose only copy runs too long for a speculative copy."""
        if self.speculation is None:
            return
        for ts in self._tasksets.values():
            threshold = self.speculation.threshold(ts.durations, len(ts.partitions))
            if ts.zombie or threshold is None:
                continue
            for partition, copies in sorted(ts.running.items()):
                if len(copies) != 1 or partition in ts.speculatable:
                    continue
                task = self._tasks[next(iter(copies))]
                if task.kill_requested or self._now - task.launched_at <= threshold:
                    continue
                ts.speculatable.add(partition)
                self._record(eid, f"{task.name} has run {self._now - task.launched_at:.3g}s, "
                                  f"over {threshold:.3g}s: speculatable")

    def _pick_executor(
        self, *, avoid: set[str], exclude: set[str] | None = None
    ) -> _Executor | None:
        """The next executor with a free slot, round-robin, preferring ones not in ``avoid``
        and never one in ``exclude``."""
        order = list(self._executors.values())
        fallback: tuple[int, _Executor] | None = None
        for step in range(len(order)):
            index = (self._next_executor + step) % len(order)
            executor = order[index]
            if executor.free <= 0 or (exclude and executor.executor_id in exclude):
                continue
            if executor.executor_id not in avoid:
                self._next_executor = index + 1
                return executor
            if fallback is None:
                fallback = (index, executor)
        if fallback is None:
            return None
        self._next_executor = fallback[0] + 1
        return fallback[1]

    def _launch(
        self, ts: _TaskSet, partition: int, executor: _Executor, eid: str, *,
        speculative: bool = False,
    ) -> LaunchTask:
        ts.pending.discard(partition)
        attempt_number = ts.launches.get(partition, 0)
        ts.launches[partition] = attempt_number + 1
        task = _Task(
            next(self._task_ids), ts.stage_id, ts.stage_attempt, partition, attempt_number,
            executor.executor_id, launched_at=self._now,
        )
        self._tasks[task.task_id] = task
        executor.running.add(task.task_id)
        ts.running.setdefault(partition, set()).add(task.task_id)
        local = ts.preferred.get(partition) == executor.executor_id
        if local:
            ts.last_local_launch = self._now
        self._record(eid, f"launching {task.name} on executor {executor.executor_id}"
                          + (" (PROCESS_LOCAL)" if local else "")
                          + (" (speculative)" if speculative else ""))
        return LaunchTask(
            task.task_id, ts.stage_id, ts.stage_attempt, partition, attempt_number,
            executor.executor_id, speculative,
        )

    # -- helpers --------------------------------------------------------------------------------

    def _running_task(self, task_id: int, eid: str, what: str) -> _Task | None:
        task = self._tasks.get(task_id)
        if task is None:
            self._record(eid, f"TID {task_id} {what}: ignored, not running")
        return task

    def _record(self, event_id: str, what: str) -> None:
        self.story.append((event_id, what))
