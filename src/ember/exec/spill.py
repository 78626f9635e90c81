"""Spill files: what a memory consumer writes to local disk when it is denied execution memory.

A spill file is one Arrow IPC stream (LZ4) or, for consumers that spill partitioned data, one
IPC stream per partition back to back with their byte offsets kept in memory (the layout of a
shuffle data file). Files live under ``<local dir>/spill/`` with the task's id in their name,
and `SpillFiles.cleanup` deletes them when the task ends, whatever the outcome.

Every file written is recorded on the task's memory (`record_spill`), so spill bytes and counts
reach the task metrics. A write that fails for lack of disk space (or any other I/O error)
deletes its partial file and raises an ``OSError`` that names the directory and
``spark.local.dir``: the task fails and is retried, and no truncated spill is ever read back.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from ember.exec import hashing

__all__ = [
    "PartitionedSpill",
    "SpillFile",
    "SpillFiles",
    "SpillRecorder",
    "TaskMemoryLike",
    "UnboundedMemory",
    "hash_split",
]

# Hash seed of spill partitioning; it differs from the shuffle's so that the rows of one reduce
# partition (all equal modulo the shuffle's partition count) still spread over spill partitions.
SPILL_SEED = 0x5EED
SPILL_BATCH_ROWS = 64 * 1024


class SpillRecorder(Protocol):
    def record_spill(self, nbytes: int) -> None: ...


class Reservations(Protocol):
    def reserve(self, nbytes: int) -> bool: ...

    def release(self, nbytes: int) -> None: ...


class TaskMemoryLike(Reservations, SpillRecorder, Protocol):
    """What operators use of a task's execution memory (the executor's ``TaskMemory``)."""

    spill_count: int
    spill_bytes: int

    def release_all(self) -> None: ...

    def share(self) -> int | None: ...


@dataclass
class UnboundedMemory:
    """The memory of a task run outside an executor: every reservation succeeds."""

    task: int = 0
    held: int = 0
    spill_count: int = 0
    spill_bytes: int = 0

    def reserve(self, nbytes: int) -> bool:
        self.held += max(0, nbytes)
        return True

    def release(self, nbytes: int) -> None:
        self.held -= min(max(0, nbytes), self.held)

    def release_all(self) -> None:
        self.held = 0

    def share(self) -> int | None:
        return None

    def record_spill(self, nbytes: int) -> None:
        self.spill_count += 1
        self.spill_bytes += nbytes


@dataclass
class SpillFile:
    """One spilled file: a single IPC stream, or (``offsets``) one stream per partition."""

    path: Path
    schema: pa.Schema
    nbytes: int
    rows: int
    offsets: list[int] = field(default_factory=list)

    def read(self) -> Iterator[pa.RecordBatch]:
        """The batches of a single-stream spill, read lazily."""
        with pa.memory_map(str(self.path)) as source:
            yield from pa.ipc.open_stream(source)

    def read_partition(self, p: int) -> Iterator[pa.RecordBatch]:
        """The batches of partition ``p`` of a partitioned spill."""
        start, end = self.offsets[p], self.offsets[p + 1]
        if end == start:
            return
        with pa.memory_map(str(self.path)) as source:
            yield from pa.ipc.open_stream(pa.BufferReader(source.read_at(end - start, start)))


class SpillFiles:
    """The spill files of one task under ``local_dir``, counted on ``recorder``."""

    _ids = itertools.count()

    def __init__(self, local_dir: str | Path, task_id: int, recorder: SpillRecorder | None = None,
                 *, compression: str | None = "lz4") -> None:
        self.directory = Path(local_dir) / "spill"
        self.task_id = task_id
        self.recorder = recorder
        self.options = pa.ipc.IpcWriteOptions(compression=compression)
        self.files: list[SpillFile] = []
        self.bytes_written = 0

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]) -> SpillFile:
        """Spill ``batches`` as one IPC stream."""
        path = self._new_path()
        rows = 0
        with self._guard(path):
            with pa.OSFile(str(path), "wb") as sink:
                with pa.ipc.new_stream(sink, schema, options=self.options) as writer:
                    for data in batches:
                        for batch in _batches(data):
                            writer.write_batch(batch)
                            rows += batch.num_rows
                nbytes = sink.tell()
        return self._record(SpillFile(path, schema, nbytes, rows))

    def write_partitioned(self, schema: pa.Schema,
                          parts: list[list[pa.RecordBatch | pa.Table]]) -> SpillFile:
        """Spill one IPC stream per entry of ``parts`` (empty entries take no bytes)."""
        path = self._new_path()
        rows = 0
        offsets = [0]
        with self._guard(path):
            with pa.OSFile(str(path), "wb") as sink:
                for part in parts:
                    if part:
                        with pa.ipc.new_stream(sink, schema, options=self.options) as writer:
                            for data in part:
                                for batch in _batches(data):
                                    writer.write_batch(batch)
                                    rows += batch.num_rows
                    offsets.append(sink.tell())
        return self._record(SpillFile(path, schema, offsets[-1], rows, offsets))

    def delete(self, spill: SpillFile) -> None:
        spill.path.unlink(missing_ok=True)
        if spill in self.files:
            self.files.remove(spill)

    def cleanup(self) -> None:
        """Delete every file this task spilled."""
        for spill in self.files:
            spill.path.unlink(missing_ok=True)
        self.files.clear()

    def _new_path(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"spill_{self.task_id}_{os.getpid()}_{next(self._ids)}.arrows"

    def _record(self, spill: SpillFile) -> SpillFile:
        self.files.append(spill)
        self.bytes_written += spill.nbytes
        if self.recorder is not None:
            self.recorder.record_spill(spill.nbytes)
        return spill

    def _guard(self, path: Path) -> _SpillGuard:
        return _SpillGuard(path, self.directory)


class _SpillGuard:
    """Deletes a partial spill file and turns I/O errors into one that says what to do."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path = path
        self.directory = directory

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is None:
            return
        self.path.unlink(missing_ok=True)
        if isinstance(exc, (OSError, pa.ArrowIOError)):
            raise spill_error(self.directory, exc) from exc


def spill_error(directory: Path, exc: BaseException) -> OSError:
    """The error of a failed spill write: names the directory and the setting to change."""
    code = getattr(exc, "errno", None) or errno.EIO
    full = code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
    what = "the local disk is full" if full else f"writing failed ({exc})"
    msg = (f"could not spill to {directory}: {what}\n\n"
           "free space there, or point spark.local.dir at a larger disk (on Kubernetes, enlarge "
           "the executor's local-dir volume); the task will be retried")
    return OSError(errno.ENOSPC if full else code, msg)


def _batches(data: pa.RecordBatch | pa.Table) -> Iterator[pa.RecordBatch]:
    if isinstance(data, pa.Table):
        yield from (b for b in data.to_batches(max_chunksize=SPILL_BATCH_ROWS) if b.num_rows)
    elif data.num_rows:
        yield data


def hash_split(data: pa.Table, keys: list[pa.Array | pa.ChunkedArray], n: int,
               level: int) -> list[pa.Table | None]:
    """The rows of ``data`` in ``n`` hash partitions of ``keys``; each recursion ``level`` uses
    its own seed, so a partition that is split again spreads over new partitions."""
    pids = hashing.partition_ids(keys, n, seed=SPILL_SEED + level)
    parts = hashing.split_by_partition(data, pids, n)
    return [p if p is None or isinstance(p, pa.Table) else pa.Table.from_batches([p])
            for p in parts]


def partition_count(nbytes: int, budget: int, *, minimum: int = 4, maximum: int = 64) -> int:
    """How many spill partitions make each about a third of ``budget``."""
    want = -(-3 * max(1, nbytes) // max(1, budget))
    return int(np.clip(want, minimum, maximum))


class PartitionedSpill:
    """Rows split into ``n`` hash partitions of their keys, buffered while ``memory`` grants
    their size and spilled (one partitioned file per flush) when it does not.

    After `finish`, `read` gives back all rows of one partition.
    """

    def __init__(self, files: SpillFiles, memory: Reservations, schema: pa.Schema, n: int,
                 level: int) -> None:
        self.files = files
        self.memory = memory
        self.schema = schema
        self.n = n
        self.level = level
        self.pending: list[list[pa.Table]] = [[] for _ in range(n)]
        self.reserved = 0
        self.spills: list[SpillFile] = []

    def add(self, table: pa.Table, keys: list[pa.Array | pa.ChunkedArray]) -> None:
        if not table.num_rows:
            return
        if not self.memory.reserve(table.nbytes):
            self.flush()
            if not self.memory.reserve(table.nbytes):
                self._split(table, keys)
                self.flush()
                return
        self.reserved += table.nbytes
        self._split(table, keys)

    def _split(self, table: pa.Table, keys: list[pa.Array | pa.ChunkedArray]) -> None:
        for p, part in enumerate(hash_split(table, keys, self.n, self.level)):
            if part is not None:
                self.pending[p].append(part)

    def flush(self) -> None:
        if any(self.pending):
            parts: list[list[pa.RecordBatch | pa.Table]] = [list(p) for p in self.pending]
            self.spills.append(self.files.write_partitioned(self.schema, parts))
        self.pending = [[] for _ in range(self.n)]
        if self.reserved:
            self.memory.release(self.reserved)
        self.reserved = 0

    def finish(self) -> None:
        self.flush()

    def read(self, p: int) -> Iterator[pa.RecordBatch]:
        for spill in self.spills:
            yield from spill.read_partition(p)

    def delete(self) -> None:
        for spill in self.spills:
            self.files.delete(spill)
        self.spills = []
