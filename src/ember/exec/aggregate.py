"""Hash aggregation in two phases, over Arrow's (Acero's) grouped aggregation kernels.

The partial phase runs before the shuffle and turns input rows into per-group states; the final
phase merges the states of each group and finishes them into results.

A partial aggregation that does not reduce (nearly every row its own group, as when grouping by
an id) is bypassed, as Spark's adaptive partial aggregation does: when a first chunk of
``adaptive_min_rows`` rows has fewer than ``adaptive_min_compaction`` rows per group, the states
of that chunk are emitted and every later row becomes a one-row state directly
(``sum`` the value, ``count`` 1 or 0, ...) for the final phase to merge. The held states go out
before the passed-through rows, so each group's states reach the final phase in input order and
``first``/``last`` are unchanged.

Both phases hold their group states in execution memory. When the task's memory will not hold
more, `StateMerger` hash-partitions the states (with the deterministic hashing of
``exec.hashing``, a seed per level) into spill files and merges each partition on its own, again
spilling a partition that still does not fit, so every group is merged exactly once.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec import spill as spilling
from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate, normalize_floats
from ember.exec.operators import PhysicalOp, _expr_str, rebatch, table_batches
from ember.plan import aggregates
from ember.plan.expressions import AggregateCall, AttributeReference, Expression, Literal
from ember.plan.grouped_aggregates import Groups

PARTIAL_CHUNK_ROWS = 1 << 20
# Bytes per group of Arrow's hash table, on top of the state columns themselves.
HASH_TABLE_BYTES_PER_GROUP = 24
# Merging held states builds a new table of the merged ones next to them: a held state table
# needs its size twice, as a sort buffer does.
STATE_COPIES = 2
# Past this many levels of re-partitioning a partition is merged in memory whatever its size:
# its rows share too few keys for hashing to split them further.
MAX_SPILL_LEVELS = 3
# Spark's spark.sql.execution.aggregate.adaptivePartialAggregation.minCompaction default: hashing
# goes on while the first chunk has at least this many rows per group.
ADAPTIVE_MIN_COMPACTION = 1.05
# Rows of the first chunk, on which the decision is made (ember's figure, as Velox's
# abandon_partial_aggregation_min_rows and DataFusion's skip_partial_aggregation_probe_rows).
ADAPTIVE_MIN_ROWS = 100_000
# Arrow aggregation steps whose state over one row is the row's own value.
_VALUE_STEPS = frozenset({"sum", "min", "max", "first", "last"})
_COUNT_VALID = pc.CountOptions(mode="only_valid")


def state_types(agg: AggregateCall) -> list[pa.DataType]:
    """Types of the partial-state columns of ``agg``."""
    spec = aggregates.lookup(agg.name)
    if spec.grouped is not None:
        return spec.grouped.state_types([a.dtype for a in agg.args[:spec.grouped.value_args]])
    arg_type = agg.args[0].dtype if agg.args else pa.int64()
    input_type = spec.input_type(arg_type)
    out = []
    for step, _ in spec.partial:
        out.append(pa.int64() if step == "count" else input_type)
    return out


def _arg_values(agg: AggregateCall, batch: pa.Table) -> pa.Array:
    if len(agg.args) <= 1:
        return evaluate(agg.args[0] if agg.args else Literal(1, pa.int64()), batch)
    # count(a, b, ...), as count(DISTINCT a, b) becomes: a row counts if no argument is null.
    valid = functools.reduce(pc.and_, [pc.is_valid(evaluate(a, batch)) for a in agg.args])
    return pc.if_else(valid, pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64()))


def _params(agg: AggregateCall, value_args: int) -> tuple[Any, ...]:
    """The values of a grouped aggregate's literal arguments (folded if not yet literals)."""
    one_row = pa.table({"_": pa.array([0])})
    return tuple(evaluate(a, one_row)[0].as_py() for a in agg.args[value_args:])


def _arg_columns(aggs: Sequence[AggregateCall], batch: pa.Table) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    for j, agg in enumerate(aggs):
        spec = aggregates.lookup(agg.name)
        if spec.grouped is not None:
            for i, arg in enumerate(agg.args[:spec.grouped.value_args]):
                cols[f"_a{j}_{i}"] = evaluate(arg, batch)
            continue
        values = _arg_values(agg, batch)
        target = spec.input_type(values.type)
        if spec.prepare is not None:
            values = spec.prepare(values, target)
        elif values.type != target:
            values = values.cast(target)
        cols[f"_a{j}"] = values
    return cols


@dataclass(frozen=True, eq=False)
class HashAggregateExec(PhysicalOp):
    """``mode`` is ``partial`` (rows to states) or ``final`` (states to results).

    Partial output: ``key_attrs`` then ``state_attrs``. Final output: ``key_attrs`` then
    ``agg_attrs``. In final mode ``keys`` are the key attributes of the partial output.
    """

    mode: str
    keys: tuple[Expression, ...]
    key_attrs: tuple[AttributeReference, ...]
    aggs: tuple[AggregateCall, ...]
    state_attrs: tuple[AttributeReference, ...]
    agg_attrs: tuple[AttributeReference, ...]
    child: PhysicalOp
    # Adaptive partial aggregation; an ``adaptive_min_compaction`` of 0 never bypasses.
    adaptive_min_rows: int = ADAPTIVE_MIN_ROWS
    adaptive_min_compaction: float = ADAPTIVE_MIN_COMPACTION

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        if self.mode == "partial":
            return list(self.key_attrs) + list(self.state_attrs)
        return list(self.key_attrs) + list(self.agg_attrs)

    def simple_string(self) -> str:
        funcs = ", ".join(f"{self.mode}_{a.sql()}" for a in self.aggs)
        return f"HashAggregate(keys={_expr_str(self.keys)}, functions=[{funcs}])"

    def _state_steps(self, *, merge: bool) -> list[tuple[int, str, str, object]]:
        """(state index, column, arrow aggregation, options) of each state column computed by
        an Arrow hash aggregation."""
        steps = []
        k = 0
        for j, agg in enumerate(self.aggs):
            spec = aggregates.lookup(agg.name)
            if spec.grouped is not None:
                k += len(state_types(agg))
                continue
            for step, opts in spec.merge if merge else spec.partial:
                column = self.state_attrs[k].key if merge else f"_a{j}"
                steps.append((k, column, step, opts))
                k += 1
        return steps

    def _grouped(self, table: pa.Table, key_names: list[str], *, merge: bool) -> pa.Table:
        steps = self._state_steps(merge=merge)
        aggregations: list[tuple[Any, ...]] = [
            (c, s, o) if o is not None else (c, s) for _, c, s, o in steps]
        by_ids = any(aggregates.lookup(a.name).grouped is not None for a in self.aggs)
        if by_ids and key_names:
            table = table.append_column("__row", pa.array(np.arange(table.num_rows)))
            aggregations.append(("__row", "list"))
        result = table.group_by(key_names, use_threads=False).aggregate(aggregations)
        states: list[Any] = [None] * len(self.state_attrs)
        for k, c, s, _ in steps:
            states[k] = result.column(f"{c}_{s}")
        if by_ids:
            groups = (_group_ids(result.column("__row_list"), table.num_rows) if key_names
                      else Groups(np.zeros(table.num_rows, dtype=np.int64), 1))
            self._grouped_states(table, groups, states, merge=merge)
        columns = [result.column(n) for n in key_names]
        for col, attr in zip(states, self.state_attrs, strict=True):
            columns.append(col.cast(attr.dtype) if col.type != attr.dtype else col)
        names = key_names + [a.key for a in self.state_attrs]
        return pa.Table.from_arrays(columns, names=names)

    def _grouped_states(self, table: pa.Table, groups: Groups, states: list[Any], *,
                        merge: bool) -> None:
        """Fill in the states of the aggregates computed over group ids."""
        k = 0
        for j, agg in enumerate(self.aggs):
            spec = aggregates.lookup(agg.name)
            n = len(state_types(agg))
            if spec.grouped is not None:
                kernels = spec.grouped
                params = _params(agg, kernels.value_args)
                if merge:
                    inputs = [table.column(self.state_attrs[k + i].key).combine_chunks()
                              for i in range(n)]
                    out = kernels.merge(inputs, groups, params)
                else:
                    inputs = [table.column(f"_a{j}_{i}").combine_chunks()
                              for i in range(kernels.value_args)]
                    out = kernels.partial(inputs, groups, params)
                states[k:k + n] = out
            k += n

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        if self.mode == "partial":
            yield from self._partial(ctx, partition)
        else:
            yield from self._final(ctx, partition)

    def _partial(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        key_names = [a.key for a in self.key_attrs]
        merger = StateMerger(self, ctx, key_names)
        batches = iter(self.child.execute(ctx, partition))
        adaptive = self.can_pass_through()
        first = self.adaptive_min_rows if adaptive else PARTIAL_CHUNK_ROWS
        chunks = itertools.chain(itertools.islice(rebatch(batches, first), 1),
                                 rebatch(batches, PARTIAL_CHUNK_ROWS))
        schema: pa.Schema | None = None
        for chunk in chunks:
            cols = {n: normalize_floats(evaluate(k, chunk))
                    for n, k in zip(key_names, self.keys, strict=True)}
            cols.update(_arg_columns(self.aggs, chunk))
            table = pa.table(cols)
            if schema is not None:
                yield from table_batches(self.row_states(table, key_names).cast(schema))
                continue
            states = self._grouped(table, key_names, merge=False)
            merger.add(states)
            if adaptive:
                adaptive = False
                if not reduces(table.num_rows, states.num_rows,
                               min_compaction=self.adaptive_min_compaction):
                    schema = states.schema
                    for held in merger.results():
                        yield from table_batches(held)
        if schema is None:
            for states in merger.results():
                yield from table_batches(states)

    def can_pass_through(self) -> bool:
        """Whether rows can become states without hashing: a partial aggregation by keys (a
        global one always reduces) of aggregates whose one-row states ``row_states`` forms."""
        if self.mode != "partial" or not self.key_attrs or self.adaptive_min_compaction <= 0:
            return False
        return all(step in _VALUE_STEPS or (step == "count" and opts == _COUNT_VALID)
                   for _, _, step, opts in self._state_steps(merge=False))

    def row_states(self, table: pa.Table, key_names: list[str]) -> pa.Table:
        """The partial states of each row of ``table`` (keys and argument columns, as the
        partial phase prepares them) on its own, as hashing would give for one-row groups."""
        n = table.num_rows
        states: list[Any] = [None] * len(self.state_attrs)
        for k, column, step, _ in self._state_steps(merge=False):
            values = table.column(column)
            # Only ``count(valid)`` has a state other than the value: 1, or 0 for a null.
            states[k] = pc.cast(pc.is_valid(values), pa.int64()) if step == "count" else values
        if any(s is None for s in states):
            self._grouped_states(table, Groups(np.arange(n, dtype=np.int64), n), states,
                                 merge=False)
        columns = [table.column(name) for name in key_names]
        for col, attr in zip(states, self.state_attrs, strict=True):
            columns.append(col.cast(attr.dtype) if col.type != attr.dtype else col)
        names = key_names + [a.key for a in self.state_attrs]
        return pa.Table.from_arrays(columns, names=names)

    def _final(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        key_names = [a.key for a in self.key_attrs]
        schema = pa.schema([pa.field(a.key, a.dtype) for a in self.child.output])
        merger = StateMerger(self, ctx, key_names)
        for chunk in rebatch(self.child.execute(ctx, partition), PARTIAL_CHUNK_ROWS):
            chunk = chunk.cast(schema) if chunk.schema != schema else chunk
            merger.add(self._grouped(chunk, key_names, merge=True))
        empty = True
        for merged in merger.results():
            empty = False
            yield from table_batches(self._finish(merged, key_names))
        if empty and not key_names:
            yield self._empty_global_row()

    def _finish(self, merged: pa.Table, key_names: list[str]) -> pa.Table:
        """Results from merged states (one row per group)."""
        columns = [merged.column(n) for n in key_names]
        k = 0
        for agg, attr in zip(self.aggs, self.agg_attrs, strict=True):
            spec = aggregates.lookup(agg.name)
            n = len(state_types(agg))
            states = [merged.column(self.state_attrs[k + i].key).combine_chunks()
                      for i in range(n)]
            k += n
            if spec.grouped is not None:
                params = _params(agg, spec.grouped.value_args)
                columns.append(spec.grouped.finish(states, attr.dtype, params))
            else:
                columns.append(spec.finish(states, attr.dtype))
        return pa.Table.from_arrays(columns, names=key_names + [a.key for a in self.agg_attrs])

    def _empty_global_row(self) -> pa.RecordBatch:
        arrays = []
        for agg, attr in zip(self.aggs, self.agg_attrs, strict=True):
            value = aggregates.lookup(agg.name).empty_value
            arrays.append(pa.array([value], attr.dtype))
        return pa.RecordBatch.from_arrays(arrays, names=[a.key for a in self.agg_attrs])


def reduces(rows: int, groups: int, *, min_compaction: float) -> bool:
    """Whether hashing ``rows`` rows into ``groups`` groups is worth it: Spark's compaction
    ratio, rows per group, is at least ``min_compaction``."""
    return rows >= groups * min_compaction


def _group_ids(rows: pa.ChunkedArray | pa.Array, num_rows: int) -> Groups:
    """The group of every input row, from the per-group lists of row numbers."""
    lists = rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    ids = np.empty(num_rows, dtype=np.int64)
    ids[pc.list_flatten(lists).to_numpy(zero_copy_only=False)] = np.repeat(
        np.arange(len(lists)), lengths)
    return Groups(ids, len(lists))


class StateMerger:
    """Merges the group-state tables of one task into one row per group, spilling if need be.

    State tables are held while the task's memory grants their size (twice their columns, for
    the merged copy, plus the hash table). On the first refusal the merger switches to
    partitioned mode: held and later states go, split by key hash, to a `PartitionedSpill`.
    `results` then merges each partition separately, through a merger one level down, so a
    partition that still does not fit is split again with another seed.
    """

    def __init__(self, op: HashAggregateExec, ctx: TaskContext, key_names: list[str], *,
                 level: int = 0) -> None:
        self.op = op
        self.ctx = ctx
        self.memory = ctx.task_memory
        self.key_names = key_names
        self.level = level
        # A global aggregate has one group: nothing to partition.
        self.can_spill = bool(key_names) and level < MAX_SPILL_LEVELS
        self.held: list[pa.Table] = []
        self.reserved = 0
        self.partitioned: spilling.PartitionedSpill | None = None

    def add(self, states: pa.Table) -> None:
        if not states.num_rows:
            return
        cost = STATE_COPIES * states.nbytes + HASH_TABLE_BYTES_PER_GROUP * states.num_rows
        if self.partitioned is not None:
            self.partitioned.add(states, self._keys(states))
        elif not self.can_spill or self.memory.reserve(cost):
            self.held.append(states)
            self.reserved += cost if self.can_spill else 0
        else:
            held, self.held = self.held + [states], []
            parts = spilling.partition_count(sum(t.nbytes for t in held),
                                             max(self.reserved, 1 << 20))
            self._release()
            self.partitioned = spilling.PartitionedSpill(
                self.ctx.spills, self.memory, states.schema, parts, self.level)
            for table in held:
                self.partitioned.add(table, self._keys(table))

    def results(self) -> Iterator[pa.Table]:
        """Merged states, each group in exactly one table; memory and spills freed after."""
        partitioned = self.partitioned
        if partitioned is None:
            held, self.held = self.held, []
            if held:
                yield held[0] if len(held) == 1 and not self.level else self.op._grouped(
                    pa.concat_tables(held), self.key_names, merge=True)
            self._release()
            return
        partitioned.finish()
        try:
            for p in range(partitioned.n):
                child = StateMerger(self.op, self.ctx, self.key_names, level=self.level + 1)
                for batch in partitioned.read(p):
                    child.add(pa.Table.from_batches([batch]))
                yield from child.results()
        finally:
            partitioned.delete()

    def _keys(self, table: pa.Table) -> list[pa.ChunkedArray]:
        return [table.column(n) for n in self.key_names]

    def _release(self) -> None:
        if self.reserved:
            self.memory.release(self.reserved)
        self.reserved = 0
