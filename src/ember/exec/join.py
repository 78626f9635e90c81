"""Joins: hash joins (broadcast or shuffled) and nested-loop joins, all over index pairs.

Every join type is derived from one primitive: the (stream row, build row) index pairs whose
keys are equal (Acero's hash join on key columns plus row numbers), filtered by the residual
condition. Outer, semi and anti joins then add or select rows with numpy. Payload columns are
gathered with ``take`` at the end, so any column type can be carried through a join.

The build side of a shuffled hash join is execution memory. When the task's memory will not
hold it, the join turns into a grace hash join: both sides are hash-partitioned on their keys
(deterministic hashing, a seed per level) into spill files, and partition ``p`` of the build
side is joined with partition ``p`` of the stream side, one partition at a time; a build
partition that still does not fit is partitioned again. Rows with equal keys always share a
partition, so every join type keeps its meaning, null keys included (they never match).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec import spill as spilling
from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate, normalize_floats
from ember.exec.operators import PhysicalOp, _expr_str, rebatch, table_batches, to_table
from ember.plan.expressions import AttributeReference, Expression

# Stream rows joined at a time: each chunk probes a hash table built anew over the build side,
# so chunks are as large as memory allows, between these bounds, their output taking at most
# a quarter of the task's share of execution memory (see `stream_chunk_rows`).
STREAM_CHUNK_ROWS = 1 << 21
MIN_STREAM_CHUNK_ROWS = 1 << 16
CROSS_CHUNK_PAIRS = 1 << 22
# Past this many levels a build partition is joined in memory whatever its size: its rows share
# too few keys for hashing to split them further.
MAX_GRACE_LEVELS = 3
GRACE_PARTITIONS = 16


def equi_pairs(stream_keys: list[pa.Array], build_keys: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (stream, build) where all keys are equal; null keys never match."""
    stream_keys = [normalize_floats(k) for k in stream_keys]
    build_keys = [normalize_floats(k) for k in build_keys]
    s = pa.table({**{f"k{i}": a for i, a in enumerate(stream_keys)},
                  "__s": pa.array(np.arange(len(stream_keys[0]), dtype=np.int64))})
    b = pa.table({**{f"r{i}": a for i, a in enumerate(build_keys)},
                  "__b": pa.array(np.arange(len(build_keys[0]), dtype=np.int64))})
    names = [f"k{i}" for i in range(len(stream_keys))]
    rnames = [f"r{i}" for i in range(len(build_keys))]
    joined = s.join(b, keys=names, right_keys=rnames, join_type="inner", coalesce_keys=False,
                    use_threads=True)
    si = joined.column("__s").to_numpy()
    bi = joined.column("__b").to_numpy()
    order = np.lexsort((bi, si))
    return si[order], bi[order]


def cross_pairs(n_stream: int, n_build: int) -> tuple[np.ndarray, np.ndarray]:
    si = np.repeat(np.arange(n_stream, dtype=np.int64), n_build)
    bi = np.tile(np.arange(n_build, dtype=np.int64), n_stream)
    return si, bi


def _take_with_nulls(table: pa.Table, idx: np.ndarray) -> pa.Table:
    """``take`` where -1 gives a null row."""
    if len(idx) and idx.min() < 0:
        arr = pa.array(idx, mask=idx < 0)
        return table.take(arr)
    return table.take(pa.array(idx))


@dataclass(frozen=True, eq=False)
class JoinExec(PhysicalOp):
    """A join of ``left`` and ``right``; ``build_right`` says which side is materialised.

    ``how`` is one of inner, left, right, full, left_semi, left_anti, cross. Semi and anti joins
    always build the right side. ``broadcast`` marks the build side as a broadcast read.
    """

    left: PhysicalOp
    right: PhysicalOp
    how: str
    left_keys: tuple[Expression, ...]
    right_keys: tuple[Expression, ...]
    residual: Expression | None
    build_right: bool
    broadcast: bool

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.left, self.right)

    def _child_fields(self) -> list[str]:
        return ["left", "right"]

    @property
    def output(self) -> list[AttributeReference]:
        if self.how in {"left_semi", "left_anti"}:
            return self.left.output
        return self.left.output + self.right.output

    def num_partitions(self, reduce_ranges: int) -> int:
        stream = self.left if self.build_right else self.right
        return stream.num_partitions(reduce_ranges)

    def simple_string(self) -> str:
        kind = "BroadcastHashJoin" if self.broadcast else "ShuffledHashJoin"
        if not self.left_keys:
            kind = "BroadcastNestedLoopJoin" if self.broadcast else "CartesianProduct"
        side = "BuildRight" if self.build_right else "BuildLeft"
        residual = f", {_expr_str([self.residual])[1:-1]}" if self.residual is not None else ""
        return (f"{kind} {_expr_str(self.left_keys)}, {_expr_str(self.right_keys)}, "
                f"{self.how.title().replace('_', '')}, {side}{residual}")

    def _sides(self) -> tuple[PhysicalOp, PhysicalOp, Sequence[Expression], Sequence[Expression]]:
        """(build op, stream op, build keys, stream keys)."""
        if self.build_right:
            return self.right, self.left, self.right_keys, self.left_keys
        return self.left, self.right, self.left_keys, self.right_keys

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        build_op, stream_op, _, _ = self._sides()
        if self.broadcast or not self.left_keys:
            # A broadcast build side is shared by the executor's tasks, not held per task.
            build = to_table(build_op.execute(ctx, 0 if self.broadcast else partition),
                             build_op.output)
            yield from self._join_build(build, stream_op.execute(ctx, partition), ctx.task_memory)
            return
        memory = ctx.task_memory
        build_batches = iter(build_op.execute(ctx, partition))
        held: list[pa.RecordBatch] = []
        reserved = 0
        for batch in build_batches:
            if not batch.num_rows:
                continue
            held.append(batch)
            if not memory.reserve(batch.nbytes):
                memory.release(reserved)
                # The held batches are no longer reserved: pass them on without keeping them.
                first, held = held, []
                yield from self._grace(ctx, _chain(first, build_batches),
                                       stream_op.execute(ctx, partition), level=0)
                return
            reserved += batch.nbytes
        try:
            yield from self._join_build(to_table(held, build_op.output),
                                        stream_op.execute(ctx, partition), memory)
        finally:
            memory.release(reserved)

    def _grace(self, ctx: TaskContext, build_batches: Iterable[pa.RecordBatch],
               stream_batches: Iterable[pa.RecordBatch], *, level: int) -> Iterator[pa.RecordBatch]:
        """Partition both sides by key hash into spill files, then join partition by partition."""
        build_op, stream_op, build_keys_e, stream_keys_e = self._sides()
        build_schema = schema_of_attrs(build_op.output)
        stream_schema = schema_of_attrs(stream_op.output)
        n = GRACE_PARTITIONS
        build = spilling.PartitionedSpill(ctx.spills, ctx.task_memory, build_schema, n, level)
        for batch in build_batches:
            table = _as_table(batch, build_schema)
            build.add(table, _join_keys(build_keys_e, table))
        build.finish()
        stream = spilling.PartitionedSpill(ctx.spills, ctx.task_memory, stream_schema, n, level)
        for batch in stream_batches:
            table = _as_table(batch, stream_schema)
            stream.add(table, _join_keys(stream_keys_e, table))
        stream.finish()
        memory = ctx.task_memory
        try:
            for p in range(n):
                part = to_table(build.read(p), build_op.output)
                if not memory.reserve(part.nbytes):
                    if level + 1 < MAX_GRACE_LEVELS:
                        yield from self._grace(ctx, part.to_batches(), stream.read(p),
                                               level=level + 1)
                        continue
                    # Too skewed to split: join it in memory all the same.
                    yield from self._join_build(part, stream.read(p), memory)
                    continue
                try:
                    yield from self._join_build(part, stream.read(p), memory)
                finally:
                    memory.release(part.nbytes)
        finally:
            build.delete()
            stream.delete()

    def _join_build(self, build: pa.Table, stream_batches: Iterable[pa.RecordBatch],
                    memory: spilling.TaskMemoryLike) -> Iterator[pa.RecordBatch]:
        """Join a materialised build side with the stream side's batches."""
        _, stream_op, build_keys_e, stream_keys_e = self._sides()
        build_keys = [evaluate(k, build) for k in build_keys_e]
        # "preserve" sides in terms of stream/build
        keep_stream, keep_build = self._preserved()
        build_matched = np.zeros(build.num_rows, dtype=bool)
        stream_schema = pa.schema([pa.field(a.key, a.dtype) for a in stream_op.output])
        stream_batches = iter(stream_batches)
        first = next(stream_batches, None)
        chunks = [] if first is None else rebatch(
            _chain([first], stream_batches),
            stream_chunk_rows(first, build, memory.share()))
        for chunk in chunks:
            chunk = chunk.cast(stream_schema) if chunk.schema != stream_schema else chunk
            yield from self._join_chunk(chunk, build, stream_keys_e, build_keys,
                                        keep_stream, build_matched)
        if keep_build and build.num_rows:
            unmatched = np.flatnonzero(~build_matched)
            if len(unmatched):
                empty_stream = stream_schema.empty_table()
                yield from self._emit(empty_stream, build, np.full(len(unmatched), -1), unmatched)

    def _preserved(self) -> tuple[bool, bool]:
        left_kept = self.how in {"left", "full"}
        right_kept = self.how in {"right", "full"}
        return (left_kept, right_kept) if self.build_right else (right_kept, left_kept)

    def _join_chunk(self, chunk: pa.Table, build: pa.Table, stream_keys_e: Sequence[Expression],
                    build_keys: list[pa.Array], keep_stream: bool,
                    build_matched: np.ndarray) -> Iterator[pa.RecordBatch]:
        n = chunk.num_rows
        if stream_keys_e:
            stream_keys = [evaluate(k, chunk) for k in stream_keys_e]
            si, bi = equi_pairs(stream_keys, build_keys)
            si, bi = self._filter_residual(chunk, build, si, bi)
        else:
            si, bi = self._cross_filtered(chunk, build)
        if self.how == "left_semi":
            keep = np.unique(si)
            yield from table_batches(chunk.take(pa.array(keep)))
            return
        if self.how == "left_anti":
            matched = np.zeros(n, dtype=bool)
            matched[si] = True
            yield from table_batches(chunk.filter(pa.array(~matched)))
            return
        build_matched[bi] = True
        if keep_stream:
            matched = np.zeros(n, dtype=bool)
            matched[si] = True
            missing = np.flatnonzero(~matched)
            if len(missing):
                si = np.concatenate([si, missing])
                bi = np.concatenate([bi, np.full(len(missing), -1, dtype=np.int64)])
        yield from self._emit(chunk, build, si, bi)

    def _filter_residual(self, stream: pa.Table, build: pa.Table, si: np.ndarray,
                         bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.residual is None or not len(si):
            return si, bi
        pairs = self._combine(stream.take(pa.array(si)), build.take(pa.array(bi)))
        mask = pc.fill_null(evaluate(self.residual, pairs), False).to_numpy(zero_copy_only=False)
        return si[mask], bi[mask]

    def _cross_filtered(self, stream: pa.Table, build: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        out_s, out_b = [], []
        per = max(1, CROSS_CHUNK_PAIRS // max(1, build.num_rows))
        for start in range(0, stream.num_rows, per):
            count = min(per, stream.num_rows - start)
            si, bi = cross_pairs(count, build.num_rows)
            si += start
            si, bi = self._filter_residual(stream, build, si, bi)
            out_s.append(si)
            out_b.append(bi)
        if not out_s:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(out_s), np.concatenate(out_b)

    def _combine(self, stream: pa.Table, build: pa.Table) -> pa.Table:
        left, right = (stream, build) if self.build_right else (build, stream)
        names = left.column_names + right.column_names
        return pa.Table.from_arrays(left.columns + right.columns, names=names)

    def _emit(self, stream: pa.Table, build: pa.Table, si: np.ndarray,
              bi: np.ndarray) -> Iterator[pa.RecordBatch]:
        if not len(si):
            return
        out = self._combine(_take_with_nulls(stream, si), _take_with_nulls(build, bi))
        yield from table_batches(out)


def schema_of_attrs(attrs: Sequence[AttributeReference]) -> pa.Schema:
    return pa.schema([pa.field(a.key, a.dtype) for a in attrs])


def _as_table(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    return table.cast(schema) if table.schema != schema else table


def _join_keys(exprs: Sequence[Expression], table: pa.Table) -> list[pa.Array]:
    """Key columns as the join compares them (floats normalised), for hash partitioning."""
    return [normalize_floats(evaluate(k, table)) for k in exprs]


def stream_chunk_rows(sample: pa.RecordBatch, build: pa.Table, share: int | None) -> int:
    """Stream rows per chunk: the output of a chunk (about a stream row and a build row each)
    takes at most a quarter of ``share``, the task's execution memory (unbounded if None)."""
    if share is None:
        return STREAM_CHUNK_ROWS
    row_bytes = sample.nbytes / max(1, sample.num_rows) + build.nbytes / max(1, build.num_rows)
    rows = int(share / 4 / max(1.0, row_bytes))
    return max(MIN_STREAM_CHUNK_ROWS, min(STREAM_CHUNK_ROWS, rows))


def _chain(first: list[pa.RecordBatch], rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``first``'s batches, dropped from it as they are given, then ``rest``'s."""
    first.reverse()
    while first:
        yield first.pop()
    yield from rest
