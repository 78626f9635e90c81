"""Events and instructions shared by the scheduler state machines.

The DAGScheduler and the TaskScheduler are sans-IO: the driver feeds them events (small frozen
dataclasses, each with an ``event_id``) and carries out the instructions they return (small frozen
dataclasses too). Every machine keeps a bounded *story* of ``(event_id, what happened)`` pairs, so
that a failure can print how the machine got where it is.

The public methods of each machine (``submit_job``, ``task_finished``, ...) build the matching
event and pass it to ``handle``; feeding events directly is equivalent.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ember.scheduler.map_output import MapStatus

STORY_SIZE = 10_000

Story = deque[tuple[str, str]]


def new_story(size: int = STORY_SIZE) -> Story:
    return deque(maxlen=size)


def format_story(story: Iterable[tuple[str, str]], *, last: int | None = None) -> str:
    """Render story entries one per line, optionally only the ``last`` few."""
    entries = list(story)
    if last is not None:
        entries = entries[-last:]
    return "\n".join(f"[{event_id}] {what}" for event_id, what in entries)


class EventIds:
    """Generates ``"<prefix>-<n>"`` ids for events whose caller did not name them."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def resolve(self, event_id: str | None) -> str:
        return event_id if event_id is not None else f"{self._prefix}-{next(self._counter)}"


class InvalidTransition(RuntimeError):
    """A state machine was asked for a transition its table does not allow (a scheduler bug)."""

    def __init__(self, what: str, start: str, finish: str, story: Iterable[tuple[str, str]]):
        msg = (
            f"invalid transition of {what}: {start} -> {finish}\n\n"
            f"recent story:\n{format_story(story, last=30)}"
        )
        super().__init__(msg)
        self.start = start
        self.finish = finish


# -- planner input ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageSpec:
    """One stage of a job as the planner describes it.

    ``parents`` are the stages whose shuffle outputs this stage reads. ``shuffle_id`` is the
    shuffle this stage writes, or None for the job's result stage. ``num_partitions`` is None
    when the count depends on the parents' map outputs (adaptive coalescing); the DAGScheduler
    then asks its ``num_partitions_for`` function once, when the stage first becomes runnable.
    """

    stage_id: int
    parents: tuple[int, ...] = ()
    shuffle_id: int | None = None
    num_partitions: int | None = None

    @property
    def is_result(self) -> bool:
        return self.shuffle_id is None


@dataclass(frozen=True)
class FetchFailure:
    """Why a reduce task failed: it could not fetch map ``map_id`` of a shuffle from an executor."""

    shuffle_id: int
    map_id: int
    executor_id: str
    message: str = ""


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str


@dataclass(frozen=True)
class JobSubmittedEvent(Event):
    job_id: int
    stages: tuple[StageSpec, ...]
    result_stage_id: int


@dataclass(frozen=True)
class TaskCompletedEvent(Event):
    """A task of a stage attempt succeeded; map tasks carry their `MapStatus`."""

    stage_id: int
    stage_attempt: int
    partition: int
    map_status: MapStatus | None


@dataclass(frozen=True)
class FetchFailedEvent(Event):
    stage_id: int
    stage_attempt: int
    partition: int
    shuffle_id: int
    map_id: int
    executor_id: str
    message: str = ""


@dataclass(frozen=True)
class TaskSetFailedEvent(Event):
    stage_id: int
    stage_attempt: int
    message: str


@dataclass(frozen=True)
class JobCancelledEvent(Event):
    job_id: int
    reason: str | None = None


@dataclass(frozen=True)
class ExecutorAddedEvent(Event):
    executor_id: str
    cores: int


@dataclass(frozen=True)
class ExecutorLostEvent(Event):
    executor_id: str
    reason: str = ""
    exit_caused_by_app: bool = False


@dataclass(frozen=True)
class TaskSetSubmittedEvent(Event):
    stage_id: int
    stage_attempt: int
    partitions: tuple[int, ...]
    preferred: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class TaskFinishedEvent(Event):
    task_id: int


@dataclass(frozen=True)
class TaskFailedEvent(Event):
    task_id: int
    reason: str
    fetch_failed: FetchFailure | None = None


@dataclass(frozen=True)
class TaskKilledEvent(Event):
    """The executor reports that a task stopped because it was killed."""

    task_id: int


@dataclass(frozen=True)
class KillTaskRequestedEvent(Event):
    task_id: int


@dataclass(frozen=True)
class StageCancelledEvent(Event):
    stage_id: int
    stage_attempt: int


# -- instructions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    pass


@dataclass(frozen=True)
class SubmitTasks(Instruction):
    """Run ``partitions`` of a stage as one task set (one stage attempt)."""

    job_id: int
    stage_id: int
    stage_attempt: int
    partitions: tuple[int, ...]
    num_partitions: int
    is_result: bool
    shuffle_id: int | None


@dataclass(frozen=True)
class CancelStage(Instruction):
    """Stop a stage attempt: drop its pending tasks and kill its running ones."""

    stage_id: int
    stage_attempt: int


@dataclass(frozen=True)
class JobSucceeded(Instruction):
    job_id: int


@dataclass(frozen=True)
class JobFailed(Instruction):
    job_id: int
    message: str


@dataclass(frozen=True)
class LaunchTask(Instruction):
    """Run one task on an executor; ``speculative`` marks a copy of a straggler."""

    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt_number: int
    executor_id: str
    speculative: bool = False


@dataclass(frozen=True)
class KillTask(Instruction):
    task_id: int
    executor_id: str


@dataclass(frozen=True)
class TaskSucceeded(Instruction):
    """Forward to `DAGScheduler.task_succeeded` together with the task's map status, if any."""

    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    executor_id: str


@dataclass(frozen=True)
class TaskFetchFailed(Instruction):
    """Forward to `DAGScheduler.task_fetch_failed`."""

    stage_id: int
    stage_attempt: int
    partition: int
    shuffle_id: int
    map_id: int
    executor_id: str
    message: str = ""


@dataclass(frozen=True)
class TaskSetAborted(Instruction):
    """Forward to `DAGScheduler.taskset_failed`."""

    stage_id: int
    stage_attempt: int
    message: str


@dataclass(frozen=True)
class ExecutorRemoved(Instruction):
    """Forward to `DAGScheduler.executor_lost`."""

    executor_id: str
    reason: str
