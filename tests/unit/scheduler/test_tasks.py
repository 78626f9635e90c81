"""TaskScheduler scenarios: each feeds events and checks the exact instructions that come out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

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
from ember.scheduler.tasks import TaskScheduler

Step = tuple[Callable[[TaskScheduler], list[Instruction]], list[Instruction]]


def add(executor: str, cores: int = 1) -> Callable[..., Any]:
    return lambda ts: ts.executor_added(executor, cores)


def submit(
    stage: int, attempt: int, partitions: Sequence[int], preferred: Mapping[int, str] | None = None
) -> Callable[..., Any]:
    return lambda ts: ts.submit_taskset(stage, attempt, partitions, preferred=preferred)


def finish(task_id: int) -> Callable[..., Any]:
    return lambda ts: ts.task_finished(task_id)


def fail(task_id: int, reason: str = "boom", fetch: FetchFailure | None = None) -> Callable[..., Any]:
    return lambda ts: ts.task_failed(task_id, reason=reason, fetch_failed=fetch)


def lose(executor: str, reason: str = "pod deleted", **kwargs: Any) -> Callable[..., Any]:
    return lambda ts: ts.executor_lost(executor, reason, **kwargs)


def killed(task_id: int) -> Callable[..., Any]:
    return lambda ts: ts.task_killed(task_id)


def cancel(stage: int, attempt: int) -> Callable[..., Any]:
    return lambda ts: ts.cancel_stage(stage, attempt)


def launch(
    task_id: int, partition: int, executor: str, *, attempt_number: int = 0, stage: int = 0,
    stage_attempt: int = 0,
) -> LaunchTask:
    return LaunchTask(task_id, stage, stage_attempt, partition, attempt_number, executor)


def succeeded(
    task_id: int, partition: int, executor: str, *, stage: int = 0, stage_attempt: int = 0
) -> TaskSucceeded:
    return TaskSucceeded(task_id, stage, stage_attempt, partition, executor)


def run(scheduler: TaskScheduler, steps: Sequence[Step]) -> None:
    for number, (step, expected) in enumerate(steps):
        got = step(scheduler)
        assert got == expected, f"step {number}\n\n{scheduler.format_story(last=25)}"


SCENARIOS: dict[str, tuple[dict[str, int], list[Step]]] = {
    "tasks_spread_round_robin_over_executors": ({}, [
        (add("a", 2), []),
        (add("b", 2), []),
        (submit(0, 0, range(5)),
         [launch(0, 0, "a"), launch(1, 1, "b"), launch(2, 2, "a"), launch(3, 3, "b")]),
        (finish(1), [succeeded(1, 1, "b"), launch(4, 4, "b")]),
        (finish(0), [succeeded(0, 0, "a")]),
    ]),
    "tasks_wait_for_executors": ({}, [
        (submit(0, 0, [0, 1]), []),
        (add("a"), [launch(0, 0, "a")]),
        (add("b"), [launch(1, 1, "b")]),
    ]),
    "slots_are_cores_divided_by_cpus_per_task": ({"cpus_per_task": 2}, [
        (add("a", 5), []),
        (submit(0, 0, range(3)), [launch(0, 0, "a"), launch(1, 1, "a")]),
    ]),
    "task_sets_are_served_in_submission_order": ({}, [
        (add("a"), []),
        (submit(0, 0, [0]), [launch(0, 0, "a")]),
        (submit(1, 0, [0]), []),
        (submit(2, 0, [0]), []),
        (finish(0), [succeeded(0, 0, "a"), launch(1, 0, "a", stage=1)]),
    ]),
    "failed_task_is_retried_on_another_executor_with_a_free_slot": ({}, [
        (add("a"), []),
        (add("b"), []),
        (add("c"), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a"), launch(1, 1, "b")]),
        (fail(0), [launch(2, 0, "c", attempt_number=1)]),
    ]),
    "failed_task_is_retried_on_the_same_executor_when_no_other_is_free": ({}, [
        (add("a"), []),
        (add("b"), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a"), launch(1, 1, "b")]),
        (fail(0), [launch(2, 0, "a", attempt_number=1)]),
    ]),
    "task_failing_max_failures_times_aborts_the_task_set": ({"max_failures": 4}, [
        (add("a", 2), []),
        (submit(2, 0, [3, 4]), [launch(0, 3, "a", stage=2), launch(1, 4, "a", stage=2)]),
        (fail(0, "oops"), [launch(2, 3, "a", stage=2, attempt_number=1)]),
        (fail(2, "oops"), [launch(3, 3, "a", stage=2, attempt_number=2)]),
        (fail(3, "oops"), [launch(4, 3, "a", stage=2, attempt_number=3)]),
        (fail(4, "ZeroDivisionError: division by zero"), [
            TaskSetAborted(
                2, 0,
                "Task 3 in stage 2.0 failed 4 times, most recent failure: Lost task 3.3 in "
                "stage 2.0 (TID 4) (executor a): ZeroDivisionError: division by zero",
            ),
            KillTask(1, "a"),
        ]),
        (killed(1), []),
    ]),
    "executor_lost_requeues_running_tasks_without_counting_failures": ({"max_failures": 2}, [
        (add("a"), []),
        (add("b"), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a"), launch(1, 1, "b")]),
        (fail(0), [launch(2, 0, "a", attempt_number=1)]),  # one failure of partition 0
        (lose("a"), [ExecutorRemoved("a", "pod deleted")]),
        (finish(1), [succeeded(1, 1, "b"), launch(3, 0, "b", attempt_number=2)]),
        (finish(2), []),  # a late report from the lost executor
        (add("c"), []),
        (fail(3), [TaskSetAborted(
            0, 0, "Task 0 in stage 0.0 failed 2 times, most recent failure: Lost task 0.2 in "
                  "stage 0.0 (TID 3) (executor b): boom",
        )]),
    ]),
    "executor_lost_relaunches_elsewhere_at_once": ({}, [
        (add("a", 2), []),
        (add("b", 2), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a"), launch(1, 1, "b")]),
        (lose("a", "OOMKilled"),
         [ExecutorRemoved("a", "OOMKilled"), launch(2, 0, "b", attempt_number=1)]),
        (lose("a", "OOMKilled"), []),
    ]),
    "executor_exit_caused_by_the_app_counts_as_a_failure": ({"max_failures": 1}, [
        (add("a"), []),
        (submit(0, 0, [0]), [launch(0, 0, "a")]),
        (lose("a", "OOMKilled", exit_caused_by_app=True), [
            ExecutorRemoved("a", "OOMKilled"),
            TaskSetAborted(
                0, 0, "Task 0 in stage 0.0 failed 1 times, most recent failure: Lost task 0.0 "
                      "in stage 0.0 (TID 0) (executor a): ExecutorLostFailure (executor a "
                      "exited caused by one of the running tasks) Reason: OOMKilled",
            ),
        ]),
    ]),
    "abort_on_executor_loss_kills_only_tasks_on_live_executors": ({"max_failures": 1}, [
        (add("a", 2), []),
        (add("b"), []),
        (submit(0, 0, [0, 1, 2]), [launch(0, 0, "a"), launch(1, 1, "b"), launch(2, 2, "a")]),
        (lose("a", "OOMKilled", exit_caused_by_app=True), [
            ExecutorRemoved("a", "OOMKilled"),
            TaskSetAborted(
                0, 0, "Task 0 in stage 0.0 failed 1 times, most recent failure: Lost task 0.0 "
                      "in stage 0.0 (TID 0) (executor a): ExecutorLostFailure (executor a "
                      "exited caused by one of the running tasks) Reason: OOMKilled",
            ),
            KillTask(1, "b"),
        ]),
    ]),
    "fetch_failure_turns_the_task_set_into_a_zombie": ({}, [
        (add("a", 2), []),
        (submit(1, 0, [0, 1, 2]), [launch(0, 0, "a", stage=1), launch(1, 1, "a", stage=1)]),
        (fail(0, "connection refused", FetchFailure(7, 3, "b")),
         [TaskFetchFailed(1, 0, 0, 7, 3, "b", "connection refused")]),
        (finish(1), [succeeded(1, 1, "a", stage=1)]),  # running tasks finish; nothing new starts
        (fail(9), []),
        (submit(1, 1, [0, 2]),
         [launch(2, 0, "a", stage=1, stage_attempt=1), launch(3, 2, "a", stage=1, stage_attempt=1)]),
    ]),
    "preferred_executor_gets_its_partitions_when_free": ({}, [
        (add("a"), []),
        (add("b"), []),
        (submit(0, 0, [0, 1, 2], {0: "b", 1: "b", 2: "a"}), [launch(0, 2, "a"), launch(1, 0, "b")]),
        (finish(1), [succeeded(1, 0, "b"), launch(2, 1, "b")]),
    ]),
    "busy_preferred_executor_does_not_hold_tasks_back": ({}, [
        (add("a"), []),
        (add("b"), []),
        (submit(0, 0, [0, 1], {0: "a", 1: "a"}), [launch(0, 0, "a"), launch(1, 1, "b")]),
    ]),
    "preferred_executor_where_the_task_failed_is_avoided": ({}, [
        (add("a"), []),
        (add("b"), []),
        (submit(0, 0, [0], {0: "a"}), [launch(0, 0, "a")]),
        (fail(0), [launch(1, 0, "b", attempt_number=1)]),
    ]),
    "cancel_stage_kills_running_tasks_and_drops_pending_ones": ({}, [
        (add("a", 2), []),
        (submit(0, 0, [0, 1, 2]), [launch(0, 0, "a"), launch(1, 1, "a")]),
        (submit(1, 0, [0]), []),
        (cancel(0, 0), [KillTask(0, "a"), KillTask(1, "a")]),
        (cancel(0, 0), []),
        (killed(0), [launch(2, 0, "a", stage=1)]),
        (finish(1), [succeeded(1, 1, "a")]),  # finished before the kill landed: still reported
    ]),
    "kill_task_requeues_the_partition_once_it_stops": ({}, [
        (add("a"), []),
        (submit(0, 0, [0]), [launch(0, 0, "a")]),
        (lambda ts: ts.kill_task(0), [KillTask(0, "a")]),
        (lambda ts: ts.kill_task(0), []),
        (killed(0), [launch(1, 0, "a", attempt_number=1)]),
    ]),
    "second_success_for_a_partition_is_ignored": ({}, [
        (add("a"), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a")]),
        (finish(0), [succeeded(0, 0, "a"), launch(1, 1, "a")]),
        (finish(0), []),
        (finish(12), []),
    ]),
    "new_attempt_of_a_stage_stops_launches_of_the_old_one": ({}, [
        (add("a"), []),
        (submit(0, 0, [0, 1]), [launch(0, 0, "a")]),
        (submit(0, 1, [1]), []),
        (finish(0), [succeeded(0, 0, "a"), launch(1, 1, "a", stage_attempt=1)]),
    ]),
    "empty_task_set_launches_nothing": ({}, [
        (add("a"), []),
        (submit(0, 0, []), []),
    ]),
}


@pytest.mark.parametrize(("options", "steps"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenario(options: dict[str, int], steps: list[Step]) -> None:
    run(TaskScheduler(**options), steps)


def test_queries_report_slots_and_running_tasks() -> None:
    scheduler = TaskScheduler()
    assert scheduler.is_idle()
    scheduler.executor_added("a", 2)
    scheduler.executor_added("b", 1)
    assert scheduler.free_slots() == 3
    scheduler.submit_taskset(0, 0, range(5))
    assert scheduler.running_tasks_on("a") == [0, 2]
    assert scheduler.running_tasks_on("b") == [1]
    assert scheduler.running_tasks_on("zzz") == []
    assert scheduler.free_slots() == 0
    assert scheduler.pending_tasks() == 2
    assert scheduler.executors == {"a": 2, "b": 1}
    assert not scheduler.is_idle()
    for task_id in range(5):
        scheduler.task_finished(task_id)
    assert scheduler.is_idle()
    assert scheduler.free_slots() == 3


def test_zombie_task_set_counts_as_idle_once_its_tasks_end() -> None:
    scheduler = TaskScheduler()
    scheduler.executor_added("a", 1)
    scheduler.submit_taskset(0, 0, [0, 1])
    scheduler.task_failed(0, reason="fetch", fetch_failed=FetchFailure(0, 0, "b"))
    assert scheduler.is_idle()
    assert scheduler.pending_tasks() == 0


def test_submitting_the_same_attempt_twice_is_refused() -> None:
    scheduler = TaskScheduler()
    scheduler.submit_taskset(0, 0, [0])
    with pytest.raises(ValueError, match="task set 0.0 was already submitted"):
        scheduler.submit_taskset(0, 0, [1])
    with pytest.raises(ValueError, match="repeated or negative partitions"):
        scheduler.submit_taskset(1, 0, [1, 1])


def test_story_tells_where_each_task_ran() -> None:
    scheduler = TaskScheduler()
    scheduler.executor_added("a", 1, event_id="exec-a")
    scheduler.submit_taskset(3, 1, [5], preferred={5: "a"}, event_id="stage-3")
    assert ("stage-3", "launching task 5.0 in stage 3.1 (TID 0) on executor a (PROCESS_LOCAL)") \
        in scheduler.story
    scheduler.task_finished(0)
    assert scheduler.story[-1] == ("tasks-1", "task set 3.1 removed")


@pytest.mark.parametrize(
    ("options", "match"),
    [({"max_failures": 0}, "spark.task.maxFailures"), ({"cpus_per_task": 0}, "spark.task.cpus")],
)
def test_bad_settings_are_refused(options: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TaskScheduler(**options)
