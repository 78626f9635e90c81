"""Tasks: a stage's pipeline for one partition, and where its output goes (the sink)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ember.exec import hashing
from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate
from ember.exec.file_writer import FileWriteSink, write_files
from ember.exec.operators import PhysicalOp, schema_of
from ember.exec.shuffle_files import ShuffleWriter
from ember.plan.expressions import Expression, SortOrder


@dataclass(frozen=True)
class HashPartitioning:
    keys: tuple[Expression, ...]
    num_partitions: int

    def describe(self) -> str:
        from ember.exec.operators import _expr_str

        return f"hashpartitioning({_expr_str(self.keys)[1:-1]}, {self.num_partitions})"


@dataclass(frozen=True)
class RoundRobinPartitioning:
    num_partitions: int

    def describe(self) -> str:
        return f"RoundRobinPartitioning({self.num_partitions})"


@dataclass(frozen=True)
class SinglePartition:
    num_partitions: int = 1

    def describe(self) -> str:
        return "SinglePartition"


@dataclass(frozen=True)
class RangePartitioning:
    """Ranges of the sort keys; ``bounds`` (one row per bound) are found by sampling first."""

    orders: tuple[SortOrder, ...]
    num_partitions: int
    bounds: pa.Table | None = None

    def describe(self) -> str:
        from ember.exec.operators import _expr_str

        return f"rangepartitioning({_expr_str(self.orders)[1:-1]}, {self.num_partitions})"


@dataclass(frozen=True)
class PartitionIdPartitioning:
    """Each row names its reduce partition in the int ``column``, computed upstream (the RDD
    layer derives it from a portable hash of Python keys, or from a range of sampled keys)."""

    column: str
    num_partitions: int

    def describe(self) -> str:
        return f"partitionidpartitioning({self.column}, {self.num_partitions})"


Partitioning = (HashPartitioning | RoundRobinPartitioning | SinglePartition | RangePartitioning
                | PartitionIdPartitioning)


@dataclass(frozen=True)
class ShuffleSink:
    shuffle_id: int
    partitioning: Partitioning


@dataclass(frozen=True)
class ResultSink:
    """Return the task's rows to the driver as one Arrow IPC stream."""


Sink = ShuffleSink | ResultSink | FileWriteSink


@dataclass
class TaskDescription:
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt_number: int
    root: PhysicalOp
    sink: Sink
    reduce_ranges: tuple[tuple[int, int], ...] = ()
    job_id: int = 0


@dataclass
class TaskOutcome:
    """What a successful task reports: map output sizes, or result bytes, or written files."""

    sizes: tuple[int, ...] | None = None
    result: bytes | None = None
    files: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)


def run_task(desc: TaskDescription, ctx: TaskContext) -> TaskOutcome:
    """Run the task's pipeline into its sink; its spill files and memory go when it ends."""
    try:
        outcome = _run_into_sink(desc, ctx)
    finally:
        ctx.finish()
    outcome.metrics = ctx.metrics.as_dict()
    return outcome


def _run_into_sink(desc: TaskDescription, ctx: TaskContext) -> TaskOutcome:
    batches = desc.root.execute(ctx, desc.partition)
    sink = desc.sink
    if isinstance(sink, ShuffleSink):
        return TaskOutcome(sizes=tuple(write_shuffle(batches, desc, sink, ctx)))
    if isinstance(sink, FileWriteSink):
        return TaskOutcome(files=write_files(batches, desc.partition, sink, ctx,
                                             schema_of(desc.root.output)))
    return TaskOutcome(result=encode_result(batches, desc, ctx))


def encode_result(batches: Iterator[pa.RecordBatch], desc: TaskDescription,
                  ctx: TaskContext) -> bytes:
    schema = schema_of(desc.root.output)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        for b in batches:
            ctx.metrics.output_rows += b.num_rows
            writer.write_batch(b if b.schema == schema else b.cast(schema))
    return sink.getvalue()


def decode_result(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def partition_ids(batch: pa.RecordBatch, partitioning: Partitioning, row_offset: int,
                  seed_partition: int) -> np.ndarray:
    n = partitioning.num_partitions
    if isinstance(partitioning, HashPartitioning):
        keys = [evaluate(k, batch) for k in partitioning.keys]
        return hashing.partition_ids(keys, n)
    if isinstance(partitioning, RangePartitioning):
        from ember.exec.sorting import range_partition_ids

        if partitioning.bounds is None:
            msg = "range partitioning needs its bounds sampled before the job runs"
            raise RuntimeError(msg)
        keys = [evaluate(o.child, batch) for o in partitioning.orders]
        return range_partition_ids(keys, partitioning.orders, partitioning.bounds)
    if isinstance(partitioning, PartitionIdPartitioning):
        column = batch.column(partitioning.column)
        return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if isinstance(partitioning, RoundRobinPartitioning):
        # Spark starts each map task's round robin at a position derived from its partition.
        start = (seed_partition * 7919 + row_offset) % n
        return (start + np.arange(batch.num_rows, dtype=np.int64)) % n
    return np.zeros(batch.num_rows, dtype=np.int64)


def write_shuffle(batches: Iterator[pa.RecordBatch], desc: TaskDescription, sink: ShuffleSink,
                  ctx: TaskContext) -> list[int]:
    schema = schema_of(desc.root.output)
    writer = ShuffleWriter(ctx.local_dir, sink.shuffle_id, desc.partition,
                           sink.partitioning.num_partitions, schema, memory=ctx.task_memory,
                           spills=ctx.spills)
    offset = 0
    for b in batches:
        if not b.num_rows:
            continue
        if b.schema != schema:
            b = b.cast(schema)
        writer.write(b, partition_ids(b, sink.partitioning, offset, desc.partition))
        offset += b.num_rows
        ctx.metrics.shuffle_write_rows += b.num_rows
    sizes = writer.commit()
    ctx.metrics.shuffle_write_bytes += sum(sizes)
    return list(sizes)
