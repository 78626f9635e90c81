"""Delay scheduling: a task waits ``spark.locality.wait`` for the executor holding its cached
partition (PROCESS_LOCAL), then runs anywhere. Time comes in as events; no sleeps."""

from __future__ import annotations

from ember.scheduler.events import LaunchTask
from ember.scheduler.tasks import TaskScheduler


def _launches(instructions: list) -> list[tuple[int, str]]:  # type: ignore[type-arg]
    return [(i.partition, i.executor_id) for i in instructions if isinstance(i, LaunchTask)]


def _scheduler(wait: float = 3.0) -> TaskScheduler:
    ts = TaskScheduler(locality_wait=wait)
    ts.tick(100.0)
    ts.executor_added("a", 1)
    ts.executor_added("b", 1)
    return ts


def test_tasks_wait_for_their_busy_preferred_executor_then_fall_back_after_the_wait() -> None:
    ts = _scheduler()
    out = ts.submit_taskset(0, 0, [0, 1], preferred={0: "a", 1: "a"})
    assert _launches(out) == [(0, "a")]
    assert ts.waiting_for_locality()
    assert _launches(ts.tick(102.9)) == []
    assert _launches(ts.tick(103.0)) == [(1, "b")]
    assert not ts.waiting_for_locality()
    assert "wait for their preferred executors" in ts.format_story()


def test_a_freed_preferred_executor_gets_its_partition_before_the_wait_ends() -> None:
    ts = _scheduler()
    out = ts.submit_taskset(0, 0, [0, 1], preferred={0: "a", 1: "a"})
    (first,) = [i for i in out if isinstance(i, LaunchTask)]
    ts.tick(101.0)
    assert _launches(ts.task_finished(first.task_id)) == [(1, "a")]
    assert "PROCESS_LOCAL" in ts.format_story()


def test_a_local_launch_restarts_the_wait() -> None:
    ts = _scheduler()
    out = ts.submit_taskset(0, 0, [0, 1, 2], preferred={0: "a", 1: "a", 2: "a"})
    (first,) = [i for i in out if isinstance(i, LaunchTask)]
    ts.tick(102.0)
    # Partition 1 runs locally at t=102, so partition 2 waits until t=105.
    out = ts.task_finished(first.task_id)
    assert [(p, e) for p, e in _launches(out)] == [(1, "a")]
    assert _launches(ts.tick(104.5)) == []
    assert _launches(ts.tick(105.0)) == [(2, "b")]


def test_tasks_without_a_preference_do_not_wait() -> None:
    ts = _scheduler()
    out = ts.submit_taskset(0, 0, [0, 1, 2], preferred={0: "a", 1: "a"})
    assert sorted(_launches(out)) == [(0, "a"), (2, "b")]


def test_a_lost_preferred_executor_lets_its_partitions_run_anywhere_at_once() -> None:
    ts = _scheduler()
    ts.executor_added("c", 1)
    out = ts.submit_taskset(0, 0, [0, 1], preferred={0: "a", 1: "a"})
    assert _launches(out) == [(0, "a")]
    out = ts.executor_lost("a", "killed")
    assert sorted(_launches(out)) == [(0, "b"), (1, "c")]


def test_no_wait_means_no_delay() -> None:
    ts = _scheduler(wait=0.0)
    out = ts.submit_taskset(0, 0, [0, 1], preferred={0: "a", 1: "a"})
    assert sorted(_launches(out)) == [(0, "a"), (1, "b")]
    assert not ts.waiting_for_locality()


def test_the_clock_never_goes_back() -> None:
    ts = _scheduler()
    ts.submit_taskset(0, 0, [0, 1], preferred={0: "a", 1: "a"})
    assert _launches(ts.tick(50.0)) == []
    assert _launches(ts.tick(103.0)) == [(1, "b")]
