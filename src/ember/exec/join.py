"""Joins: hash joins (broadcast or shuffled) and nested-loop joins, all over index pairs.

Every join type is derived from one primitive: the (stream row, build row) index pairs whose
keys are equal (Acero's hash join on key columns plus row numbers), filtered by the residual
condition. Outer, semi and anti joins then add or select rows with numpy. Payload columns are
gathered with ``take`` at the end, so any column type can be carried through a join.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate, normalize_floats
from ember.exec.operators import PhysicalOp, _expr_str, rebatch, table_batches, to_table
from ember.plan.expressions import AttributeReference, Expression

STREAM_CHUNK_ROWS = 1 << 21
CROSS_CHUNK_PAIRS = 1 << 22


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

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        build_op, stream_op = (self.right, self.left) if self.build_right else (self.left, self.right)
        build_keys_e, stream_keys_e = ((self.right_keys, self.left_keys) if self.build_right
                                       else (self.left_keys, self.right_keys))
        build_part = 0 if self.broadcast else partition
        build = to_table(build_op.execute(ctx, build_part), build_op.output)
        build_keys = [evaluate(k, build) for k in build_keys_e]
        # "preserve" sides in terms of stream/build
        keep_stream, keep_build = self._preserved()
        build_matched = np.zeros(build.num_rows, dtype=bool)
        stream_schema = pa.schema([pa.field(a.key, a.dtype) for a in stream_op.output])
        for chunk in rebatch(stream_op.execute(ctx, partition), STREAM_CHUNK_ROWS):
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
