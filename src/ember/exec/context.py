"""What a running task can ask of the executor that runs it.

The exec layer knows nothing of HTTP: the executor passes in functions that read shuffle
blocks and broadcast values, and a `TaskMemory` for its execution memory; the task fills in
its metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ember.exec.spill import SpillFiles, TaskMemoryLike, UnboundedMemory

ShuffleReader = Callable[[int, int, int], Iterator[pa.RecordBatch]]
BroadcastGetter = Callable[[int], pa.Table]


@dataclass
class TaskMetrics:
    input_rows: int = 0
    output_rows: int = 0
    shuffle_write_bytes: int = 0
    shuffle_write_rows: int = 0
    shuffle_read_remote_bytes: int = 0
    shuffle_read_local_bytes: int = 0
    shuffle_read_remote_blocks: int = 0
    fetch_wait_s: float = 0.0
    spill_bytes: int = 0
    spill_files: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass
class TaskContext:
    stage_id: int
    stage_attempt: int
    partition: int
    task_id: int
    executor_id: str
    local_dir: Path
    read_shuffle: ShuffleReader
    get_broadcast: BroadcastGetter
    # Reduce-partition ranges of this stage's shuffle reads, decided by adaptive coalescing.
    reduce_ranges: tuple[tuple[int, int], ...] = ()
    # The executor's block manager (cached partitions), when the task runs in an executor.
    blocks: object | None = None
    metrics: TaskMetrics = field(default_factory=TaskMetrics)
    # Execution memory the task's operators reserve (the executor's TaskMemory); without an
    # executor, every reservation succeeds.
    memory: TaskMemoryLike | None = None
    _spills: SpillFiles | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.memory is None:
            self.memory = UnboundedMemory(self.task_id)

    @property
    def task_memory(self) -> TaskMemoryLike:
        assert self.memory is not None
        return self.memory

    @property
    def spills(self) -> SpillFiles:
        """This task's spill files under the local dir, created on first use."""
        if self._spills is None:
            self._spills = SpillFiles(self.local_dir, self.task_id, self.memory)
        return self._spills

    def finish(self) -> None:
        """Delete the task's spill files, release its memory and record its spill figures."""
        memory = self.task_memory
        if self._spills is not None:
            self._spills.cleanup()
        self.metrics.spill_bytes = memory.spill_bytes
        self.metrics.spill_files = memory.spill_count
        memory.release_all()
