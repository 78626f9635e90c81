"""Chaos: one slow executor. With spark.speculation a copy of its straggler runs elsewhere and
the job finishes long before the slow task would have; without it the job waits for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

SLEEP = 6.0  # seconds a task takes on the slow executor
PARTITIONS = 4


def wait_executors(runtime: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(runtime.executors) < n:
        assert time.monotonic() < deadline, f"only {len(runtime.executors)} executors registered"
        time.sleep(0.02)


def slow_on(executor_id: str, seconds: float) -> Callable[[Iterator[int]], Iterator[int]]:
    """A partition function that takes ``seconds`` on the executor ``executor_id`` only."""

    def double(rows: Iterator[int]) -> Iterator[int]:
        import os
        import time

        if os.environ.get("EMBER_EXECUTOR_ID") == executor_id:
            time.sleep(seconds)
        return (2 * x for x in rows)

    return double


def timed_run(make_session: Any, *, speculation: bool) -> tuple[list[int], float, Any]:
    spark = make_session("local[2]", {"spark.speculation": speculation})
    runtime = spark._runtime()
    wait_executors(runtime, 2)
    # Each executor has one slot, so each gets one of the first two tasks; the fast one then
    # runs the rest while the slow one sleeps.
    slow = sorted(runtime.executors)[-1]
    rdd = spark.sparkContext.parallelize(range(40), PARTITIONS).mapPartitions(
        slow_on(slow, SLEEP))
    started = time.monotonic()
    result = rdd.collect()
    return result, time.monotonic() - started, runtime


def test_speculation_finishes_a_job_with_a_slow_executor_sooner(make_session) -> None:  # type: ignore[no-untyped-def]
    want = [2 * x for x in range(40)]

    plain, plain_seconds, plain_runtime = timed_run(make_session, speculation=False)
    assert plain == want
    assert plain_seconds >= SLEEP
    assert plain_runtime.counters["tasks_speculative_total"] == 0

    fast, fast_seconds, fast_runtime = timed_run(make_session, speculation=True)
    assert fast == want
    assert fast_seconds < SLEEP / 2, \
        f"{fast_seconds:.1f}s with speculation\n\n{fast_runtime.tasks.format_story(last=40)}"
    assert fast_runtime.counters["tasks_speculative_total"] >= 1
    # The straggler's copy won; the original was killed, which is no task failure.
    assert fast_runtime.counters["tasks_failed_total"] == 0
