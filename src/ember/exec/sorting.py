"""Sort keys with Spark's semantics over Arrow, and range partitioning for global sorts.

A global sort samples its input for partition bounds (a separate small job, as Spark's
RangePartitioner does), sends each row to the range its key falls in, and sorts every range:
concatenated in order, the ranges are the sorted result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate
from ember.exec.operators import PhysicalOp
from ember.plan.expressions import AttributeReference, SortOrder


def order_indices(keys: Sequence[pa.Array], orders: Sequence[SortOrder],
                  tiebreak: pa.Array | None = None) -> pa.Array:
    """Indices sorting rows by ``keys`` (one array per order), then by ``tiebreak``.

    pyarrow places the nulls of all keys at once; a leading is-null key per column gives each
    key its own NULLS FIRST / NULLS LAST, as Spark allows.
    """
    sort_keys: list[tuple[str, str, str]] = []
    columns: dict[str, pa.Array] = {}
    for i, (values, order) in enumerate(zip(keys, orders, strict=True)):
        if values.null_count:
            columns[f"n{i}"] = pc.is_null(values)
            nulls_order = "descending" if order.effective_nulls_first else "ascending"
            sort_keys.append((f"n{i}", nulls_order, "at_end"))
        if pa.types.is_floating(values.type):
            # Spark orders NaN above every number; pyarrow puts it last in both directions.
            columns[f"nan{i}"] = pc.fill_null(pc.is_nan(values), False)
            sort_keys.append((f"nan{i}", "ascending" if order.ascending else "descending",
                              "at_end"))
        columns[f"k{i}"] = values
        sort_keys.append((f"k{i}", "ascending" if order.ascending else "descending", "at_end"))
    if tiebreak is not None:
        columns["tiebreak"] = tiebreak
        sort_keys.append(("tiebreak", "ascending", "at_end"))
    n = len(keys[0]) if keys else (len(tiebreak) if tiebreak is not None else 0)
    table = pa.table(columns) if columns else pa.table({"_": pa.nulls(n)})
    return pc.sort_indices(table, sort_keys=sort_keys)


def compute_bounds(sample: pa.Table, orders: Sequence[SortOrder], partitions: int) -> pa.Table:
    """``partitions - 1`` keys splitting the sample into ranges of equal size (fewer if the
    sample has fewer distinct keys)."""
    if sample.num_rows == 0 or partitions <= 1:
        return sample.slice(0, 0)
    idx = order_indices(sample.columns, orders).to_numpy()
    ordered = sample.take(pa.array(idx))
    picks = sorted({(ordered.num_rows * i) // partitions for i in range(1, partitions)})
    bounds = ordered.take(pa.array(picks, type=pa.int64()))
    # Equal neighbouring bounds would make empty ranges; keep the first of each run.
    if bounds.num_rows > 1:
        same = np.ones(bounds.num_rows, dtype=bool)
        for col in bounds.columns:
            a = col.combine_chunks()
            eq = pc.fill_null(pc.equal(a.slice(1), a.slice(0, len(a) - 1)), False)
            both_null = pc.and_(pc.is_null(a.slice(1)), pc.is_null(a.slice(0, len(a) - 1)))
            same[1:] &= np.asarray(pc.or_(eq, both_null))
        same[0] = False
        bounds = bounds.filter(pa.array(~same))
    return bounds


def range_partition_ids(keys: Sequence[pa.Array], orders: Sequence[SortOrder],
                        bounds: pa.Table) -> np.ndarray:
    """For each row, the number of bounds strictly before it: its range's index.

    Rows equal to a bound go to that bound's range. Sorting rows and bounds together (bounds
    after equal rows) gives every row's position among the bounds in one vectorised pass.
    """
    n = len(keys[0])
    if bounds.num_rows == 0:
        return np.zeros(n, dtype=np.int64)
    combined = [pa.concat_arrays([k.combine_chunks() if isinstance(k, pa.ChunkedArray) else k,
                                  b.combine_chunks().cast(k.type)])
                for k, b in zip(keys, bounds.columns, strict=True)]
    marker = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(bounds.num_rows, np.int8)])
    idx = order_indices(combined, orders, pa.array(marker)).to_numpy()
    bounds_before = np.cumsum(marker[idx])
    pids = np.empty(n, dtype=np.int64)
    is_row = idx < n
    pids[idx[is_row]] = bounds_before[is_row]
    return pids


@dataclass(frozen=True, eq=False)
class SampleKeysExec(PhysicalOp):
    """A uniform sample of up to ``k`` sort keys of each partition, for range bounds."""

    orders: tuple[SortOrder, ...]
    k: int
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return [AttributeReference(f"k{i}", o.child.dtype, True, expr_id=-(i + 1))
                for i, o in enumerate(self.orders)]

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        rng = np.random.default_rng(partition)
        names = [a.key for a in self.output]
        kept: pa.Table | None = None
        kept_priority = np.zeros(0)
        for batch in self.child.execute(ctx, partition):
            keys = pa.table([evaluate(o.child, batch) for o in self.orders], names=names)
            priority = rng.random(keys.num_rows)
            if kept is not None:
                keys = pa.concat_tables([kept, keys])
                priority = np.concatenate([kept_priority, priority])
            if keys.num_rows > self.k:
                chosen = np.sort(np.argpartition(priority, self.k)[: self.k])
                keys, priority = keys.take(pa.array(chosen)), priority[chosen]
            kept, kept_priority = keys, priority
        if kept is not None and kept.num_rows:
            yield from kept.to_batches()

    def simple_string(self) -> str:
        return f"SampleKeys(k={self.k})"
