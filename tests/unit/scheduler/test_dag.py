"""DAGScheduler scenarios: each feeds events and checks the exact instructions that come out."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ember.scheduler.dag import DAGScheduler, StageSpec
from ember.scheduler.events import (
    CancelStage,
    ExecutorRemoved,
    FetchFailure,
    Instruction,
    JobFailed,
    JobSucceeded,
    KillTask,
    LaunchTask,
    SubmitTasks,
    TaskFetchFailed,
    TaskSetAborted,
    TaskSucceeded,
)
from ember.scheduler.map_output import MapOutputTracker, MapStatus
from ember.scheduler.tasks import TaskScheduler

# -- a small language for scenarios ---------------------------------------------------------------

Step = tuple[Callable[[DAGScheduler], list[Instruction]], list[Instruction]]


def on(executor_id: str, sizes: tuple[int, ...] = (1, 1)) -> MapStatus:
    return MapStatus(executor_id, f"http://{executor_id}:7078", sizes)


def submit(job_id: int, stages: Sequence[StageSpec], result: int) -> Callable[..., Any]:
    return lambda dag: dag.submit_job(job_id, stages, result)


def ok(stage: int, attempt: int, partition: int, where: str | None = None) -> Callable[..., Any]:
    status = on(where) if where is not None else None
    return lambda dag: dag.task_succeeded(stage, attempt, partition, status)


def fetch_failed(
    stage: int, attempt: int, partition: int, shuffle: int, map_id: int, executor: str
) -> Callable[..., Any]:
    return lambda dag: dag.task_fetch_failed(stage, attempt, partition, shuffle, map_id, executor)


def lost(executor: str) -> Callable[..., Any]:
    return lambda dag: dag.executor_lost(executor)


def map_tasks(
    job: int, stage: int, attempt: int, partitions: tuple[int, ...], n: int, shuffle: int
) -> SubmitTasks:
    return SubmitTasks(job, stage, attempt, partitions, n, False, shuffle)


def result_tasks(
    job: int, stage: int, attempt: int, partitions: tuple[int, ...], n: int
) -> SubmitTasks:
    return SubmitTasks(job, stage, attempt, partitions, n, True, None)


def run(dag: DAGScheduler, steps: Sequence[Step]) -> None:
    for number, (step, expected) in enumerate(steps):
        got = step(dag)
        assert got == expected, f"step {number}\n\n{dag.format_story(last=25)}"


# Job 1: map stage 0 (shuffle 10, 2 maps) -> result stage 1 (3 partitions).
TWO_STAGES = [StageSpec(0, (), 10, 2), StageSpec(1, (0,), None, 3)]
# Job 1: map stages 0 (shuffle 10, 2 maps) and 1 (shuffle 11, 1 map) joined by result stage 2.
JOIN = [StageSpec(0, (), 10, 2), StageSpec(1, (), 11, 1), StageSpec(2, (0, 1), None, 2)]
# Job 1: map stage 0 (shuffle 10, 3 maps) -> result stage 1 (3 partitions).
WIDE_MAP = [StageSpec(0, (), 10, 3), StageSpec(1, (0,), None, 3)]

SCENARIOS: dict[str, list[Step]] = {
    "simple_two_stage_job": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (ok(1, 0, 0), []),
        (ok(1, 0, 2), []),
        (ok(1, 0, 1), [JobSucceeded(1)]),
    ],
    "join_waits_for_both_parent_map_stages": [
        (submit(1, JOIN, 2), [map_tasks(1, 0, 0, (0, 1), 2, 10), map_tasks(1, 1, 0, (0,), 1, 11)]),
        (ok(1, 0, 0, "a"), []),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 2, 0, (0, 1), 2)]),
        (ok(2, 0, 1), []),
        (ok(2, 0, 0), [JobSucceeded(1)]),
    ],
    "result_stage_without_parents_runs_at_once": [
        (submit(7, [StageSpec(3, (), None, 2)], 3), [result_tasks(7, 3, 0, (0, 1), 2)]),
        (ok(3, 0, 0), []),
        (ok(3, 0, 0), []),  # duplicate result for a finished partition
        (ok(3, 0, 1), [JobSucceeded(7)]),
    ],
    "job_with_no_partitions_succeeds_at_once": [
        (submit(1, [StageSpec(0, (), 10, 0), StageSpec(1, (0,), None, 0)], 1),
         [JobSucceeded(1)]),
    ],
    "fetch_failure_resubmits_only_missing_map_partitions": [
        (submit(1, WIDE_MAP, 1), [map_tasks(1, 0, 0, (0, 1, 2), 3, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), []),
        (ok(0, 0, 2, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (ok(1, 0, 0), []),
        # Map 1 is gone, and with it everything else executor b held (map 2).
        (fetch_failed(1, 0, 1, 10, 1, "b"),
         [CancelStage(1, 0), map_tasks(1, 0, 1, (1, 2), 3, 10)]),
        (ok(0, 1, 2, "c"), []),
        (ok(0, 1, 1, "a"), [result_tasks(1, 1, 1, (1, 2), 3)]),
        (ok(1, 1, 2), []),
        (ok(1, 1, 1), [JobSucceeded(1)]),
    ],
    "duplicate_fetch_failures_resubmit_once": [
        (submit(1, WIDE_MAP, 1), [map_tasks(1, 0, 0, (0, 1, 2), 3, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), []),
        (ok(0, 0, 2, "c"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (fetch_failed(1, 0, 0, 10, 1, "b"), [CancelStage(1, 0), map_tasks(1, 0, 1, (1,), 3, 10)]),
        (fetch_failed(1, 0, 1, 10, 1, "b"), []),
        (fetch_failed(1, 0, 2, 10, 1, "b"), []),
        # Another lost executor in the same failed attempt: its map re-runs once the running
        # attempt of the map stage ends.
        (fetch_failed(1, 0, 2, 10, 2, "c"), []),
        (ok(0, 1, 1, "a"), [map_tasks(1, 0, 2, (2,), 3, 10)]),
        (ok(0, 2, 2, "a"), [result_tasks(1, 1, 1, (0, 1, 2), 3)]),
        (ok(1, 1, 0), []),
        (ok(1, 1, 1), []),
        (ok(1, 1, 2), [JobSucceeded(1)]),
    ],
    "fetch_failure_in_join_reruns_every_parent_that_lost_outputs": [
        (submit(1, JOIN, 2), [map_tasks(1, 0, 0, (0, 1), 2, 10), map_tasks(1, 1, 0, (0,), 1, 11)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), []),
        (ok(1, 0, 0, "b"), [result_tasks(1, 2, 0, (0, 1), 2)]),
        (fetch_failed(2, 0, 0, 11, 0, "b"),
         [CancelStage(2, 0), map_tasks(1, 0, 1, (1,), 2, 10), map_tasks(1, 1, 1, (0,), 1, 11)]),
        (ok(1, 1, 0, "a"), []),
        (ok(0, 1, 1, "c"), [result_tasks(1, 2, 1, (0, 1), 2)]),
    ],
    "executor_lost_during_map_stage_reruns_its_lost_partitions": [
        (submit(1, WIDE_MAP, 1), [map_tasks(1, 0, 0, (0, 1, 2), 3, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), []),
        (lost("a"), []),
        # The attempt ends with map 0 missing, so a new attempt runs just that map.
        (ok(0, 0, 2, "b"), [map_tasks(1, 0, 1, (0,), 3, 10)]),
        (ok(0, 1, 0, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
    ],
    "output_reported_from_a_lost_executor_is_ignored": [
        (submit(1, WIDE_MAP, 1), [map_tasks(1, 0, 0, (0, 1, 2), 3, 10)]),
        (ok(0, 0, 0, "a"), []),
        (lost("b"), []),
        (ok(0, 0, 1, "a"), []),
        (ok(0, 0, 2, "b"), [map_tasks(1, 0, 1, (2,), 3, 10)]),  # b's late report is not trusted
        (ok(0, 1, 2, "a"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
    ],
    "executor_lost_during_reduce_stage_recovers_through_fetch_failure": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (ok(1, 0, 0), []),
        (lost("a"), []),  # the running reduce stage will hit fetch failures
        (fetch_failed(1, 0, 1, 10, 0, "a"), [CancelStage(1, 0), map_tasks(1, 0, 1, (0,), 2, 10)]),
        (fetch_failed(1, 0, 2, 10, 0, "a"), []),
        (ok(0, 1, 0, "c"), [result_tasks(1, 1, 1, (1, 2), 3)]),
        (ok(1, 1, 1), []),
        (ok(1, 1, 2), [JobSucceeded(1)]),
    ],
    "executor_lost_before_waiting_stage_reruns_parent_first": [
        (submit(1, JOIN, 2), [map_tasks(1, 0, 0, (0, 1), 2, 10), map_tasks(1, 1, 0, (0,), 1, 11)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), []),
        (lost("a"), [map_tasks(1, 0, 1, (0,), 2, 10)]),  # stage 2 waits on stage 1 meanwhile
        (ok(1, 0, 0, "b"), []),
        (ok(0, 1, 0, "b"), [result_tasks(1, 2, 0, (0, 1), 2)]),
    ],
    "executor_lost_after_reduce_finished_reruns_nothing": [
        (submit(1, [StageSpec(0, (), 10, 1), StageSpec(1, (0,), 11, 1),
                    StageSpec(2, (1,), None, 1)], 2), [map_tasks(1, 0, 0, (0,), 1, 10)]),
        (ok(0, 0, 0, "a"), [map_tasks(1, 1, 0, (0,), 1, 11)]),
        (ok(1, 0, 0, "b"), [SubmitTasks(1, 2, 0, (0,), 1, True, None)]),
        (lost("a"), []),  # stage 0's output is no longer needed by anyone
        (ok(2, 0, 0), [JobSucceeded(1)]),
    ],
    "fetch_failure_from_an_old_attempt_is_ignored": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (fetch_failed(1, 0, 0, 10, 1, "b"), [CancelStage(1, 0), map_tasks(1, 0, 1, (1,), 2, 10)]),
        (ok(0, 1, 1, "c"), [result_tasks(1, 1, 1, (0, 1, 2), 3)]),
        (fetch_failed(1, 0, 2, 10, 1, "c"), []),
        (ok(1, 1, 0), []),
    ],
    "result_from_an_old_attempt_still_counts": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (fetch_failed(1, 0, 0, 10, 1, "b"), [CancelStage(1, 0), map_tasks(1, 0, 1, (1,), 2, 10)]),
        (ok(1, 0, 2), []),  # a zombie task of attempt 0 finished anyway
        (ok(0, 1, 1, "c"), [result_tasks(1, 1, 1, (0, 1), 3)]),
        (ok(1, 1, 0), []),
        (ok(1, 1, 1), [JobSucceeded(1)]),
    ],
    "old_attempt_finishing_a_partition_cancels_the_leftover_task": [
        (submit(1, WIDE_MAP, 1), [map_tasks(1, 0, 0, (0, 1, 2), 3, 10)]),
        (ok(0, 0, 0, "a"), []),
        (lost("a"), []),
        (ok(0, 0, 1, "b"), []),
        (ok(0, 0, 2, "b"), [map_tasks(1, 0, 1, (0,), 3, 10)]),
        # Attempt 0's map 0 was rejected (its executor died); attempt 1 re-runs it. A second
        # copy of attempt 0 (say, a retry on b) finishes first, so attempt 1's task is leftover.
        (ok(0, 0, 0, "b"), [CancelStage(0, 1), result_tasks(1, 1, 0, (0, 1, 2), 3)]),
    ],
    "events_for_unknown_stages_and_attempts_are_ignored": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 5, 0, "a"), []),
        (ok(9, 0, 0, "a"), []),
        (fetch_failed(9, 0, 0, 10, 0, "a"), []),
        (lambda dag: dag.taskset_failed(9, 0, "boom"), []),
        (lambda dag: dag.cancel_job(42), []),
        (lost("nobody"), []),
    ],
    "taskset_failure_fails_job_and_cancels_other_stages": [
        (submit(1, JOIN, 2), [map_tasks(1, 0, 0, (0, 1), 2, 10), map_tasks(1, 1, 0, (0,), 1, 11)]),
        (lambda dag: dag.taskset_failed(1, 0, "Task 0 in stage 1.0 failed 4 times, most recent "
                                              "failure: boom"),
         [CancelStage(0, 0),
          JobFailed(1, "Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times, "
                       "most recent failure: boom")]),
        (ok(0, 0, 0, "a"), []),
    ],
    "cancel_job_cancels_running_stages": [
        (submit(1, JOIN, 2), [map_tasks(1, 0, 0, (0, 1), 2, 10), map_tasks(1, 1, 0, (0,), 1, 11)]),
        (ok(1, 0, 0, "a"), []),
        (lambda dag: dag.cancel_job(1), [CancelStage(0, 0), JobFailed(1, "cancelled")]),
        (lambda dag: dag.cancel_job(1), []),
    ],
    "two_concurrent_jobs_recover_independently": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (submit(2, [StageSpec(5, (), 20, 1), StageSpec(6, (5,), None, 1)], 6),
         [map_tasks(2, 5, 0, (0,), 1, 20)]),
        (ok(0, 0, 0, "a"), []),
        (ok(5, 0, 0, "a"), [result_tasks(2, 6, 0, (0,), 1)]),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (lost("a"), []),
        (fetch_failed(1, 0, 0, 10, 0, "a"), [CancelStage(1, 0), map_tasks(1, 0, 1, (0,), 2, 10)]),
        (ok(6, 0, 0), [JobSucceeded(2)]),  # job 2's reducer had fetched everything in time
        (lambda dag: dag.cancel_job(1, reason="user request"),
         [CancelStage(0, 1), JobFailed(1, "cancelled: user request")]),
    ],
    "later_job_skips_stages_whose_shuffle_is_still_registered": [
        (submit(1, TWO_STAGES, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1, 2), 3)]),
        (ok(1, 0, 0), []),
        (ok(1, 0, 1), []),
        (ok(1, 0, 2), [JobSucceeded(1)]),
        (submit(2, [StageSpec(3, (), 10, None), StageSpec(4, (3,), None, 1)], 4),
         [result_tasks(2, 4, 0, (0,), 1)]),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenario(steps: list[Step]) -> None:
    dag = DAGScheduler()
    run(dag, steps)


def test_jobs_leave_no_state_behind() -> None:
    dag = DAGScheduler()
    run(dag, SCENARIOS["simple_two_stage_job"])
    assert dag.active_jobs == ()
    with pytest.raises(KeyError, match="stage 0 is not part of an active job"):
        dag.stage_state(0)


# -- partition counts decided at run time ---------------------------------------------------------


def test_num_partitions_for_is_called_once_and_fixed_for_the_stage() -> None:
    calls: list[tuple[int, list[int]]] = []

    def coalesce(spec: StageSpec, tracker: MapOutputTracker) -> int:
        calls.append((spec.stage_id, tracker.sizes_by_reduce(10)))
        return 2

    dag = DAGScheduler(coalesce)
    stages = [StageSpec(0, (), 10, 2), StageSpec(1, (0,), None, None)]
    run(dag, [
        (submit(1, stages, 1), [map_tasks(1, 0, 0, (0, 1), 2, 10)]),
        (ok(0, 0, 0, "a"), []),
    ])
    assert dag.stage_num_partitions(1) is None
    run(dag, [
        (ok(0, 0, 1, "b"), [result_tasks(1, 1, 0, (0, 1), 2)]),
        (fetch_failed(1, 0, 0, 10, 1, "b"), [CancelStage(1, 0), map_tasks(1, 0, 1, (1,), 2, 10)]),
        (ok(0, 1, 1, "a"), [result_tasks(1, 1, 1, (0, 1), 2)]),
    ])
    assert calls == [(1, [2, 2])]  # decided once, from both maps' sizes
    assert dag.stage_num_partitions(1) == 2


def test_map_stage_registers_its_shuffle_when_its_partition_count_is_decided() -> None:
    counts = {1: 3, 2: 1}
    dag = DAGScheduler(lambda spec, tracker: counts[spec.stage_id])
    stages = [StageSpec(0, (), 10, 1), StageSpec(1, (0,), 11, None), StageSpec(2, (1,), None, None)]
    run(dag, [(submit(1, stages, 2), [map_tasks(1, 0, 0, (0,), 1, 10)])])
    assert not dag.tracker.has_shuffle(11)
    run(dag, [(ok(0, 0, 0, "a"), [map_tasks(1, 1, 0, (0, 1, 2), 3, 11)])])
    assert dag.tracker.num_maps(11) == 3


def test_num_partitions_for_must_return_a_count() -> None:
    dag = DAGScheduler(lambda spec, tracker: -1)
    with pytest.raises(ValueError, match="num_partitions_for returned -1 for stage 0"):
        dag.submit_job(1, [StageSpec(0, (), None, None)], 0)


def test_adaptive_stage_without_num_partitions_for_is_refused() -> None:
    with pytest.raises(ValueError, match="pass num_partitions_for="):
        DAGScheduler().submit_job(1, [StageSpec(0, (), None, None)], 0)


# -- stage attempts --------------------------------------------------------------------------------


def _fail_and_recover(dag: DAGScheduler, attempt: int) -> list[Instruction]:
    """Result stage 1 fails on map 0, the map re-runs, the result stage is resubmitted."""
    out = dag.task_fetch_failed(1, attempt, 0, 10, 0, f"x{attempt}")
    if any(isinstance(i, JobFailed) for i in out):
        return out
    return out + dag.task_succeeded(0, attempt + 1, 0, on(f"x{attempt + 1}", (1,)))


def test_too_many_stage_attempts_fail_the_job() -> None:
    dag = DAGScheduler(max_stage_attempts=4)
    run(dag, [
        (submit(1, [StageSpec(0, (), 10, 1), StageSpec(1, (0,), None, 1)], 1),
         [map_tasks(1, 0, 0, (0,), 1, 10)]),
        (ok(0, 0, 0, "x0"), [result_tasks(1, 1, 0, (0,), 1)]),
    ])
    for attempt in range(3):
        assert _fail_and_recover(dag, attempt) == [
            CancelStage(1, attempt),
            map_tasks(1, 0, attempt + 1, (0,), 1, 10),
            result_tasks(1, 1, attempt + 1, (0,), 1),
        ]
    assert _fail_and_recover(dag, 3) == [
        CancelStage(1, 3),
        JobFailed(
            1,
            "Job aborted due to stage failure: ResultStage 1 has failed the maximum allowable "
            "number of times: 4. Most recent failure reason:\n"
            "FetchFailed(executor=x3, shuffleId=10, mapIndex=0, reduceId=0, message=)",
        ),
    ]
    assert dag.active_jobs == ()


def test_stage_attempt_failures_only_count_when_consecutive() -> None:
    dag = DAGScheduler(max_stage_attempts=2)
    chain = [StageSpec(0, (), 10, 1), StageSpec(1, (0,), 11, 1), StageSpec(2, (1,), None, 1)]
    run(dag, [
        (submit(1, chain, 2), [map_tasks(1, 0, 0, (0,), 1, 10)]),
        (ok(0, 0, 0, "a"), [map_tasks(1, 1, 0, (0,), 1, 11)]),
        # Stage 1 attempt 0 fails once, then attempt 1 succeeds: the count starts over.
        (fetch_failed(1, 0, 0, 10, 0, "a"), [CancelStage(1, 0), map_tasks(1, 0, 1, (0,), 1, 10)]),
        (ok(0, 1, 0, "b"), [map_tasks(1, 1, 1, (0,), 1, 11)]),
        (ok(1, 1, 0, "c"), [result_tasks(1, 2, 0, (0,), 1)]),
        (fetch_failed(2, 0, 0, 11, 0, "c"), [CancelStage(2, 0), map_tasks(1, 1, 2, (0,), 1, 11)]),
    ])
    assert dag.stage_state(1) == "running"
    out = dag.task_fetch_failed(1, 2, 0, 10, 0, "b")
    assert out[0] == CancelStage(1, 2)
    assert isinstance(out[1], SubmitTasks)  # one failure since the last success: no abort


def test_fetch_failure_from_a_shuffle_the_stage_does_not_read_is_refused() -> None:
    dag = DAGScheduler()
    run(dag, SCENARIOS["join_waits_for_both_parent_map_stages"][:4])
    with pytest.raises(ValueError, match="shuffle 99, which none of its parent stages"):
        dag.task_fetch_failed(2, 0, 0, 99, 0, "a")


def test_map_task_success_needs_a_map_status() -> None:
    dag = DAGScheduler()
    dag.submit_job(1, TWO_STAGES, 1)
    with pytest.raises(ValueError, match="without a map status"):
        dag.task_succeeded(0, 0, 0, None)
    with pytest.raises(ValueError, match=r"partition 2 is out of range for ShuffleMapStage 0"):
        dag.task_succeeded(0, 0, 2, on("a"))


# -- job validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stages", "result", "match"),
    [
        ([StageSpec(0, (), 10, 1)], 1, "result stage 1 is not among its stages"),
        ([StageSpec(0, (), 10, 1)], 0, "stage 0 is the result stage but writes a shuffle"),
        ([StageSpec(0, (), None, 1), StageSpec(1, (0,), None, 1)], 1,
         "stage 0 is a map stage but writes no shuffle"),
        ([StageSpec(0, (), 10, 1), StageSpec(0, (), None, 1)], 0, "stage id 0 is used twice"),
        ([StageSpec(0, (), 10, 1), StageSpec(1, (), 10, 1), StageSpec(2, (0, 1), None, 1)], 2,
         "shuffle 10 is written by more than one active stage"),
        ([StageSpec(1, (3,), None, 1)], 1, "reads stage 3, which is not one of"),
        ([StageSpec(0, (1,), 10, 1), StageSpec(1, (0,), 11, 1), StageSpec(2, (1,), None, 1)], 2,
         "depends on itself"),
        ([StageSpec(0, (), 10, 1), StageSpec(1, (), None, 1)], 1,
         r"stages \[0\] are not ancestors of result stage 1"),
        ([StageSpec(0, (), None, -1)], 0, "stage 0 has -1 partitions"),
    ],
)
def test_malformed_jobs_are_refused(stages: list[StageSpec], result: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DAGScheduler().submit_job(1, stages, result)


def test_job_and_stage_ids_must_be_new_while_active() -> None:
    dag = DAGScheduler()
    dag.submit_job(1, TWO_STAGES, 1)
    with pytest.raises(ValueError, match="job 1 is already active"):
        dag.submit_job(1, [StageSpec(5, (), None, 1)], 5)
    with pytest.raises(ValueError, match="stage id 1 is used twice"):
        dag.submit_job(2, [StageSpec(1, (), None, 1)], 1)
    with pytest.raises(ValueError, match="shuffle 10 is written by more than one active stage"):
        dag.submit_job(2, [StageSpec(5, (), 10, 1), StageSpec(6, (5,), None, 1)], 6)


def test_job_reusing_a_shuffle_with_another_size_is_refused_without_side_effects() -> None:
    dag = DAGScheduler()
    dag.tracker.register_shuffle(11, 4)
    stages = [StageSpec(0, (), 10, 2), StageSpec(1, (0,), 11, 3), StageSpec(2, (1,), None, 1)]
    with pytest.raises(ValueError, match="holds that shuffle with 4 maps"):
        dag.submit_job(1, stages, 2)
    assert dag.active_jobs == ()
    assert not dag.tracker.has_shuffle(10)


def test_story_names_the_events_that_led_somewhere() -> None:
    dag = DAGScheduler()
    dag.submit_job(1, TWO_STAGES, 1, event_id="submit")
    dag.task_succeeded(0, 0, 0, on("a"), event_id="map-0")
    assert ("map-0", "ShuffleMapStage 0 map 0 registered on executor a (attempt 0)") in dag.story
    assert all(event_id in {"submit", "map-0"} for event_id, _ in dag.story)
    dag.executor_lost("a")
    assert dag.story[-1][0] == "dag-1"  # generated ids for events the caller did not name


# -- both schedulers together, with executors dying at random -------------------------------------


SHUFFLE_PARTITIONS = 6


def coalesce_in_pairs(spec: StageSpec, tracker: MapOutputTracker) -> int:
    return len(tracker.sizes_by_reduce(10)) // 2


class Cluster:
    """Drives a DAGScheduler and a TaskScheduler the way the driver does, with fake executors.

    Tasks "run" when the test picks one to complete. A reduce task fails to fetch when a map
    output it reads is missing or sits on a dead executor, like a real shuffle read.
    """

    def __init__(
        self, stages: list[StageSpec], result: int, rng: random.Random, *, flaky: float
    ) -> None:
        self.rng = rng
        self.flaky = flaky
        self.dag = DAGScheduler(coalesce_in_pairs)
        self.tasks = TaskScheduler(max_failures=4)
        self.specs = {spec.stage_id: spec for spec in stages}
        self.shuffle_of = {spec.stage_id: spec.shuffle_id for spec in stages}
        self.alive: set[str] = set()
        self.next_executor = 0
        self.running: dict[int, LaunchTask] = {}
        self.num_partitions: dict[tuple[int, int], int] = {}
        self.outcome: Instruction | None = None
        self.apply(self.dag.submit_job(1, stages, result))

    def add_executor(self) -> None:
        executor_id = f"e{self.next_executor}"
        self.next_executor += 1
        self.alive.add(executor_id)
        self.apply(self.tasks.executor_added(executor_id, 2))

    def kill_executor(self) -> None:
        victim = self.rng.choice(sorted(self.alive))
        self.alive.discard(victim)
        for task_id in self.tasks.running_tasks_on(victim):
            self.running.pop(task_id)
        self.apply(self.tasks.executor_lost(victim, "killed by test"))

    def complete_some_task(self) -> None:
        task = self.running.pop(self.rng.choice(sorted(self.running)))
        spec = self.specs[task.stage_id]
        for parent in spec.parents:
            shuffle = self.shuffle_of[parent]
            for map_id, status in enumerate(self.dag.tracker.statuses(shuffle)):
                if status is None or status.executor_id not in self.alive:
                    where = status.executor_id if status else "nowhere"
                    failure = FetchFailure(shuffle, map_id, where)
                    self.apply(self.tasks.task_failed(task.task_id, reason="fetch",
                                                      fetch_failed=failure))
                    return
        if self.rng.random() < self.flaky:
            self.apply(self.tasks.task_failed(task.task_id, reason="flaky"))
            return
        self.apply(self.tasks.task_finished(task.task_id))

    def apply(self, instructions: list[Instruction]) -> None:
        queue = list(instructions)
        while queue:
            instruction = queue.pop(0)
            if isinstance(instruction, SubmitTasks):
                key = (instruction.stage_id, instruction.stage_attempt)
                self.num_partitions[key] = instruction.num_partitions
                queue += self.tasks.submit_taskset(*key, instruction.partitions)
            elif isinstance(instruction, CancelStage):
                queue += self.tasks.cancel_stage(instruction.stage_id, instruction.stage_attempt)
            elif isinstance(instruction, LaunchTask):
                self.running[instruction.task_id] = instruction
            elif isinstance(instruction, KillTask):
                if self.running.pop(instruction.task_id, None) is not None:
                    queue += self.tasks.task_killed(instruction.task_id)
            elif isinstance(instruction, TaskSucceeded):
                shuffle = self.shuffle_of[instruction.stage_id]
                status = None
                if shuffle is not None:
                    # Map tasks always write the shuffle's own partitioning; a reduce stage with
                    # an adaptive count reads ranges of those blocks.
                    status = on(instruction.executor_id, (1,) * SHUFFLE_PARTITIONS)
                queue += self.dag.task_succeeded(
                    instruction.stage_id, instruction.stage_attempt, instruction.partition, status
                )
            elif isinstance(instruction, TaskFetchFailed):
                queue += self.dag.task_fetch_failed(
                    instruction.stage_id, instruction.stage_attempt, instruction.partition,
                    instruction.shuffle_id, instruction.map_id, instruction.executor_id,
                )
            elif isinstance(instruction, TaskSetAborted):
                queue += self.dag.taskset_failed(
                    instruction.stage_id, instruction.stage_attempt, instruction.message
                )
            elif isinstance(instruction, ExecutorRemoved):
                queue += self.dag.executor_lost(instruction.executor_id)
            elif isinstance(instruction, JobSucceeded | JobFailed):
                self.outcome = instruction
            else:  # pragma: no cover
                raise AssertionError(instruction)


@pytest.mark.parametrize("churn", [0.05, 0.25])
@pytest.mark.parametrize("seed", range(50))
def test_random_executor_losses_never_stall_a_job(seed: int, churn: float) -> None:
    rng = random.Random(seed)
    stages = [
        StageSpec(0, (), 10, 4),
        StageSpec(1, (), 11, 3),
        StageSpec(2, (0, 1), 12, None),
        StageSpec(3, (2,), None, 2),
    ]
    cluster = Cluster(stages, 3, rng, flaky=0.05)
    for _ in range(3):
        cluster.add_executor()
    for _ in range(5000):
        if cluster.outcome is not None:
            break
        assert cluster.running, f"nothing runs, job stalled\n\n{cluster.dag.format_story()}"
        roll = rng.random()
        if roll < churn and len(cluster.alive) > 1:
            cluster.kill_executor()
        elif roll < churn + 0.05:
            cluster.add_executor()
        else:
            cluster.complete_some_task()
    if churn < 0.1:
        assert cluster.outcome == JobSucceeded(1), cluster.dag.format_story()
    else:
        assert isinstance(cluster.outcome, JobSucceeded | JobFailed)
    assert cluster.dag.active_jobs == ()
    # Whatever still runs belongs to cancelled or zombie attempts and drains away.
    while cluster.running:
        cluster.complete_some_task()
    assert cluster.tasks.is_idle(), cluster.tasks.format_story(last=30)
