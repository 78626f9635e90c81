"""The executor's task runner: runs task pipelines in a thread pool and reports to the driver.

Threads suffice because the heavy lifting happens in Arrow kernels, which release the GIL.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cloudpickle
import pyarrow as pa

from ember import rpc
from ember.exec.context import ShuffleReader, TaskContext
from ember.exec.shuffle_fetch import BlockRequest, FetchFailedError, FetchStats, fetch_blocks
from ember.exec.shuffle_files import remove_shuffle
from ember.exec.task import TaskDescription, decode_result, run_task
from ember.executor import native_memory
from ember.executor.memory_pool import MemoryPool, TaskMemory

log = logging.getLogger("ember.executor")


class BadTaskError(ValueError):
    """A launch request whose payload is not a task."""


@dataclass
class ExecutorMetrics:
    tasks_started: int = 0
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    shuffle_write_bytes: int = 0
    shuffle_read_remote_bytes: int = 0
    shuffle_read_local_bytes: int = 0
    spill_bytes: int = 0
    spill_files: int = 0
    active_tasks: int = 0
    by_task: dict[int, dict] = field(default_factory=dict)


class Executor:
    def __init__(self, *, executor_id: str, driver_url: str, token: str, cores: int,
                 local_dir: Path, max_direct_result: int = 1024 * 1024,
                 memory_pool: MemoryPool | None = None) -> None:
        self.executor_id = executor_id
        self.driver_url = driver_url.rstrip("/")
        self.token = token
        self.cores = cores
        self.local_dir = local_dir
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.max_direct_result = max_direct_result
        # The executor's unified memory: tasks reserve execution memory from it, the block
        # manager its storage side. Without one, tasks run with unbounded memory.
        self.memory_pool = memory_pool
        self.address = ""
        self.pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="task")
        self.metrics = ExecutorMetrics()
        self._futures: dict[int, Future] = {}
        self._killed: set[int] = set()
        self._results: dict[str, bytes] = {}
        self._broadcasts: dict[int, pa.Table] = {}
        self._lock = threading.Lock()

    # -- launching -----------------------------------------------------------------------------

    def launch(self, payload: bytes) -> int:
        try:
            desc = cloudpickle.loads(payload)
        except Exception as exc:
            msg = f"the request body is not a serialized task: {exc}"
            raise BadTaskError(msg) from exc
        if not isinstance(desc, TaskDescription):
            msg = f"the request body holds a {type(desc).__name__}, not a TaskDescription"
            raise BadTaskError(msg)
        with self._lock:
            self.metrics.tasks_started += 1
            self._futures[desc.task_id] = self.pool.submit(self._run, desc)
        return desc.task_id

    def kill(self, task_id: int) -> bool:
        with self._lock:
            fut = self._futures.get(task_id)
            if fut is None:
                return False
            self._killed.add(task_id)
        if fut.cancel():
            self._report(task_id, {"state": "KILLED"})
        return True

    def running_tasks(self) -> list[int]:
        with self._lock:
            return [t for t, f in self._futures.items() if not f.done()]

    # -- running -------------------------------------------------------------------------------

    def _run(self, desc: TaskDescription) -> None:
        with self._lock:
            self.metrics.active_tasks += 1
        started = time.perf_counter()
        status: dict
        pool = self.memory_pool
        memory = TaskMemory(pool, desc.task_id)
        if pool is not None:
            pool.task_started(desc.task_id)
        try:
            ctx = TaskContext(
                stage_id=desc.stage_id, stage_attempt=desc.stage_attempt,
                partition=desc.partition, task_id=desc.task_id, executor_id=self.executor_id,
                local_dir=self.local_dir, read_shuffle=_unset_reader,
                get_broadcast=self._get_broadcast, reduce_ranges=desc.reduce_ranges,
                memory=memory)
            ctx.read_shuffle = self._shuffle_reader(ctx)
            ctx.blocks = getattr(self, "blocks", None)
            outcome = run_task(desc, ctx)
            status = {"state": "FINISHED", "metrics": outcome.metrics}
            if outcome.sizes is not None:
                status["sizes"] = list(outcome.sizes)
                self.metrics.shuffle_write_bytes += sum(outcome.sizes)
            if outcome.files:
                status["files"] = list(outcome.files)
            if outcome.result is not None:
                status.update(self._result_field(desc.task_id, outcome.result))
            self.metrics.shuffle_read_remote_bytes += int(outcome.metrics.get(
                "shuffle_read_remote_bytes", 0))
            self.metrics.shuffle_read_local_bytes += int(outcome.metrics.get(
                "shuffle_read_local_bytes", 0))
            self.metrics.tasks_succeeded += 1
        except FetchFailedError as exc:
            self.metrics.tasks_failed += 1
            status = {"state": "FAILED", "error": _error(exc), "fetch_failed": {
                "shuffle_id": exc.shuffle_id, "map_id": exc.map_id,
                "executor_id": exc.executor_id}}
        except BaseException as exc:  # user code may raise anything
            self.metrics.tasks_failed += 1
            status = {"state": "FAILED", "error": _error(exc)}
        finally:
            if pool is not None:
                pool.task_finished(desc.task_id)
        # Spills count whether or not the task succeeded: the disk was written either way.
        with self._lock:
            self.metrics.spill_bytes += memory.spill_bytes
            self.metrics.spill_files += memory.spill_count
        status["duration_s"] = time.perf_counter() - started
        with self._lock:
            self.metrics.active_tasks -= 1
            idle = self.metrics.active_tasks == 0
            killed = desc.task_id in self._killed
            self._futures.pop(desc.task_id, None)
        if killed:
            status = {"state": "KILLED"}
        self._report(desc.task_id, status)
        if idle:
            native_memory.return_free_memory()

    def _result_field(self, task_id: int, data: bytes) -> dict:
        if len(data) <= self.max_direct_result:
            return {"result": base64.b64encode(data).decode()}
        block_id = f"taskresult_{task_id}"
        with self._lock:
            self._results[block_id] = data
        return {"result_block": block_id, "result_size": len(data)}

    def pop_block(self, block_id: str) -> bytes | None:
        with self._lock:
            return self._results.pop(block_id, None)

    def _report(self, task_id: int, status: dict) -> None:
        status["executor_id"] = self.executor_id
        url = f"{self.driver_url}/tasks/{task_id}/status"
        for attempt in range(5):
            try:
                rpc.post_json(url, status, token=self.token)
                return
            except rpc.RpcError as exc:
                if exc.status is not None and exc.status < 500:
                    log.warning("driver refused the status of task %s: %s", task_id, exc)
                    return
                time.sleep(0.2 * (attempt + 1))
        log.error("could not report the status of task %s to the driver", task_id)

    # -- data access for tasks -----------------------------------------------------------------

    def _shuffle_reader(self, ctx: TaskContext) -> ShuffleReader:
        def read(shuffle_id: int, start: int, end: int) -> Iterator[pa.RecordBatch]:
            outputs = rpc.get_json(f"{self.driver_url}/map-outputs/{shuffle_id}", token=self.token)
            requests = []
            for map_id, status in enumerate(outputs["statuses"]):
                if status is None:
                    raise FetchFailedError(
                        "the map output is missing", shuffle_id=shuffle_id, map_id=map_id,
                        executor_id="", address="")
                requests.append(BlockRequest(
                    shuffle_id, map_id, start, end, status["executor_id"], status["address"],
                    tuple(status["sizes"][start:end])))
            stats = FetchStats()
            try:
                yield from fetch_blocks(requests, token=self.token,
                                        local_executor_id=self.executor_id,
                                        local_dir=self.local_dir, stats=stats)
            finally:
                m = ctx.metrics
                m.shuffle_read_remote_bytes += stats.remote_bytes
                m.shuffle_read_local_bytes += stats.local_bytes
                m.shuffle_read_remote_blocks += stats.remote_blocks
                m.fetch_wait_s += stats.fetch_wait_s

        return read

    def _get_broadcast(self, broadcast_id: int) -> pa.Table:
        blocks = getattr(self, "blocks", None)
        if blocks is not None:  # fetched once per executor, counted in its metrics
            return blocks.broadcast_table(broadcast_id)
        with self._lock:
            cached = self._broadcasts.get(broadcast_id)
        if cached is not None:
            return cached
        data = rpc.request("GET", f"{self.driver_url}/broadcast/{broadcast_id}", token=self.token,
                           timeout=120)
        table = decode_result(data)
        with self._lock:
            self._broadcasts[broadcast_id] = table
        return table

    def remove_shuffle(self, shuffle_id: int) -> int:
        return remove_shuffle(self.local_dir, shuffle_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _unset_reader(shuffle_id: int, start: int, end: int) -> Iterator[pa.RecordBatch]:
    msg = "the shuffle reader is not set up"
    raise RuntimeError(msg)


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}
