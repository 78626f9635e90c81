"""Broadcast variables and broadcast joins on real executors: values checked against plain
Python and pandas, and each executor fetches a broadcast once, whatever its task count."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pandas as pd
import pytest
from executors import metric

from ember.errors import SparkJobError


def _fetches(runtime: Any) -> dict[str, float]:
    return metric(runtime, "broadcast_fetches_total")


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {e: after[e] - before.get(e, 0.0) for e in after}


def _wait_executors(runtime: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(runtime.executors) < n:
        assert time.monotonic() < deadline, "executors did not register"
        time.sleep(0.05)


def test_a_broadcast_is_fetched_once_per_executor_and_shared_by_its_tasks(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    sc = spark.sparkContext
    table = {i: f"name-{i}" for i in range(5000)}
    names = sc.broadcast(table)
    assert names.value is table
    before = _fetches(runtime)
    got = sc.parallelize(range(0, 6000, 7), 16).map(lambda i: names.value.get(i, "?")).collect()
    assert got == [table.get(i, "?") for i in range(0, 6000, 7)]
    delta = _delta(before, _fetches(runtime))
    # 16 tasks on 2 executors: at most one fetch each.
    assert set(delta.values()) <= {0.0, 1.0} and sum(delta.values()) >= 1
    # A second job reuses the executors' copies.
    before = _fetches(runtime)
    assert sc.parallelize(range(8), 8).map(lambda i: len(names.value)).collect() == [5000] * 8
    assert sum(_delta(before, _fetches(runtime)).values()) == 0
    # After unpersist the executors fetch it again when a task reads it.
    names.unpersist()
    time.sleep(0.3)  # the executors drop their copies asynchronously
    before = _fetches(runtime)
    assert sc.parallelize(range(4), 4).map(lambda i: names.value[i]).collect() == [
        table[i] for i in range(4)]
    assert sum(_delta(before, _fetches(runtime)).values()) >= 1


def test_a_destroyed_broadcast_cannot_be_used(spark) -> None:  # type: ignore[no-untyped-def]
    sc = spark.sparkContext
    b = sc.broadcast([1, 2, 3])
    assert sc.parallelize([0, 2], 2).map(lambda i: b.value[i]).collect() == [1, 3]
    b.destroy()
    with pytest.raises(RuntimeError, match="destroyed"):
        _ = b.value
    # Refused before the job starts, as any closure that cannot travel.
    with pytest.raises((pickle.PicklingError, SparkJobError), match="destroyed"):
        sc.parallelize([0], 1).map(lambda i: b.value[i]).collect()


def test_an_unpicklable_broadcast_value_is_refused_at_once(spark) -> None:  # type: ignore[no-untyped-def]
    import threading

    with pytest.raises(TypeError, match="cloudpickle"):
        spark.sparkContext.broadcast(threading.Lock())


def test_broadcast_joins_go_through_the_same_fetch_once_mechanism(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    big = pd.DataFrame({"id": range(20_000), "k": [i % 50 for i in range(20_000)]})
    small = pd.DataFrame({"k": range(0, 50, 2), "label": [f"L{i}" for i in range(0, 50, 2)]})
    left = spark.range(0, 20_000, numPartitions=8).selectExpr("id", "id % 50 AS k")
    right = spark.createDataFrame(small)
    before = _fetches(runtime)
    joined = left.join(right, "k").toPandas()
    expected = big.merge(small, on="k")
    assert sorted(joined[["id", "k", "label"]].itertuples(index=False)) == sorted(
        expected[["id", "k", "label"]].itertuples(index=False))
    delta = _delta(before, _fetches(runtime))
    assert set(delta.values()) <= {0.0, 1.0} and sum(delta.values()) >= 1


def test_a_broadcast_no_longer_referenced_is_dropped_by_the_driver(spark) -> None:  # type: ignore[no-untyped-def]
    import gc

    runtime = spark._runtime()
    sc = spark.sparkContext

    def lookup() -> tuple[int, Any]:
        squares = sc.broadcast([i * i for i in range(100)])
        return squares.id, sc.parallelize(range(5), 5).map(lambda i: squares.value[i])

    bid, rdd = lookup()
    gc.collect()
    assert rdd.collect() == [0, 1, 4, 9, 16]  # the lazy RDD's closure keeps it alive
    assert bid in runtime.broadcasts
    del rdd
    gc.collect()
    deadline = time.monotonic() + 5
    while bid in runtime.broadcasts:
        assert time.monotonic() < deadline, "the driver kept an unreferenced broadcast"
        time.sleep(0.05)
