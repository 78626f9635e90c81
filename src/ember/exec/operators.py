"""Physical operators over Arrow record batches.

Each operator's ``execute(ctx, partition)`` is a generator of record batches, and a stage's
operators chain into one pull-based pipeline per task: narrow operators are fused and nothing is
materialised between them (our analogue of whole-stage codegen). Columns inside batches are named
by ``AttributeReference.key`` (``name#id``), so duplicate user-facing names never collide.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate
from ember.plan.computed import RowPosition
from ember.plan.expressions import AttributeReference, Expression, SortOrder

TARGET_BATCH_ROWS = 1 << 20


def schema_of(attrs: Sequence[AttributeReference]) -> pa.Schema:
    return pa.schema([pa.field(a.key, a.dtype) for a in attrs])


def empty_batch(attrs: Sequence[AttributeReference]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], a.dtype) for a in attrs],
                                      names=[a.key for a in attrs])


def to_table(batches: Iterable[pa.RecordBatch], attrs: Sequence[AttributeReference]) -> pa.Table:
    items = [b for b in batches if b.num_rows]
    if not items:
        return schema_of(attrs).empty_table()
    return pa.Table.from_batches(items, schema=schema_of(attrs))


def table_batches(table: pa.Table, max_rows: int = TARGET_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    yield from (b for b in table.to_batches(max_chunksize=max_rows) if b.num_rows)


def rebatch(batches: Iterable[pa.RecordBatch], target: int) -> Iterator[pa.Table]:
    """Group small batches into tables of about ``target`` rows."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for b in batches:
        if not b.num_rows:
            continue
        pending.append(b)
        rows += b.num_rows
        if rows >= target:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


class PhysicalOp:
    children: tuple[PhysicalOp, ...] = ()

    @property
    def output(self) -> list[AttributeReference]:
        raise NotImplementedError

    def num_partitions(self, reduce_ranges: int) -> int:
        """Partitions given the number of coalesced reduce ranges of the stage's shuffle reads."""
        return self.children[0].num_partitions(reduce_ranges)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def with_children(self, children: Sequence[PhysicalOp]) -> PhysicalOp:
        return replace(self, **dict(zip(self._child_fields(), children, strict=True)))  # type: ignore[type-var]

    def _child_fields(self) -> list[str]:
        return ["child"] if hasattr(self, "child") else []

    def simple_string(self) -> str:
        return type(self).__name__

    def tree_string(self, stages: dict[int, int] | None = None) -> str:
        """The operator tree; ``stages`` maps ``id(op)`` to its stage, shown as ``*(n)``."""
        lines: list[str] = []
        self._lines(lines, "", "", stages or {})
        return "\n".join(lines)

    def _lines(self, lines: list[str], first: str, rest: str, stages: dict[int, int]) -> None:
        marker = f"*({stages[id(self)]}) " if id(self) in stages else ""
        lines.append(first + marker + self.simple_string())
        kids = self.children
        for i, c in enumerate(kids):
            last = i == len(kids) - 1
            c._lines(lines, rest + ("+- " if last else ":- "), rest + ("   " if last else ":  "),
                     stages)

    def for_task(self, partition: int) -> PhysicalOp:
        """A copy carrying only what ``partition`` needs (drops other partitions' local data)."""
        kids = [c.for_task(partition) for c in self.children]
        return self.with_children(kids) if kids else self


def _attrs_str(attrs: Sequence[AttributeReference]) -> str:
    from ember.plan.logical import attr_string

    return "[" + ", ".join(attr_string(a) for a in attrs) + "]"


def _expr_str(exprs: Sequence[Expression]) -> str:
    from ember.plan.logical import expr_string

    return "[" + ", ".join(expr_string(e) for e in exprs) + "]"


# ---------------------------------------------------------------------------------------------
# Leaves


@dataclass(frozen=True, eq=False)
class LocalScanExec(PhysicalOp):
    attrs: tuple[AttributeReference, ...]
    partitions: tuple[pa.Table | None, ...]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return len(self.partitions)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        table = self.partitions[partition]
        assert table is not None, "task was built for another partition"
        table = table.rename_columns([a.key for a in self.attrs])
        ctx.metrics.input_rows += table.num_rows
        yield from table_batches(table)

    def for_task(self, partition: int) -> PhysicalOp:
        parts = tuple(t if i == partition else None for i, t in enumerate(self.partitions))
        return replace(self, partitions=parts)

    def simple_string(self) -> str:
        return f"LocalTableScan {_attrs_str(self.attrs)}"


@dataclass(frozen=True, eq=False)
class RangeExec(PhysicalOp):
    start: int
    end: int
    step: int
    splits: int
    attr: AttributeReference

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    def num_partitions(self, reduce_ranges: int) -> int:
        return self.splits

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        total = max(0, -(-(self.end - self.start) // self.step))
        lo = total * partition // self.splits
        hi = total * (partition + 1) // self.splits
        for chunk in range(lo, hi, TARGET_BATCH_ROWS):
            idx = np.arange(chunk, min(hi, chunk + TARGET_BATCH_ROWS), dtype=np.int64)
            values = self.start + idx * self.step
            ctx.metrics.input_rows += len(values)
            yield pa.RecordBatch.from_arrays([pa.array(values)], names=[self.attr.key])

    def simple_string(self) -> str:
        return f"Range ({self.start}, {self.end}, step={self.step}, splits={self.splits})"


@dataclass(frozen=True, eq=False)
class ShuffleReadExec(PhysicalOp):
    """Reads this task's reduce range of a shuffle: the reduce side of an Exchange."""

    shuffle_id: int
    attrs: tuple[AttributeReference, ...]
    description: str = ""

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return reduce_ranges

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        start, end = ctx.reduce_ranges[partition]
        names = [a.key for a in self.attrs]
        for batch in ctx.read_shuffle(self.shuffle_id, start, end):
            yield batch.rename_columns(names) if batch.schema.names != names else batch

    def simple_string(self) -> str:
        return f"ShuffleQueryStage {self.shuffle_id}{self.description}"


@dataclass(frozen=True, eq=False)
class BroadcastReadExec(PhysicalOp):
    """The build side of a broadcast join: the whole broadcast table, in every partition."""

    broadcast_id: int
    attrs: tuple[AttributeReference, ...]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return 1

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        table = ctx.get_broadcast(self.broadcast_id)
        yield from table_batches(table.rename_columns([a.key for a in self.attrs]))

    def simple_string(self) -> str:
        return f"BroadcastQueryStage {self.broadcast_id}"


# ---------------------------------------------------------------------------------------------
# Narrow operators


@dataclass(frozen=True, eq=False)
class ProjectExec(PhysicalOp):
    exprs: tuple[Expression, ...]
    attrs: tuple[AttributeReference, ...]
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        names = [a.key for a in self.attrs]
        offset = 0
        for batch in self.child.execute(ctx, partition):
            position = RowPosition(partition, offset)
            arrays = [evaluate(e, batch, position=position) for e in self.exprs]
            offset += batch.num_rows
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    def simple_string(self) -> str:
        return f"Project {_expr_str(self.exprs)}"


@dataclass(frozen=True, eq=False)
class FilterExec(PhysicalOp):
    condition: Expression
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        offset = 0
        for batch in self.child.execute(ctx, partition):
            position = RowPosition(partition, offset)
            mask = pc.fill_null(evaluate(self.condition, batch, position=position), False)
            offset += batch.num_rows
            out = batch.filter(mask)
            if out.num_rows:
                yield out

    def simple_string(self) -> str:
        from ember.plan.logical import expr_string

        return f"Filter {expr_string(self.condition)}"


@dataclass(frozen=True, eq=False)
class LimitExec(PhysicalOp):
    n: int
    child: PhysicalOp
    is_global: bool = False

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        left = self.n
        if left <= 0:
            return
        for batch in self.child.execute(ctx, partition):
            if batch.num_rows >= left:
                yield batch.slice(0, left)
                return
            left -= batch.num_rows
            yield batch

    def simple_string(self) -> str:
        return f"{'Global' if self.is_global else 'Local'}Limit {self.n}"


def sort_indices(table: pa.Table, orders: Sequence[SortOrder]) -> pa.Array:
    """Indices that sort ``table`` by ``orders``, with Spark's per-key null placement."""
    from ember.exec.sorting import order_indices

    keys = [evaluate(order.child, table) for order in orders]
    return order_indices(keys, orders, None if keys else pa.nulls(table.num_rows))


@dataclass(frozen=True, eq=False)
class SortExec(PhysicalOp):
    orders: tuple[SortOrder, ...]
    child: PhysicalOp
    limit: int | None = None

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        from ember.exec.sorting import external_sort

        if self.limit is not None or not self.orders:
            table = to_table(self.child.execute(ctx, partition), self.output)
            if not table.num_rows:
                return
            idx = sort_indices(table, self.orders)
            if self.limit is not None:
                idx = idx.slice(0, self.limit)
            yield from table_batches(table.take(idx))
            return
        # The sort buffer is execution memory: past the task's share it spills sorted runs.
        for table in external_sort(self.child.execute(ctx, partition), self.orders,
                                   schema_of(self.output), ctx):
            yield from table_batches(table)

    def simple_string(self) -> str:
        head = f"TakeOrderedAndProject(limit={self.limit}, " if self.limit is not None else "Sort "
        return f"{head}{_expr_str(self.orders)}"


@dataclass(frozen=True, eq=False)
class UnionExec(PhysicalOp):
    inputs: tuple[PhysicalOp, ...]
    attrs: tuple[AttributeReference, ...]

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return self.inputs

    def _child_fields(self) -> list[str]:
        return []

    def with_children(self, children: Sequence[PhysicalOp]) -> PhysicalOp:
        return replace(self, inputs=tuple(children))

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return sum(c.num_partitions(reduce_ranges) for c in self.inputs)

    def _locate(self, partition: int, reduce_ranges: int) -> tuple[int, int]:
        for i, c in enumerate(self.inputs):
            n = c.num_partitions(reduce_ranges)
            if partition < n:
                return i, partition
            partition -= n
        msg = f"partition {partition} is out of range for this union"
        raise IndexError(msg)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        i, p = self._locate(partition, len(ctx.reduce_ranges))
        names = [a.key for a in self.attrs]
        for batch in self.inputs[i].execute(ctx, p):
            arrays = [col.cast(a.dtype) if col.type != a.dtype else col
                      for col, a in zip(batch.columns, self.attrs, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    def for_task(self, partition: int) -> PhysicalOp:
        # Which child serves the partition depends on runtime counts; keep all children.
        return self

    def simple_string(self) -> str:
        return "Union"


@dataclass(frozen=True, eq=False)
class CoalesceExec(PhysicalOp):
    """``coalesce(n)``: merges neighbouring partitions without a shuffle."""

    n: int
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def num_partitions(self, reduce_ranges: int) -> int:
        return max(1, min(self.n, self.child.num_partitions(reduce_ranges)))

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        total = self.child.num_partitions(len(ctx.reduce_ranges))
        n = self.num_partitions(len(ctx.reduce_ranges))
        for p in range(total * partition // n, total * (partition + 1) // n):
            yield from self.child.execute(ctx, p)

    def for_task(self, partition: int) -> PhysicalOp:
        return self

    def simple_string(self) -> str:
        return f"Coalesce {self.n}"
