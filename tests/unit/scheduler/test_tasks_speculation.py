"""Speculation and retries elsewhere in the TaskScheduler: events in, instructions checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ember.core.conf import SparkConf
from ember.scheduler.events import Instruction, KillTask, LaunchTask, TaskSucceeded
from ember.scheduler.tasks import Speculation, TaskScheduler

Step = tuple[Callable[[TaskScheduler], list[Instruction]], list[Instruction]]


def add(executor: str, cores: int = 1) -> Callable[..., Any]:
    return lambda ts: ts.executor_added(executor, cores)


def submit(partitions: Sequence[int]) -> Callable[..., Any]:
    return lambda ts: ts.submit_taskset(0, 0, partitions)


def tick(now: float) -> Callable[..., Any]:
    return lambda ts: ts.tick(now)


def finish(task_id: int) -> Callable[..., Any]:
    return lambda ts: ts.task_finished(task_id)


def fail(task_id: int) -> Callable[..., Any]:
    return lambda ts: ts.task_failed(task_id, reason="boom")


def killed(task_id: int) -> Callable[..., Any]:
    return lambda ts: ts.task_killed(task_id)


def launch(task_id: int, partition: int, executor: str, *, attempt: int = 0,
           speculative: bool = False) -> LaunchTask:
    return LaunchTask(task_id, 0, 0, partition, attempt, executor, speculative)


def copy(task_id: int, partition: int, executor: str) -> LaunchTask:
    return launch(task_id, partition, executor, attempt=1, speculative=True)


def succeeded(task_id: int, partition: int, executor: str) -> TaskSucceeded:
    return TaskSucceeded(task_id, 0, 0, partition, executor)


def run(scheduler: TaskScheduler, steps: Sequence[Step]) -> None:
    for number, (step, expected) in enumerate(steps):
        got = step(scheduler)
        assert got == expected, f"step {number}\n\n{scheduler.format_story(last=25)}"


# Five tasks on two executors of two slots. At t=1.2 three have succeeded (1.0, 1.0, 1.2 s:
# threshold 1.5 x 1.0 = 1.5 s); at t=1.6 task 3 on b has run 1.6 s, task 4 on a only 0.6 s.
STRAGGLER: list[Step] = [
    (add("a", 2), []),
    (add("b", 2), []),
    (submit(range(5)),
     [launch(0, 0, "a"), launch(1, 1, "b"), launch(2, 2, "a"), launch(3, 3, "b")]),
    (tick(1.0), []),
    (finish(0), [succeeded(0, 0, "a"), launch(4, 4, "a")]),
    (finish(2), [succeeded(2, 2, "a")]),
    (tick(1.2), []),  # two of five succeeded: below the quantile (3), no copy yet
    (finish(1), [succeeded(1, 1, "b")]),
    (tick(1.4), []),  # task 3 has run 1.4 s, not over 1.5 s
    (tick(1.6), [copy(5, 3, "a")]),  # the straggler only, on the executor that does not run it
    (tick(2.0), []),  # one copy at most; task 4 has run 1 s
]

SCENARIOS: dict[str, tuple[dict[str, Any], list[Step]]] = {
    "copy_wins_and_the_original_is_killed_then_ignored": ({}, [
        *STRAGGLER,
        (finish(5), [succeeded(5, 3, "a"), KillTask(3, "b")]),
        (killed(3), []),
        (finish(4), [succeeded(4, 4, "a")]),
    ]),
    "original_wins_and_the_copy_is_killed_its_failure_ignored": ({"max_failures": 1}, [
        *STRAGGLER,
        (finish(3), [succeeded(3, 3, "b"), KillTask(5, "a")]),
        (fail(5), []),
        (finish(4), [succeeded(4, 4, "a")]),
    ]),
    "late_success_of_the_loser_is_ignored": ({}, [
        *STRAGGLER,
        (finish(5), [succeeded(5, 3, "a"), KillTask(3, "b")]),
        (finish(3), []),
    ]),
    "a_copy_failing_while_the_other_runs_does_not_fail_the_task": ({"max_failures": 1}, [
        *STRAGGLER,
        (fail(3), []),  # the original fails: no abort, no relaunch, the copy carries on
        (finish(5), [succeeded(5, 3, "a")]),
        (finish(4), [succeeded(4, 4, "a")]),
    ]),
    "the_copy_waits_for_a_free_slot_on_another_executor": ({}, [
        (add("a", 2), []),
        (submit(range(4)), [launch(0, 0, "a"), launch(1, 1, "a")]),
        (tick(1.0), []),
        (finish(0), [succeeded(0, 0, "a"), launch(2, 2, "a")]),
        (finish(2), [succeeded(2, 2, "a"), launch(3, 3, "a")]),
        (finish(3), [succeeded(3, 3, "a")]),
        (tick(5.0), []),  # task 1 is a straggler, but a is the only executor
        (add("b", 1), [copy(4, 1, "b")]),
    ]),
    "no_copy_for_short_tasks_below_min_task_runtime": (
        {"speculation": Speculation(min_runtime=10.0)}, [
            *STRAGGLER[:-2],
            (tick(9.0), []),
        ]),
}


@pytest.mark.parametrize(("options", "steps"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_speculation_scenario(options: dict[str, Any], steps: list[Step]) -> None:
    run(TaskScheduler(**{"speculation": Speculation(), **options}), steps)


def test_speculation_is_off_by_default() -> None:
    scheduler = TaskScheduler()
    for step, _ in STRAGGLER[:-2]:
        step(scheduler)
    assert scheduler.tick(100.0) == []
    conf = SparkConf()
    assert conf.get_bool("spark.speculation") is False
    assert conf.get_seconds("spark.speculation.interval") == pytest.approx(0.1)
    assert float(conf.get("spark.speculation.multiplier") or 0) == 1.5
    assert float(conf.get("spark.speculation.quantile") or 0) == 0.75
    assert conf.get_seconds("spark.speculation.minTaskRuntime") == pytest.approx(0.1)


def test_kill_requested_marks_the_losing_copy() -> None:
    scheduler = TaskScheduler(speculation=Speculation())
    run(scheduler, STRAGGLER)
    scheduler.task_finished(5)
    assert scheduler.kill_requested(3)
    assert not scheduler.kill_requested(4)
    scheduler.task_killed(3)
    scheduler.task_finished(4)
    assert scheduler.is_idle()
    assert "(speculative)" in scheduler.format_story()


def test_failed_task_prefers_executors_it_has_not_failed_on_then_any() -> None:
    run(TaskScheduler(), [
        (add("a"), []),
        (add("b"), []),
        (submit([0, 1]), [launch(0, 0, "a"), launch(1, 1, "b")]),
        (finish(1), [succeeded(1, 1, "b")]),
        # Round-robin would pick a next; the task failed there, so it goes to b.
        (fail(0), [launch(2, 0, "b", attempt=1)]),
        # It has failed on both: any free executor will do.
        (fail(2), [launch(3, 0, "a", attempt=2)]),
    ])


@pytest.mark.parametrize(("options", "match"), [
    ({"multiplier": 0}, "spark.speculation.multiplier"),
    ({"quantile": 1.5}, "spark.speculation.quantile"),
    ({"min_runtime": -1}, "spark.speculation.minTaskRuntime"),
])
def test_bad_speculation_settings_are_refused(options: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Speculation(**options)
