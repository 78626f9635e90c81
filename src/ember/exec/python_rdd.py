"""Physical operators that run RDD lineages: Python objects inside Arrow record batches.

An RDD's records travel between operators, through shuffles and back to the driver as a binary
column of pickled *chunks*: each row holds one pickled list of records. Chunks start small and
grow (up to ``MAX_CHUNK_RECORDS`` records) while they pickle to under ``TARGET_CHUNK_BYTES``, so
that both tiny and huge records make chunks of a sensible size.

The RDD layer composes a stage's narrow transformations (``map``, ``filter``, ``mapPartitions``,
...) into one function ``func(split, records) -> records``, and one operator runs it per task:

- ``PythonPipelineExec`` runs it and pickles what comes out.
- ``PythonPartitionExec`` is the map side of a shuffle: it runs it to get ``(partition id,
  record)`` pairs and writes each reducer's records as chunks next to an int partition id
  column, which ``PartitionIdPartitioning`` hands to the engine's shuffle writer.
- ``PythonShuffleReadExec`` is the reduce side: it reads exactly its own reduce partition. RDD
  partition counts are part of their meaning (``partitionBy``, ``glom``, part file names), so
  adaptive coalescing must not change them.

Either input is a child of chunk batches, or plain Arrow batches turned into records by a
``convert`` function (``df.rdd``, ``sc.textFile``, ``sc.range``).
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cloudpickle
import pyarrow as pa

from ember.exec.context import TaskContext
from ember.exec.operators import PhysicalOp, ShuffleReadExec
from ember.plan.expressions import AttributeReference

PartitionFunc = Callable[[int, Iterator[Any]], Iterable[Any]]
Convert = Callable[[pa.RecordBatch], Iterable[Any]]

MIN_CHUNK_RECORDS = 16
MAX_CHUNK_RECORDS = 4096
TARGET_CHUNK_BYTES = 256 * 1024
TEXT_BATCH_LINES = 1 << 16
# Chunks gathered into one batch on the map side of a shuffle.
PARTITION_BATCH_CHUNKS = 64


def chunk_attr() -> AttributeReference:
    return AttributeReference("records", pa.binary(), False)


def partition_id_attr() -> AttributeReference:
    return AttributeReference("partition_id", pa.int32(), False)


# ---------------------------------------------------------------------------------------------
# Chunks


def dump_chunk(records: list[Any]) -> bytes:
    """Pickle a list of records; cloudpickle only when plain pickle cannot (lambdas, locals)."""
    try:
        return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return cloudpickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def load_chunk(data: bytes) -> list[Any]:
    return pickle.loads(data)


def records_of(batches: Iterable[pa.RecordBatch]) -> Iterator[Any]:
    """The records of chunk batches (the chunk column is the last one), in order."""
    for batch in batches:
        if not batch.num_rows:
            continue
        for data in batch.column(batch.num_columns - 1).to_pylist():
            yield from load_chunk(data)


def records_of_table(table: pa.Table) -> list[Any]:
    out: list[Any] = []
    for data in table.column(table.num_columns - 1).to_pylist():
        out.extend(load_chunk(data))
    return out


class _Chunker:
    """Gathers records into chunks whose size adapts to how large the records pickle."""

    def __init__(self) -> None:
        self.limit = MIN_CHUNK_RECORDS

    def dump(self, records: list[Any]) -> bytes:
        data = dump_chunk(records)
        if len(data) < TARGET_CHUNK_BYTES and len(records) >= self.limit:
            self.limit = min(MAX_CHUNK_RECORDS, self.limit * 2)
        elif len(data) > 4 * TARGET_CHUNK_BYTES:
            self.limit = max(1, self.limit // 2)
        return data


def chunk_batches(records: Iterable[Any], key: str) -> Iterator[pa.RecordBatch]:
    """One batch per chunk of ``records``, with the chunk in column ``key``."""
    chunker = _Chunker()
    pending: list[Any] = []
    for record in records:
        pending.append(record)
        if len(pending) >= chunker.limit:
            yield _chunk_batch(chunker.dump(pending), key)
            pending = []
    if pending:
        yield _chunk_batch(chunker.dump(pending), key)


def _chunk_batch(data: bytes, key: str) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([data], pa.binary())], names=[key])


def chunk_table(records: Sequence[Any]) -> pa.Table:
    """A local table of chunks for ``parallelize``."""
    key = "records"
    batches = list(chunk_batches(records, key))
    if not batches:
        return pa.table({key: pa.array([], pa.binary())})
    return pa.Table.from_batches(batches)


def _input(convert: Convert | None, batches: Iterable[pa.RecordBatch]) -> Iterator[Any]:
    if convert is None:
        return records_of(batches)
    return (record for b in batches if b.num_rows for record in convert(b))


# ---------------------------------------------------------------------------------------------
# Operators


class _UnaryOp(PhysicalOp):
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)


@dataclass(frozen=True, eq=False)
class PythonPipelineExec(_UnaryOp):
    """Runs a stage's narrow RDD transformations, ``func(split, records)``, over one partition."""

    func: PartitionFunc | None
    convert: Convert | None
    attr: AttributeReference
    child: PhysicalOp
    label: str = ""

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        records = _input(self.convert, self.child.execute(ctx, partition))
        out = records if self.func is None else self.func(partition, records)
        yield from chunk_batches(out, self.attr.key)

    def simple_string(self) -> str:
        return f"PythonRDD {self.label}".rstrip()


@dataclass(frozen=True, eq=False)
class PythonPartitionExec(_UnaryOp):
    """The map side of an RDD shuffle: ``func(split, records)`` gives ``(partition, record)``
    pairs; each reducer's records become chunks beside their partition id."""

    func: PartitionFunc
    convert: Convert | None
    num_partitions_out: int
    pid_attr: AttributeReference
    attr: AttributeReference
    child: PhysicalOp

    @property
    def output(self) -> list[AttributeReference]:
        return [self.pid_attr, self.attr]

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        n = self.num_partitions_out
        chunker = _Chunker()
        buffers: list[list[Any]] = [[] for _ in range(n)]
        pids: list[int] = []
        chunks: list[bytes] = []
        records = _input(self.convert, self.child.execute(ctx, partition))
        for pid, record in self.func(partition, records):
            if not 0 <= pid < n:
                msg = (f"partition function returned {pid} for a shuffle into {n} partitions"
                       "\n\nreturn an int in [0, numPartitions)")
                raise ValueError(msg)
            buf = buffers[pid]
            buf.append(record)
            if len(buf) >= chunker.limit:
                pids.append(pid)
                chunks.append(chunker.dump(buf))
                buffers[pid] = []
                if len(chunks) >= PARTITION_BATCH_CHUNKS:
                    yield self._batch(pids, chunks)
                    pids, chunks = [], []
        for pid, buf in enumerate(buffers):
            if buf:
                pids.append(pid)
                chunks.append(chunker.dump(buf))
        if chunks:
            yield self._batch(pids, chunks)

    def _batch(self, pids: list[int], chunks: list[bytes]) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays(
            [pa.array(pids, pa.int32()), pa.array(chunks, pa.binary())],
            names=[self.pid_attr.key, self.attr.key])

    def simple_string(self) -> str:
        return f"PythonPartition {self.num_partitions_out}"


@dataclass(frozen=True, eq=False)
class PythonShuffleReadExec(_UnaryOp):
    """The reduce side of an RDD shuffle: the chunks of this task's own reduce partition.

    ``child`` is the ``ExchangeExec`` until the job is cut into stages, then the
    ``ShuffleReadExec`` that stands for it; only its shuffle id is used, so that the reduce
    partitions stay exactly ``num_partitions_out`` whatever adaptive coalescing decided.
    """

    num_partitions_out: int
    attr: AttributeReference
    child: PhysicalOp

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    def num_partitions(self, reduce_ranges: int) -> int:
        return self.num_partitions_out

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        read = self.child
        if not isinstance(read, ShuffleReadExec):
            msg = "an RDD shuffle read must run in a stage cut at its exchange"
            raise RuntimeError(msg)
        for batch in ctx.read_shuffle(read.shuffle_id, partition, partition + 1):
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays([batch.column(batch.num_columns - 1)],
                                                 names=[self.attr.key])

    def for_task(self, partition: int) -> PhysicalOp:
        return self

    def simple_string(self) -> str:
        return f"PythonShuffleRead {self.num_partitions_out}"


@dataclass(frozen=True, eq=False)
class PartitionwiseUnionExec(PhysicalOp):
    """The union of co-partitioned inputs: partition ``i`` is partition ``i`` of every input,
    one after another, so keys stay where their partitioner put them (no shuffle)."""

    inputs: tuple[PhysicalOp, ...]
    attr: AttributeReference

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return self.inputs

    def _child_fields(self) -> list[str]:
        return []

    def with_children(self, children: Sequence[PhysicalOp]) -> PhysicalOp:
        return replace(self, inputs=tuple(children))

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    def num_partitions(self, reduce_ranges: int) -> int:
        return self.inputs[0].num_partitions(reduce_ranges)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        for op in self.inputs:
            for batch in op.execute(ctx, partition):
                yield pa.RecordBatch.from_arrays([batch.column(batch.num_columns - 1)],
                                                 names=[self.attr.key])

    def simple_string(self) -> str:
        return "PartitionwiseUnion"


@dataclass(frozen=True, eq=False)
class PartitionSubsetExec(_UnaryOp):
    """Only some partitions of ``child``: task ``i`` runs partition ``parts[i]`` (``take``)."""

    parts: tuple[int, ...]
    child: PhysicalOp

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def num_partitions(self, reduce_ranges: int) -> int:
        return len(self.parts)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        return self.child.execute(ctx, self.parts[partition])

    def for_task(self, partition: int) -> PhysicalOp:
        return replace(self, child=self.child.for_task(self.parts[partition]))

    def simple_string(self) -> str:
        return f"PartitionSubset {list(self.parts)}"


# ---------------------------------------------------------------------------------------------
# Text files, split as Hadoop's TextInputFormat splits them


@dataclass(frozen=True)
class TextSplit:
    path: str
    start: int
    end: int  # exclusive; -1 for a whole compressed file


def text_splits(files: Sequence[tuple[str, int]], min_partitions: int, *,
                max_split_bytes: int = 32 * 1024 * 1024) -> list[TextSplit]:
    """Byte ranges of ``(path, size)`` files: the total over ``min_partitions``, at most a block.

    As Hadoop's FileInputFormat: a file is cut while more than 1.1 splits remain; gzip files
    cannot be split.
    """
    total = sum(size for _, size in files)
    goal = total // max(1, min_partitions)
    split_size = max(1, min(goal, max_split_bytes))
    splits: list[TextSplit] = []
    for path, size in files:
        if path.endswith(".gz"):
            splits.append(TextSplit(path, 0, -1))
            continue
        start = 0
        while (size - start) / split_size > 1.1:
            splits.append(TextSplit(path, start, start + split_size))
            start += split_size
        if size - start > 0 or size == 0:
            splits.append(TextSplit(path, start, size))
    return splits


def read_split_lines(split: TextSplit) -> Iterator[str]:
    """The lines of a split, without their terminators.

    A split owns the lines that *start* in ``(start, end]`` (or ``[0, end]`` for the first), so
    each line is read by exactly one split, however the byte ranges cut it.
    """
    if split.end < 0:
        with gzip.open(split.path, "rb") as f:
            for line in f:
                yield _decode_line(line)
        return
    with open(split.path, "rb", buffering=1 << 20) as f:
        pos = split.start
        if pos:
            f.seek(pos)
            pos += len(f.readline())  # the line this split starts inside belongs to the last
        while pos <= split.end:
            line = f.readline()
            if not line:
                break
            pos += len(line)
            yield _decode_line(line)


def _decode_line(line: bytes) -> str:
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    elif line.endswith(b"\r"):
        line = line[:-1]
    return line.decode("utf-8", errors="replace")


@dataclass(frozen=True, eq=False)
class TextFileExec(PhysicalOp):
    """``sc.textFile``: the lines of each split as a string column."""

    splits: tuple[TextSplit, ...]
    attr: AttributeReference

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    def num_partitions(self, reduce_ranges: int) -> int:
        return len(self.splits)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        lines: list[str] = []
        for line in read_split_lines(self.splits[partition]):
            lines.append(line)
            if len(lines) >= TEXT_BATCH_LINES:
                yield self._batch(lines, ctx)
                lines = []
        if lines:
            yield self._batch(lines, ctx)

    def _batch(self, lines: list[str], ctx: TaskContext) -> pa.RecordBatch:
        ctx.metrics.input_rows += len(lines)
        return pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], names=[self.attr.key])

    def simple_string(self) -> str:
        return f"TextFile Splits: {len(self.splits)}"


def column_values(batch: pa.RecordBatch) -> list[Any]:
    """``convert`` for a one-column Arrow source: its values as Python objects."""
    return batch.column(0).to_pylist()
