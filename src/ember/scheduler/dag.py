"""The DAGScheduler: turns jobs (graphs of stages) into task sets, and recovers lost map outputs.

A sans-IO state machine in the manner of Spark's DAGScheduler. The driver feeds it events (job
submitted, task succeeded, fetch failed, executor lost, ...) and carries out the instructions it
returns (`SubmitTasks`, `CancelStage`, `JobSucceeded`, `JobFailed`). It never reads a clock,
sleeps or does I/O; the `MapOutputTracker` it keeps is plain bookkeeping.

A stage is in one of four states:

* **pending**: not submitted, or submitted earlier and now needing another attempt.
* **waiting**: submitted, but some parent stage's map outputs are missing.
* **running**: one stage attempt (a task set) is out for the partitions that were missing.
* **available**: all map outputs are registered (map stage) or all results are in (result stage).

and moves along these transitions (`DAGScheduler._STAGE_TRANSITIONS`):

=========  =========  ==========================================================================
start      finish     when
=========  =========  ==========================================================================
pending    waiting    submitted while a parent's outputs are missing
pending    running    submitted with every parent available: a new attempt runs what is missing
waiting    running    the last missing parent became available
pending    available  nothing was missing, or a straggler from an older attempt brought back
                      the last missing output
waiting    available  a straggler from an older attempt completed the stage
running    available  every partition of the attempt reported success and nothing is missing
running    pending    a fetch failure, or the attempt ended while outputs went missing
available  pending    an executor holding some of the stage's outputs was lost
=========  =========  ==========================================================================

A fetch failure ends the running attempt, drops the lost outputs from the tracker and submits the
stage again, which makes it wait for its parents to re-run their missing partitions first. An
attempt also ends when all of its tasks have reported success; if some outputs went missing in the
meantime (an executor was lost), a new attempt runs just those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ember.scheduler import events
from ember.scheduler.events import (
    CancelStage,
    Instruction,
    JobFailed,
    JobSucceeded,
    StageSpec,
    SubmitTasks,
)
from ember.scheduler.map_output import MapOutputTracker, MapStatus

__all__ = ["DAGScheduler", "StageSpec"]

PENDING = "pending"
WAITING = "waiting"
RUNNING = "running"
AVAILABLE = "available"

NumPartitionsFor = Callable[[StageSpec, MapOutputTracker], int]


def _no_adaptive_partitions(spec: StageSpec, tracker: MapOutputTracker) -> int:
    msg = (
        f"stage {spec.stage_id} has no fixed partition count and the DAGScheduler was built "
        "without num_partitions_for\n\npass num_partitions_for=... to DAGScheduler"
    )
    raise ValueError(msg)


@dataclass(eq=False)
class _Stage:
    spec: StageSpec
    job_id: int
    children: tuple[int, ...]
    num_partitions: int | None
    state: str = PENDING
    latest_attempt: int = -1
    # The failure epoch at which each attempt was submitted (see DAGScheduler._failure_epoch).
    attempt_epochs: dict[int, int] = field(default_factory=dict)
    # Partitions of the latest attempt not yet reported done (by any attempt).
    pending: set[int] = field(default_factory=set)
    # Attempts ended by a fetch failure since the stage last completed (Spark's failedAttemptIds).
    failed_attempts: set[int] = field(default_factory=set)
    # An older attempt finished a partition the latest attempt still had out.
    done_elsewhere: bool = False

    @property
    def stage_id(self) -> int:
        return self.spec.stage_id

    @property
    def is_result(self) -> bool:
        return self.spec.shuffle_id is None

    @property
    def name(self) -> str:
        kind = "ResultStage" if self.is_result else "ShuffleMapStage"
        return f"{kind} {self.stage_id}"


@dataclass(eq=False)
class _Job:
    job_id: int
    result_stage_id: int
    stage_ids: tuple[int, ...]
    finished: set[int] = field(default_factory=set)


class DAGScheduler:
    """Runs jobs as stages, parents first, and resubmits what lost executors took with them.

    ``num_partitions_for(spec, tracker)`` decides the partition count of a stage planned with
    ``num_partitions=None``; it is called once, when the stage first becomes runnable (all its
    parents' map outputs are registered), and the count is then fixed for the stage's lifetime.
    ``max_stage_attempts`` is ``spark.stage.maxConsecutiveAttempts``: a stage whose attempts
    fail that many times in a row on fetch failures fails its job.

    Shuffle outputs stay in `tracker` after a job ends, as in Spark: a later job planned with
    the same shuffle id skips that stage. Unregistering a shuffle is the driver's call.
    """

    def __init__(
        self,
        num_partitions_for: NumPartitionsFor | None = None,
        *,
        max_stage_attempts: int = 4,
        tracker: MapOutputTracker | None = None,
        story_size: int = events.STORY_SIZE,
    ) -> None:
        if max_stage_attempts < 1:
            msg = f"max_stage_attempts must be at least 1, got {max_stage_attempts}"
            raise ValueError(msg)
        self._num_partitions_for = num_partitions_for or _no_adaptive_partitions
        self.max_stage_attempts = max_stage_attempts
        self.tracker = tracker if tracker is not None else MapOutputTracker()
        self.story: events.Story = events.new_story(story_size)
        self._ids = events.EventIds("dag")
        self._jobs: dict[int, _Job] = {}
        self._stages: dict[int, _Stage] = {}
        self._shuffle_writers: dict[int, int] = {}  # shuffle id -> stage id, for active jobs
        # Executors whose outputs were dropped, with the failure epoch at which that happened. An
        # attempt submitted before that epoch may still report outputs on such an executor; they
        # are ignored, like Spark's executorFailureEpoch check.
        self._failure_epoch = 0
        self._executor_failed_at: dict[str, int] = {}

    # -- public API: each method builds an event and handles it ----------------------------------

    def submit_job(
        self,
        job_id: int,
        stages: Sequence[StageSpec],
        result_stage_id: int,
        *,
        event_id: str | None = None,
    ) -> list[Instruction]:
        event = events.JobSubmittedEvent(
            job_id, tuple(stages), result_stage_id, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def task_succeeded(
        self,
        stage_id: int,
        stage_attempt: int,
        partition: int,
        map_status: MapStatus | None,
        *,
        event_id: str | None = None,
    ) -> list[Instruction]:
        event = events.TaskCompletedEvent(
            stage_id, stage_attempt, partition, map_status, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def task_fetch_failed(
        self,
        stage_id: int,
        stage_attempt: int,
        partition: int,
        shuffle_id: int,
        map_id: int,
        executor_id: str,
        *,
        message: str = "",
        event_id: str | None = None,
    ) -> list[Instruction]:
        event = events.FetchFailedEvent(
            stage_id, stage_attempt, partition, shuffle_id, map_id, executor_id, message,
            event_id=self._ids.resolve(event_id),
        )
        return self.handle(event)

    def taskset_failed(
        self, stage_id: int, stage_attempt: int, message: str, *, event_id: str | None = None
    ) -> list[Instruction]:
        event = events.TaskSetFailedEvent(
            stage_id, stage_attempt, message, event_id=self._ids.resolve(event_id)
        )
        return self.handle(event)

    def executor_lost(self, executor_id: str, *, event_id: str | None = None) -> list[Instruction]:
        event = events.ExecutorLostEvent(executor_id, event_id=self._ids.resolve(event_id))
        return self.handle(event)

    def cancel_job(
        self, job_id: int, *, reason: str | None = None, event_id: str | None = None
    ) -> list[Instruction]:
        event = events.JobCancelledEvent(job_id, reason, event_id=self._ids.resolve(event_id))
        return self.handle(event)

    def handle(self, event: events.Event) -> list[Instruction]:
        """Apply one event and return the instructions it produces, in order."""
        handler = self._EVENT_HANDLERS.get(type(event))
        if handler is None:
            msg = f"the DAGScheduler does not handle {type(event).__name__} events"
            raise TypeError(msg)
        return handler(self, event)

    # -- queries --------------------------------------------------------------------------------

    @property
    def active_jobs(self) -> tuple[int, ...]:
        return tuple(sorted(self._jobs))

    def stage_num_partitions(self, stage_id: int) -> int | None:
        """The stage's partition count, or None while it is still to be decided."""
        return self._stage(stage_id).num_partitions

    def stage_state(self, stage_id: int) -> str:
        return self._stage(stage_id).state

    def stage_attempt(self, stage_id: int) -> int:
        """The latest attempt number of a stage; -1 before its first submission."""
        return self._stage(stage_id).latest_attempt

    def format_story(self, *, last: int | None = None) -> str:
        return events.format_story(self.story, last=last)

    # -- event handlers -------------------------------------------------------------------------

    def _on_job_submitted(self, event: events.JobSubmittedEvent) -> list[Instruction]:
        eid = event.event_id
        if event.job_id in self._jobs:
            msg = f"job {event.job_id} is already active\n\ngive every job a new id"
            raise ValueError(msg)
        # Validate everything first, so a refused job leaves no state behind.
        children = _check_job(event, self._stages, self._shuffle_writers, self.tracker)
        job = _Job(event.job_id, event.result_stage_id, tuple(sorted(children)))
        for spec in event.stages:
            stage = _Stage(
                spec, job.job_id, tuple(sorted(children[spec.stage_id])), spec.num_partitions
            )
            if spec.shuffle_id is not None:
                self._adopt_shuffle(stage)
                self._shuffle_writers[spec.shuffle_id] = spec.stage_id
            self._stages[spec.stage_id] = stage
        self._jobs[job.job_id] = job
        self._record(eid, f"job {job.job_id} submitted: stages {list(job.stage_ids)}, "
                          f"result stage {job.result_stage_id}")
        return self._submit_stage(self._stages[job.result_stage_id], eid)

    def _on_task_completed(self, event: events.TaskCompletedEvent) -> list[Instruction]:
        eid = event.event_id
        stage = self._stages.get(event.stage_id)
        where = f"task {event.stage_id}.{event.stage_attempt} partition {event.partition}"
        if stage is None:
            self._record(eid, f"{where} succeeded: ignored, stage not active")
            return []
        if not 0 <= event.stage_attempt <= stage.latest_attempt:
            self._record(eid, f"{where} succeeded: ignored, attempt never submitted")
            return []
        _check_partition(stage, event.partition)
        if event.partition in stage.pending:
            stage.pending.discard(event.partition)
            if event.stage_attempt < stage.latest_attempt:
                stage.done_elsewhere = True
        if stage.is_result:
            return self._result_task_completed(stage, event)
        return self._map_task_completed(stage, event)

    def _map_task_completed(
        self, stage: _Stage, event: events.TaskCompletedEvent
    ) -> list[Instruction]:
        eid = event.event_id
        status = event.map_status
        if status is None:
            msg = (
                f"task {stage.stage_id}.{event.stage_attempt} partition {event.partition} of a "
                "shuffle map stage succeeded without a map status\n\npass the MapStatus the "
                "executor reported"
            )
            raise ValueError(msg)
        assert stage.spec.shuffle_id is not None
        failed_at = self._executor_failed_at.get(status.executor_id)
        if failed_at is not None and stage.attempt_epochs[event.stage_attempt] < failed_at:
            self._record(eid, f"{stage.name} map {event.partition}: output ignored, executor "
                              f"{status.executor_id} failed after attempt "
                              f"{event.stage_attempt} started")
        else:
            self.tracker.register(stage.spec.shuffle_id, event.partition, status)
            self._record(eid, f"{stage.name} map {event.partition} registered on executor "
                              f"{status.executor_id} (attempt {event.stage_attempt})")
        complete = self.tracker.is_complete(stage.spec.shuffle_id)
        if stage.state == RUNNING and not stage.pending:
            if complete:
                return self._transition(stage, AVAILABLE, eid)
            # Outputs of this attempt were lost meanwhile: run the missing ones again.
            out = self._transition(stage, PENDING, eid, cancel=False)
            return out + self._submit_stage(stage, eid)
        if stage.state in (PENDING, WAITING) and complete:
            # A straggler from an older attempt brought back the last missing output.
            return self._transition(stage, AVAILABLE, eid)
        return []

    def _result_task_completed(
        self, stage: _Stage, event: events.TaskCompletedEvent
    ) -> list[Instruction]:
        eid = event.event_id
        job = self._jobs[stage.job_id]
        if event.partition in job.finished:
            self._record(eid, f"{stage.name} partition {event.partition}: duplicate result ignored")
            return []
        job.finished.add(event.partition)
        self._record(eid, f"{stage.name} partition {event.partition} done "
                          f"({len(job.finished)}/{stage.num_partitions})")
        if len(job.finished) < (stage.num_partitions or 0):
            return []
        return self._transition(stage, AVAILABLE, eid)

    def _on_fetch_failed(self, event: events.FetchFailedEvent) -> list[Instruction]:
        eid = event.event_id
        stage = self._stages.get(event.stage_id)
        where = f"fetch failure in task {event.stage_id}.{event.stage_attempt} " \
                f"partition {event.partition}"
        if stage is None:
            self._record(eid, f"{where}: ignored, stage not active")
            return []
        if event.stage_attempt != stage.latest_attempt:
            self._record(eid, f"{where}: ignored, attempt {stage.latest_attempt} is newer")
            return []
        writer = self._shuffle_writers.get(event.shuffle_id)
        if writer is None or writer not in stage.spec.parents:
            msg = (
                f"stage {stage.stage_id} reported a fetch failure on shuffle {event.shuffle_id}, "
                f"which none of its parent stages {list(stage.spec.parents)} writes"
            )
            raise ValueError(msg)
        attempt_epoch = stage.attempt_epochs[event.stage_attempt]
        was_running = stage.state == RUNNING
        if not was_running and event.stage_attempt not in stage.failed_attempts:
            # A leftover task of an attempt that already completed: the outputs are still bad.
            self._record(eid, f"{where}: attempt had completed; dropping lost outputs only")
            self._drop_fetch_failed_outputs(event, attempt_epoch)
            return self._after_outputs_lost(eid)

        stage.failed_attempts.add(event.stage_attempt)
        self._record(eid, f"{where}: could not fetch map {event.map_id} of shuffle "
                          f"{event.shuffle_id} from executor {event.executor_id}")
        out: list[Instruction] = []
        if was_running:
            out += self._transition(stage, PENDING, eid, cancel=True)
        self._drop_fetch_failed_outputs(event, attempt_epoch)
        if len(stage.failed_attempts) >= self.max_stage_attempts:
            cause = (
                f"FetchFailed(executor={event.executor_id}, shuffleId={event.shuffle_id}, "
                f"mapIndex={event.map_id}, reduceId={event.partition}, message={event.message})"
            )
            message = (
                f"Job aborted due to stage failure: {stage.name} has failed the maximum "
                f"allowable number of times: {self.max_stage_attempts}. "
                f"Most recent failure reason:\n{cause}"
            )
            return out + self._end_job(self._jobs[stage.job_id], eid, failure=message)
        out += self._after_outputs_lost(eid)
        if was_running:
            out += self._submit_stage(stage, eid)
        return out

    def _on_taskset_failed(self, event: events.TaskSetFailedEvent) -> list[Instruction]:
        eid = event.event_id
        stage = self._stages.get(event.stage_id)
        if stage is None:
            self._record(eid, f"task set {event.stage_id}.{event.stage_attempt} failed: "
                              "ignored, stage not active")
            return []
        self._record(eid, f"task set {event.stage_id}.{event.stage_attempt} failed: "
                          f"{event.message}")
        message = f"Job aborted due to stage failure: {event.message}"
        # The task scheduler already stopped the failed task set itself.
        aborted = (event.stage_id, event.stage_attempt)
        return self._end_job(self._jobs[stage.job_id], eid, failure=message, skip=aborted)

    def _on_executor_lost(self, event: events.ExecutorLostEvent) -> list[Instruction]:
        eid = event.event_id
        self._mark_executor_failed(event.executor_id)
        removed = self.tracker.remove_outputs_on_executor(event.executor_id)
        self._record(eid, f"executor {event.executor_id} lost; removed map outputs {removed}")
        return self._after_outputs_lost(eid)

    def _on_job_cancelled(self, event: events.JobCancelledEvent) -> list[Instruction]:
        eid = event.event_id
        job = self._jobs.get(event.job_id)
        if job is None:
            self._record(eid, f"cancel job {event.job_id}: ignored, job not active")
            return []
        message = "cancelled" if event.reason is None else f"cancelled: {event.reason}"
        self._record(eid, f"job {job.job_id} {message}")
        return self._end_job(job, eid, failure=message)

    _EVENT_HANDLERS: dict[type, Callable[..., list[Instruction]]] = {
        events.JobSubmittedEvent: _on_job_submitted,
        events.TaskCompletedEvent: _on_task_completed,
        events.FetchFailedEvent: _on_fetch_failed,
        events.TaskSetFailedEvent: _on_taskset_failed,
        events.ExecutorLostEvent: _on_executor_lost,
        events.JobCancelledEvent: _on_job_cancelled,
    }

    # -- submission (Spark's submitStage / submitMissingTasks) ----------------------------------

    def _submit_stage(self, stage: _Stage, eid: str) -> list[Instruction]:
        """Run the stage if its parents' outputs are all there, else submit those parents."""
        if self._stages.get(stage.stage_id) is not stage:
            return []  # its job ended while this event was being handled
        if stage.state in (RUNNING, AVAILABLE):
            return []
        missing = [
            self._stages[parent]
            for parent in sorted(stage.spec.parents)
            if self._stages[parent].state != AVAILABLE
        ]
        if not missing:
            return self._submit_missing_tasks(stage, eid)
        out = self._transition(stage, WAITING, eid) if stage.state == PENDING else []
        for parent in missing:
            out += self._submit_stage(parent, eid)
        return out

    def _submit_missing_tasks(self, stage: _Stage, eid: str) -> list[Instruction]:
        if stage.num_partitions is None:
            self._decide_num_partitions(stage, eid)
        assert stage.num_partitions is not None
        if stage.spec.shuffle_id is None:
            finished = self._jobs[stage.job_id].finished
            missing = [p for p in range(stage.num_partitions) if p not in finished]
        else:
            missing = self.tracker.missing(stage.spec.shuffle_id)
        if not missing:
            return self._transition(stage, AVAILABLE, eid)
        return self._transition(stage, RUNNING, eid, partitions=tuple(missing))

    def _decide_num_partitions(self, stage: _Stage, eid: str) -> None:
        count = self._num_partitions_for(stage.spec, self.tracker)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            msg = (
                f"num_partitions_for returned {count!r} for stage {stage.stage_id}; "
                "it must return a non-negative int"
            )
            raise ValueError(msg)
        stage.num_partitions = count
        if stage.spec.shuffle_id is not None:
            self.tracker.register_shuffle(stage.spec.shuffle_id, count)
        self._record(eid, f"{stage.name} will have {count} partitions")

    def _adopt_shuffle(self, stage: _Stage) -> None:
        """Register a new stage's shuffle, or reuse outputs an earlier job left in the tracker."""
        shuffle_id = stage.spec.shuffle_id
        assert shuffle_id is not None
        if self.tracker.has_shuffle(shuffle_id):
            stage.num_partitions = self.tracker.num_maps(shuffle_id)  # checked by _check_job
            if self.tracker.is_complete(shuffle_id):
                stage.state = AVAILABLE  # Spark's "skipped" stage
        elif stage.num_partitions is not None:
            self.tracker.register_shuffle(shuffle_id, stage.num_partitions)

    # -- lost outputs ---------------------------------------------------------------------------

    def _mark_executor_failed(self, executor_id: str) -> None:
        self._failure_epoch += 1
        self._executor_failed_at[executor_id] = self._failure_epoch

    def _drop_fetch_failed_outputs(
        self, event: events.FetchFailedEvent, attempt_epoch: int
    ) -> None:
        # No external shuffle service: if one block of an executor cannot be fetched, treat all
        # of its outputs as lost, as Spark does.
        failed_at = self._executor_failed_at.get(event.executor_id)
        if failed_at is not None and attempt_epoch < failed_at:
            self._record(event.event_id, f"outputs of executor {event.executor_id} were already "
                                         "dropped after this attempt started")
            return
        removed: list[tuple[int, int]] = []
        if self.tracker.has_shuffle(event.shuffle_id) and self.tracker.unregister(
            event.shuffle_id, event.map_id, executor_id=event.executor_id
        ):
            removed.append((event.shuffle_id, event.map_id))
        self._mark_executor_failed(event.executor_id)
        removed += self.tracker.remove_outputs_on_executor(event.executor_id)
        self._record(event.event_id, f"dropped map outputs on executor {event.executor_id}: "
                                     f"{sorted(removed)}")

    def _after_outputs_lost(self, eid: str) -> list[Instruction]:
        """Mark map stages with missing outputs pending; re-run those a waiting stage needs.

        Stages read by a *running* stage are left alone: the readers hit fetch failures (or
        finish, if they already fetched everything), and the failure resubmits what is needed.
        """
        out: list[Instruction] = []
        lost: list[_Stage] = []
        for stage_id in sorted(self._stages):
            stage = self._stages[stage_id]
            shuffle_id = stage.spec.shuffle_id
            if (
                shuffle_id is not None
                and stage.state == AVAILABLE
                and not self.tracker.is_complete(shuffle_id)
            ):
                out += self._transition(stage, PENDING, eid)
                lost.append(stage)
        for stage in lost:
            if stage.state == PENDING and any(
                child in self._stages and self._stages[child].state == WAITING
                for child in stage.children
            ):
                out += self._submit_stage(stage, eid)
        return out

    # -- stage transitions ----------------------------------------------------------------------

    def _transition(
        self, stage: _Stage, finish: str, eid: str, **kwargs: object
    ) -> list[Instruction]:
        start = stage.state
        handler = self._STAGE_TRANSITIONS.get((start, finish))
        if handler is None:
            raise events.InvalidTransition(stage.name, start, finish, self.story)
        stage.state = finish
        self._record(eid, f"{stage.name}: {start} -> {finish}")
        return handler(self, stage, start, eid, **kwargs)

    def _to_waiting(self, stage: _Stage, start: str, eid: str) -> list[Instruction]:
        return []

    def _to_running(
        self, stage: _Stage, start: str, eid: str, *, partitions: tuple[int, ...]
    ) -> list[Instruction]:
        assert stage.num_partitions is not None
        stage.latest_attempt += 1
        stage.attempt_epochs[stage.latest_attempt] = self._failure_epoch
        stage.pending = set(partitions)
        stage.done_elsewhere = False
        self._record(eid, f"{stage.name} attempt {stage.latest_attempt}: "
                          f"submitting partitions {list(partitions)}")
        return [
            SubmitTasks(
                job_id=stage.job_id,
                stage_id=stage.stage_id,
                stage_attempt=stage.latest_attempt,
                partitions=partitions,
                num_partitions=stage.num_partitions,
                is_result=stage.is_result,
                shuffle_id=stage.spec.shuffle_id,
            )
        ]

    def _end_attempt(self, stage: _Stage, *, cancel: bool) -> list[Instruction]:
        # Tasks of the attempt may still run for partitions an older attempt finished first.
        stop = cancel or stage.done_elsewhere
        stage.pending.clear()
        stage.done_elsewhere = False
        return [CancelStage(stage.stage_id, stage.latest_attempt)] if stop else []

    def _running_to_pending(
        self, stage: _Stage, start: str, eid: str, *, cancel: bool
    ) -> list[Instruction]:
        return self._end_attempt(stage, cancel=cancel)

    def _available_to_pending(self, stage: _Stage, start: str, eid: str) -> list[Instruction]:
        return []

    def _to_available(self, stage: _Stage, start: str, eid: str) -> list[Instruction]:
        out = self._end_attempt(stage, cancel=False) if start == RUNNING else []
        stage.failed_attempts.clear()  # only *consecutive* failed attempts count
        if stage.is_result:
            return out + self._end_job(self._jobs[stage.job_id], eid)
        for child_id in stage.children:
            child = self._stages.get(child_id)
            if child is not None and child.state == WAITING:
                out += self._submit_stage(child, eid)
        return out

    _STAGE_TRANSITIONS: dict[tuple[str, str], Callable[..., list[Instruction]]] = {
        (PENDING, WAITING): _to_waiting,
        (PENDING, RUNNING): _to_running,
        (WAITING, RUNNING): _to_running,
        (PENDING, AVAILABLE): _to_available,
        (WAITING, AVAILABLE): _to_available,
        (RUNNING, AVAILABLE): _to_available,
        (RUNNING, PENDING): _running_to_pending,
        (AVAILABLE, PENDING): _available_to_pending,
    }

    # -- jobs -----------------------------------------------------------------------------------

    def _end_job(
        self,
        job: _Job,
        eid: str,
        *,
        failure: str | None = None,
        skip: tuple[int, int] | None = None,
    ) -> list[Instruction]:
        """Cancel the job's running stage attempts (except ``skip``) and forget the job."""
        out: list[Instruction] = []
        for stage_id in job.stage_ids:
            stage = self._stages[stage_id]
            if stage.state == RUNNING and (stage_id, stage.latest_attempt) != skip:
                out.append(CancelStage(stage_id, stage.latest_attempt))
        for stage_id in job.stage_ids:
            stage = self._stages.pop(stage_id)
            if stage.spec.shuffle_id is not None:
                self._shuffle_writers.pop(stage.spec.shuffle_id, None)
        del self._jobs[job.job_id]
        if failure is None:
            self._record(eid, f"job {job.job_id} succeeded")
            out.append(JobSucceeded(job.job_id))
        else:
            self._record(eid, f"job {job.job_id} failed: {failure}")
            out.append(JobFailed(job.job_id, failure))
        return out

    # -- helpers --------------------------------------------------------------------------------

    def _stage(self, stage_id: int) -> _Stage:
        try:
            return self._stages[stage_id]
        except KeyError:
            active = ", ".join(map(str, sorted(self._stages))) or "none"
            msg = f"stage {stage_id} is not part of an active job (active stages: {active})"
            raise KeyError(msg) from None

    def _record(self, event_id: str, what: str) -> None:
        self.story.append((event_id, what))


def _check_partition(stage: _Stage, partition: int) -> None:
    if stage.num_partitions is None or not 0 <= partition < stage.num_partitions:
        msg = f"partition {partition} is out of range for {stage.name} " \
              f"({stage.num_partitions} partitions)"
        raise ValueError(msg)


def _check_job(
    event: events.JobSubmittedEvent,
    active_stages: dict[int, _Stage],
    active_shuffles: dict[int, int],
    tracker: MapOutputTracker,
) -> dict[int, list[int]]:
    """Validate a job's stage graph; returns each stage's children."""
    job = f"job {event.job_id}"
    specs: dict[int, StageSpec] = {}
    for spec in event.stages:
        if spec.stage_id in specs or spec.stage_id in active_stages:
            msg = f"{job}: stage id {spec.stage_id} is used twice\n\ngive every stage a new id"
            raise ValueError(msg)
        if spec.num_partitions is not None and spec.num_partitions < 0:
            msg = f"{job}: stage {spec.stage_id} has {spec.num_partitions} partitions"
            raise ValueError(msg)
        specs[spec.stage_id] = spec
    if event.result_stage_id not in specs:
        msg = f"{job}: result stage {event.result_stage_id} is not among its stages {list(specs)}"
        raise ValueError(msg)
    shuffles: set[int] = set()
    for spec in specs.values():
        is_result = spec.stage_id == event.result_stage_id
        if is_result != (spec.shuffle_id is None):
            msg = (
                f"{job}: stage {spec.stage_id} "
                + ("is the result stage but writes a shuffle" if is_result
                   else "is a map stage but writes no shuffle")
            )
            raise ValueError(msg)
        if spec.shuffle_id is not None:
            if spec.shuffle_id in shuffles or spec.shuffle_id in active_shuffles:
                msg = f"{job}: shuffle {spec.shuffle_id} is written by more than one active stage"
                raise ValueError(msg)
            shuffles.add(spec.shuffle_id)
            if tracker.has_shuffle(spec.shuffle_id) and spec.num_partitions not in (
                None, tracker.num_maps(spec.shuffle_id)
            ):
                msg = (
                    f"{job}: stage {spec.stage_id} writes shuffle {spec.shuffle_id} with "
                    f"{spec.num_partitions} partitions, but the tracker already holds that "
                    f"shuffle with {tracker.num_maps(spec.shuffle_id)} maps"
                    "\n\nunregister the shuffle or use a new id"
                )
                raise ValueError(msg)
        for parent in spec.parents:
            if parent not in specs or parent == event.result_stage_id:
                msg = (
                    f"{job}: stage {spec.stage_id} reads stage {parent}, which is not one of "
                    f"the job's map stages"
                )
                raise ValueError(msg)

    children: dict[int, list[int]] = {stage_id: [] for stage_id in specs}
    for spec in specs.values():
        for parent in spec.parents:
            children[parent].append(spec.stage_id)

    # Every stage must be reachable from the result stage, and the graph must be acyclic.
    done: set[int] = set()
    on_path: set[int] = set()

    def visit(stage_id: int) -> None:
        if stage_id in done:
            return
        if stage_id in on_path:
            msg = f"{job}: stage {stage_id} depends on itself through its parents"
            raise ValueError(msg)
        on_path.add(stage_id)
        for parent in specs[stage_id].parents:
            visit(parent)
        on_path.discard(stage_id)
        done.add(stage_id)

    visit(event.result_stage_id)
    unreachable = sorted(set(specs) - done)
    if unreachable:
        msg = f"{job}: stages {unreachable} are not ancestors of result stage " \
              f"{event.result_stage_id}"
        raise ValueError(msg)
    return children
