"""The executor's block manager: cached partitions and broadcast values.

Blocks are Arrow tables named ``rdd_<id>_<partition>`` (DataFrame caches take their ids from the
same counter as RDDs). Where a block lives follows its `StorageLevel`:

- in memory as the table itself, or as Arrow IPC bytes for the ``*_SER`` levels;
- on disk as an LZ4-compressed Arrow IPC file in ``<local dir>/blocks``, for DISK_ONLY, for
  MEMORY_AND_DISK blocks evicted from memory, and for blocks memory refused at all.

Memory is accounted through the executor's `MemoryPool` with the blocks' real sizes. The pool
evicts least recently used blocks when execution or another block needs room and calls back
`_on_evict`: MEMORY_AND_DISK blocks go to disk, MEMORY_ONLY blocks are dropped (and recomputed
from lineage by the next job that needs them).

Every stored or removed block is reported to the driver's block manager master, before the
task that stored it reports its own end, so the next job is planned knowing where blocks are.
Broadcast values are fetched from the driver once per executor and shared by its tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import pyarrow as pa

from ember import rpc
from ember.core import broadcast as broadcast_module
from ember.core.storagelevel import StorageLevel
from ember.executor.memory import Evict
from ember.executor.memory_pool import MemoryPool

log = logging.getLogger("ember.executor")

Reporter = Callable[[dict[str, Any]], None]


@dataclass
class BlockMetrics:
    blocks_stored: int = 0
    blocks_evicted_to_disk: int = 0
    blocks_dropped: int = 0
    block_hits: int = 0
    remote_block_fetches: int = 0
    broadcast_fetches: int = 0


@dataclass
class _Entry:
    level: StorageLevel
    nbytes: int
    table: pa.Table | None = None
    ipc: bytes | None = None
    path: Path | None = None

    @property
    def in_memory(self) -> bool:
        return self.table is not None or self.ipc is not None


class BlockManager:
    """One executor's cached blocks and broadcast values; thread-safe for its task threads."""

    def __init__(self, *, executor_id: str, local_dir: Path, driver_url: str = "",
                 token: str = "", pool: MemoryPool | None = None,
                 reporter: Reporter | None = None) -> None:
        self.executor_id = executor_id
        self.dir = Path(local_dir) / "blocks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.driver_url = driver_url.rstrip("/")
        self.token = token
        self.pool = pool if pool is not None else _default_pool()
        if self.pool.on_evict is None:
            self.pool.on_evict = self._on_evict
        self.reporter = reporter if reporter is not None else self._report_to_driver
        self.address = ""
        self.metrics = BlockMetrics()
        self._blocks: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._broadcasts: dict[int, Any] = {}
        self._broadcast_locks: dict[int, threading.Lock] = {}
        if driver_url:
            broadcast_module.set_executor_resolver(self.broadcast_value)

    # -- blocks ----------------------------------------------------------------------------------

    def put(self, block_id: str, table: pa.Table, level: StorageLevel, *,
            num_partitions: int | None = None) -> None:
        """Keep ``table`` as ``block_id`` at ``level`` (replacing an older copy), and report it."""
        self.remove(block_id, report=False)
        entry = _Entry(level, table.nbytes)
        in_memory = False
        if level.useMemory:
            ipc = _ipc_bytes(table, compress=False) if level.ipc_in_memory else None
            entry.nbytes = len(ipc) if ipc is not None else table.nbytes
            # The pool may evict other blocks through _on_evict, in this thread.
            in_memory = self.pool.acquire_storage(block_id, entry.nbytes, level)
            if in_memory:
                entry.table, entry.ipc = (None, ipc) if ipc is not None else (table, None)
                with self._lock:
                    self._blocks[block_id] = entry
        if not in_memory:
            if not level.useDisk:
                log.info("block %s (%d bytes) does not fit in memory and is not kept",
                         block_id, entry.nbytes)
                return
            entry.path = self._write_file(block_id, table)
            with self._lock:
                self._blocks[block_id] = entry
        with self._lock:
            self.metrics.blocks_stored += 1
        self.reporter({"executor_id": self.executor_id, "block_id": block_id, "stored": True,
                       "size": entry.nbytes, "on_disk": not in_memory,
                       "num_partitions": num_partitions})

    def get(self, block_id: str) -> pa.Table | None:
        """The block's table, when this executor holds it."""
        with self._lock:
            entry = self._blocks.get(block_id)
            if entry is None:
                return None
            table, ipc, path = entry.table, entry.ipc, entry.path
            self.metrics.block_hits += 1
        if table is not None or ipc is not None:
            self.pool.touch(block_id)
            return table if table is not None else _read_ipc(pa.py_buffer(ipc))
        assert path is not None
        try:
            return _read_ipc(pa.memory_map(str(path)))
        except OSError:
            self.remove(block_id)
            return None

    def get_or_fetch(self, block_id: str, locations: Sequence[tuple[str, str]]) -> pa.Table | None:
        """The block from this executor, else from the first of ``locations`` (executor id and
        address) that still has it; None when none has."""
        table = self.get(block_id)
        if table is not None:
            return table
        for executor_id, address in locations:
            if executor_id == self.executor_id or not address:
                continue
            try:
                data = rpc.request("GET", f"{address}/blocks/{block_id}", token=self.token,
                                   timeout=60)
            except rpc.RpcError as exc:
                log.info("block %s is not available from %s: %s", block_id, executor_id, exc)
                if exc.status is None or exc.status == 404:
                    # Gone (or never there): the driver forgets it, and a new plan recomputes it.
                    self.reporter({"executor_id": executor_id, "block_id": block_id,
                                   "stored": False})
                continue
            with self._lock:
                self.metrics.remote_block_fetches += 1
            return _read_ipc(pa.py_buffer(data))
        return None

    def block_bytes(self, block_id: str) -> bytes | None:
        """The block as an Arrow IPC stream, to serve to another executor."""
        with self._lock:
            entry = self._blocks.get(block_id)
            if entry is None:
                return None
            if entry.ipc is not None:
                return entry.ipc
            path = entry.path
        if path is not None and entry.table is None:
            try:
                return path.read_bytes()
            except OSError:
                return None
        table = self.get(block_id)
        return None if table is None else _ipc_bytes(table, compress=True)

    def remove(self, block_id: str, *, report: bool = True) -> bool:
        with self._lock:
            entry = self._blocks.pop(block_id, None)
        if entry is None:
            return False
        if entry.in_memory:
            self.pool.release_storage(block_id)
        if entry.path is not None:
            entry.path.unlink(missing_ok=True)
        if report:
            self.reporter({"executor_id": self.executor_id, "block_id": block_id,
                           "stored": False})
        return True

    def remove_rdd(self, rdd_id: int) -> int:
        """Remove every block of one RDD (or DataFrame cache); how many there were."""
        prefix = f"rdd_{rdd_id}_"
        with self._lock:
            ids = [b for b in self._blocks if b.startswith(prefix)]
        # The driver asked, so it already forgot them.
        return sum(self.remove(b, report=False) for b in ids)

    def block_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._blocks)

    def where(self, block_id: str) -> str | None:
        """``memory``, ``disk`` or None: for tests and metrics."""
        with self._lock:
            entry = self._blocks.get(block_id)
            if entry is None:
                return None
            return "memory" if entry.in_memory else "disk"

    def _on_evict(self, eviction: Evict) -> None:
        if eviction.block.startswith(BROADCAST_PREFIX):
            self._drop_broadcast(eviction.block)
            return
        with self._lock:
            entry = self._blocks.get(eviction.block)
            if entry is None or not entry.in_memory:
                return
            table = entry.table if entry.table is not None else _read_ipc(
                pa.py_buffer(entry.ipc))
            entry.table = entry.ipc = None
            if eviction.to_disk and entry.level.useDisk:
                entry.path = self._write_file(eviction.block, table)
                self.metrics.blocks_evicted_to_disk += 1
                return
            del self._blocks[eviction.block]
            self.metrics.blocks_dropped += 1
        self.reporter({"executor_id": self.executor_id, "block_id": eviction.block,
                       "stored": False})

    def _write_file(self, block_id: str, table: pa.Table) -> Path:
        path = self.dir / f"{block_id}.arrow"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_ipc_bytes(table, compress=True))
        tmp.replace(path)
        return path

    def _report_to_driver(self, report: dict[str, Any]) -> None:
        if not self.driver_url:
            return
        try:
            rpc.post_json(f"{self.driver_url}/blocks", report, token=self.token)
        except rpc.RpcError as exc:
            # The driver then does not know of the block and recomputes it when needed.
            log.warning("could not report block %s to the driver: %s", report["block_id"], exc)

    # -- broadcasts ------------------------------------------------------------------------------

    def broadcast_value(self, broadcast_id: int) -> Any:
        """A ``sc.broadcast`` value: fetched from the driver by the first task that needs it."""
        return self._broadcast(broadcast_id, cloudpickle.loads)

    def broadcast_table(self, broadcast_id: int) -> pa.Table:
        """The table of a broadcast hash join's small side."""
        return self._broadcast(broadcast_id, lambda data: _read_ipc(pa.py_buffer(data)))

    def _broadcast(self, broadcast_id: int, decode: Callable[[bytes], Any]) -> Any:
        """The value, from memory, from this executor's disk, or fetched from the driver once.

        A fetched value is storage memory (``broadcast_<id>``, as Spark's block manager names
        it): kept in memory when the pool grants its size, which may evict cached blocks, and
        written to disk when it does not. Evicted later by execution or newer blocks, it is
        dropped and read from the driver again when next needed.
        """
        block = broadcast_block_id(broadcast_id)
        with self._lock:
            if broadcast_id in self._broadcasts:
                self.pool.touch(block)
                return self._broadcasts[broadcast_id]
            fetch_lock = self._broadcast_locks.setdefault(broadcast_id, threading.Lock())
        with fetch_lock:  # one fetch per executor, even when tasks ask at once
            with self._lock:
                if broadcast_id in self._broadcasts:
                    return self._broadcasts[broadcast_id]
            path = self.dir / f"{block}.bin"
            if path.exists():
                return decode(path.read_bytes())
            data = rpc.request("GET", f"{self.driver_url}/broadcast/{broadcast_id}",
                               token=self.token, timeout=120)
            value = decode(data)
            nbytes = value.nbytes if isinstance(value, pa.Table) else len(data)
            with self._lock:
                self.metrics.broadcast_fetches += 1
            if self.pool.acquire_storage(block, nbytes, StorageLevel.MEMORY_ONLY):
                with self._lock:
                    self._broadcasts[broadcast_id] = value
            else:
                log.info("broadcast %d (%d bytes) does not fit in storage memory; kept on disk",
                         broadcast_id, nbytes)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
            return value

    def _drop_broadcast(self, block: str) -> None:
        """An evicted broadcast value: forgotten here, fetched again when a task needs it."""
        with self._lock:
            self._broadcasts.pop(int(block.removeprefix(BROADCAST_PREFIX)), None)

    def remove_broadcast(self, broadcast_id: int) -> bool:
        block = broadcast_block_id(broadcast_id)
        (self.dir / f"{block}.bin").unlink(missing_ok=True)
        with self._lock:
            self._broadcast_locks.pop(broadcast_id, None)
            held = self._broadcasts.pop(broadcast_id, None) is not None
        if held:
            self.pool.release_storage(block)
        return held


BROADCAST_PREFIX = "broadcast_"


def broadcast_block_id(broadcast_id: int) -> str:
    return f"{BROADCAST_PREFIX}{broadcast_id}"


def _ipc_bytes(table: pa.Table, *, compress: bool) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4" if compress else None)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_ipc(source: Any) -> pa.Table:
    with pa.ipc.open_stream(source) as reader:
        return reader.read_all()


def _default_pool() -> MemoryPool:
    """A pool over the executor's memory, for executors that do not share one of their own."""
    from ember.executor.server import executor_memory

    _, manager = executor_memory()
    return MemoryPool(manager)
