"""Hash aggregation in two phases, over Arrow's (Acero's) grouped aggregation kernels.

The partial phase runs before the shuffle and turns input rows into per-group states; the final
phase merges the states of each group and finishes them into results.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate, normalize_floats
from ember.exec.operators import PhysicalOp, _expr_str, rebatch, table_batches
from ember.plan import aggregates
from ember.plan.expressions import AggregateCall, AttributeReference, Expression, Literal

PARTIAL_CHUNK_ROWS = 1 << 20


def state_types(agg: AggregateCall) -> list[pa.DataType]:
    """Types of the partial-state columns of ``agg``."""
    spec = aggregates.lookup(agg.name)
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


def _arg_columns(aggs: Sequence[AggregateCall], batch: pa.Table) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    for j, agg in enumerate(aggs):
        spec = aggregates.lookup(agg.name)
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

    def _state_steps(self, *, merge: bool) -> list[tuple[str, str, object]]:
        """(column, arrow aggregation, options) for each state column."""
        steps = []
        k = 0
        for j, agg in enumerate(self.aggs):
            spec = aggregates.lookup(agg.name)
            for step, opts in spec.merge if merge else spec.partial:
                column = self.state_attrs[k].key if merge else f"_a{j}"
                steps.append((column, step, opts))
                k += 1
        return steps

    def _grouped(self, table: pa.Table, key_names: list[str], *, merge: bool) -> pa.Table:
        steps = self._state_steps(merge=merge)
        result = table.group_by(key_names, use_threads=False).aggregate(
            [(c, s, o) if o is not None else (c, s) for c, s, o in steps])
        columns = [result.column(n) for n in key_names]
        for i, (c, s, _) in enumerate(steps):
            col = result.column(f"{c}_{s}")
            target = self.state_attrs[i].dtype
            columns.append(col.cast(target) if col.type != target else col)
        names = key_names + [a.key for a in self.state_attrs]
        return pa.Table.from_arrays(columns, names=names)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        if self.mode == "partial":
            yield from self._partial(ctx, partition)
        else:
            yield from self._final(ctx, partition)

    def _partial(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        key_names = [a.key for a in self.key_attrs]
        partials: list[pa.Table] = []
        for chunk in rebatch(self.child.execute(ctx, partition), PARTIAL_CHUNK_ROWS):
            cols = {n: normalize_floats(evaluate(k, chunk))
                    for n, k in zip(key_names, self.keys, strict=True)}
            cols.update(_arg_columns(self.aggs, chunk))
            partials.append(self._grouped(pa.table(cols), key_names, merge=False))
        if not partials:
            return
        states = partials[0] if len(partials) == 1 else self._grouped(
            pa.concat_tables(partials), key_names, merge=True)
        yield from table_batches(states)

    def _final(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        key_names = [a.key for a in self.key_attrs]
        schema = pa.schema([pa.field(a.key, a.dtype) for a in self.child.output])
        batches = [b for b in self.child.execute(ctx, partition) if b.num_rows]
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        if not key_names and table.num_rows == 0:
            yield self._empty_global_row()
            return
        if table.num_rows == 0:
            return
        merged = self._grouped(table, key_names, merge=True)
        columns = [merged.column(n) for n in key_names]
        k = 0
        for agg, attr in zip(self.aggs, self.agg_attrs, strict=True):
            spec = aggregates.lookup(agg.name)
            n = len(spec.merge)
            states = [merged.column(self.state_attrs[k + i].key).combine_chunks()
                      for i in range(n)]
            k += n
            columns.append(spec.finish(states, attr.dtype))
        out = pa.Table.from_arrays(columns, names=key_names + [a.key for a in self.agg_attrs])
        yield from table_batches(out)

    def _empty_global_row(self) -> pa.RecordBatch:
        arrays = []
        for agg, attr in zip(self.aggs, self.agg_attrs, strict=True):
            value = aggregates.lookup(agg.name).empty_value
            arrays.append(pa.array([value], attr.dtype))
        return pa.RecordBatch.from_arrays(arrays, names=[a.key for a in self.agg_attrs])
