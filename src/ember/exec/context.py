"""What a running task can ask of the executor that runs it.

The exec layer knows nothing of HTTP: the executor passes in functions that read shuffle
blocks and broadcast values, and the task fills in its metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

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
