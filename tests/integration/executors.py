"""Helpers for tests that look at executors: their /metrics, and sessions with little memory."""

from __future__ import annotations

import urllib.request
from typing import Any

from ember.core.conf import SparkConf
from ember.sql import SparkSession


def metric(runtime: Any, name: str) -> dict[str, float]:
    """One figure (``ember_executor_<name>``) of every executor's /metrics, by executor id."""
    out: dict[str, float] = {}
    for executor_id, info in list(runtime.executors.items()):
        text = urllib.request.urlopen(f"{info.address}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(f"ember_executor_{name}{{"):
                out[executor_id] = float(line.rsplit(" ", 1)[1])
    return out


def spilled_bytes(spark: SparkSession) -> int:
    """The sum of every executor's spill counter."""
    return int(sum(metric(spark._runtime(), "spill_bytes_total").values()))


def small_memory_session(app_name: str, **settings: str) -> SparkSession:
    """local[2] with 512m executors and ``spark.memory.fraction`` 0.01 (about 2 MiB of execution
    and storage memory each), so that every sizeable buffer spills; ``settings`` are added."""
    conf = SparkConf().setMaster("local[2]").setAppName(app_name)
    for key, value in {"spark.executor.memory": "512m", "spark.memory.fraction": "0.01",
                       "spark.sql.shuffle.partitions": "4", **settings}.items():
        conf.set(key, value)
    return SparkSession(conf)
