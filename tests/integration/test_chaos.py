"""Chaos: kill -9 a random executor at a random moment of a two-stage shuffle job, 20 times.

The trials are seeded, so a failure can be replayed: the seed, the victim and the delay of every
trial are in the assertion message. Every trial must give exactly the answer computed in Python.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from typing import Any

from ember.sql import functions as F

SEED = 20261124
TRIALS = 20
#: Kills per session stay below local mode's limit on replacements.
TRIALS_PER_SESSION = 5
N = 400_000
GROUPS = 97


def expected() -> dict[int, tuple[int, int]]:
    sums: dict[int, tuple[int, int]] = {}
    for k in range(GROUPS):
        ids = range(k, N, GROUPS)
        sums[k] = (len(ids), sum(ids))
    return sums


def wait_executors(runtime: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(runtime.executors) < n:
        assert time.monotonic() < deadline, f"only {len(runtime.executors)} executors registered"
        time.sleep(0.02)


def run_job(spark: Any) -> dict[int, tuple[int, int]]:
    df = spark.range(0, N, numPartitions=6).withColumn("k", F.col("id") % GROUPS)
    rows = df.groupBy("k").agg(F.count("*").alias("n"), F.sum("id").alias("s")).collect()
    return {r["k"]: (r["n"], r["s"]) for r in rows}


def test_random_kills_during_a_shuffle_never_change_the_answer(make_session) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(SEED)
    want = expected()
    story: list[str] = []
    mid_job = 0
    for first in range(0, TRIALS, TRIALS_PER_SESSION):
        spark = make_session("local[2]", {"spark.sql.shuffle.partitions": 6})
        runtime = spark._runtime()
        wait_executors(runtime, 2)
        started = time.monotonic()
        assert run_job(spark) == want  # a warm run sets the time scale of the kills
        duration = time.monotonic() - started
        for trial in range(first, first + TRIALS_PER_SESSION):
            wait_executors(runtime, 2)
            delay = rng.uniform(0, duration)
            victim = rng.choice(sorted(runtime.executor_pids()))
            done = threading.Event()

            def kill(victim: str = victim, delay: float = delay, done: threading.Event = done,
                     runtime: Any = runtime) -> None:
                if not done.wait(delay):
                    pid = runtime.executor_pids().get(victim)
                    if pid:
                        os.kill(pid, signal.SIGKILL)

            killer = threading.Thread(target=kill)
            killer.start()
            got = run_job(spark)
            landed = not done.is_set() and not killer.is_alive()
            done.set()
            killer.join()
            mid_job += landed
            story.append(f"trial {trial}: executor {victim} after {delay:.3f}s "
                         f"({'during' if landed else 'after'} the job)")
            assert got == want, "\n".join(story)
    # Most kills must have hit a running job, or the test proves little.
    assert mid_job >= TRIALS // 2, "\n".join(story)
