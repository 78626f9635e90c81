"""How memory settings reach executors and spill figures reach task metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ember.core.conf import SparkConf
from ember.errors import IllegalArgumentException
from ember.exec.context import TaskContext
from ember.exec.operators import LocalScanExec, SortExec
from ember.exec.spill import UnboundedMemory
from ember.exec.task import ResultSink, TaskDescription, decode_result, run_task
from ember.executor import server
from ember.executor.memory import UnifiedMemoryManager
from ember.executor.memory_pool import MemoryPool, TaskMemory
from ember.k8s.executor_pod import _env
from ember.plan.expressions import AttributeReference, SortOrder
from ember.scheduler.backends.local import memory_env


def _context(local_dir: Path, memory: object | None) -> TaskContext:
    def no_io(*_: object) -> pa.Table:
        raise AssertionError("this task reads no shuffle or broadcast")

    return TaskContext(0, 0, 0, 3, "test", local_dir, no_io, no_io,  # type: ignore[arg-type]
                       memory=memory)  # type: ignore[arg-type]


def test_a_task_outside_an_executor_has_unbounded_memory(tmp_path: Path) -> None:
    ctx = _context(tmp_path, None)
    assert isinstance(ctx.memory, UnboundedMemory) and ctx.task_memory.reserve(1 << 40)


def test_run_task_reports_its_spills_and_deletes_their_files(tmp_path: Path) -> None:
    x = AttributeReference("x", pa.float64(), True, expr_id=1)
    values = np.random.default_rng(0).normal(size=50_000)
    table = pa.Table.from_batches(pa.table({"x#1": values}).to_batches(max_chunksize=4096))
    root = SortExec((SortOrder(x, True, None),), LocalScanExec((x,), (table,)))
    pool = MemoryPool(UnifiedMemoryManager(100_000, 0))
    pool.task_started(3)
    desc = TaskDescription(3, 0, 0, 0, 0, root, ResultSink())
    outcome = run_task(desc, _context(tmp_path, TaskMemory(pool, 3)))
    assert outcome.metrics["spill_files"] > 1 and outcome.metrics["spill_bytes"] > 0
    assert decode_result(outcome.result or b"").column(0).to_pylist() == sorted(values.tolist())
    assert not list((tmp_path / "spill").iterdir())
    assert pool.manager.task_memory(3) == 0


def test_the_local_backend_passes_the_heap_and_fractions_of_the_conf() -> None:
    conf = SparkConf().set("spark.executor.memory", "512m").set("spark.memory.fraction", "0.02")
    env = memory_env(conf)
    assert env["EMBER_EXECUTOR_MEMORY"] == str(512 * 1024 * 1024)
    assert env["EMBER_MEMORY_FRACTION"] == "0.02"
    assert memory_env(None) == {"EMBER_EXECUTOR_MEMORY": str(1024 ** 3)}
    with pytest.raises(IllegalArgumentException, match="spark.memory.storageFraction"):
        memory_env({"spark.memory.storageFraction": "half"})
    with pytest.raises(IllegalArgumentException, match="spark.executor.memory"):
        memory_env({"spark.executor.memory": "lots"})


def test_executor_pods_get_the_fractions_too() -> None:
    env = _env({"spark.memory.fraction": "0.3"}, executor_id="1", driver_url="http://d",
               heap=1 << 30, cores=1, extra=[])
    assert {"name": "EMBER_MEMORY_FRACTION", "value": "0.3"} in env


def test_the_executor_splits_its_heap_with_the_fractions_it_is_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_EXECUTOR_MEMORY", str(512 * 1024 * 1024))
    monkeypatch.setenv("EMBER_MEMORY_FRACTION", "0.02")
    monkeypatch.setenv("EMBER_MEMORY_STORAGE_FRACTION", "0.25")
    layout, manager = server.executor_memory()
    assert (layout.fraction, layout.storage_fraction) == (0.02, 0.25)
    assert manager.max_memory == int(212 * 1024 * 1024 * 0.02)
    monkeypatch.setenv("EMBER_MEMORY_FRACTION", "1.5")
    with pytest.raises(IllegalArgumentException, match="spark.memory.fraction"):
        server.executor_memory()
