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


# ---------------------------------------------------------------------------------------------
# External sort


MERGE_WINDOW_ROWS = 1 << 20


def sort_table(table: pa.Table, orders: Sequence[SortOrder]) -> pa.Table:
    keys = [evaluate(o.child, table) for o in orders]
    return table.take(order_indices(keys, orders, None if keys else pa.nulls(table.num_rows)))


# A sort buffer's rows and their sorted copy (``take``) are in memory together.
SORT_COPIES = 2


def external_sort(batches: Iterator[pa.RecordBatch], orders: Sequence[SortOrder],
                  schema: pa.Schema, ctx: TaskContext) -> Iterator[pa.Table]:
    """``batches`` sorted by ``orders``, in tables of bounded size.

    Batches are held while the task's memory grants twice their size (sorting a buffer makes a
    sorted copy of it, so it needs its own size again); when it says no, the held rows are
    sorted and spilled as a run. If anything was spilled, the runs are merged
    (`merge_runs`); otherwise the rows are sorted in memory, as before any spill.
    """
    memory = ctx.task_memory
    held: list[pa.RecordBatch] = []
    held_bytes = 0
    runs = []
    for batch in batches:
        if not batch.num_rows:
            continue
        if batch.schema != schema:
            batch = batch.cast(schema)
        cost = SORT_COPIES * batch.nbytes
        granted = memory.reserve(cost)
        if not granted and held:
            runs.append(ctx.spills.write(schema, [sort_table(pa.Table.from_batches(held), orders)]))
            held = []
            memory.release(held_bytes)
            held_bytes = 0
            granted = memory.reserve(cost)
        # A batch is held even when not granted: alone, it cannot be made smaller.
        if granted:
            held_bytes += cost
        held.append(batch)
    last = sort_table(pa.Table.from_batches(held, schema=schema), orders) if held else None
    if not runs:
        if last is not None and last.num_rows:
            yield last
        memory.release(held_bytes)
        return
    sources: list[Iterator[pa.RecordBatch]] = [r.read() for r in runs]
    if last is not None and last.num_rows:
        sources.append(iter(last.to_batches()))
    yield from merge_runs(sources, orders, schema)
    memory.release(held_bytes)


def merge_runs(runs: Sequence[Iterator[pa.RecordBatch]], orders: Sequence[SortOrder],
               schema: pa.Schema) -> Iterator[pa.Table]:
    """A k-way merge of sorted runs, by windows of batches rather than by rows.

    Each run has a head: its rows read but not yet emitted. The smallest of the heads' last
    rows is the *boundary*: every row not yet read from any run sorts at or after it, so all
    head rows up to the boundary can be emitted now. One vectorised sort of the heads plus the
    boundary (placed after rows equal to it) both selects and orders them; the run whose head
    ended at the boundary is then empty and reads its next batch. Nulls and NaN order exactly
    as `order_indices` orders them.
    """
    window = max(4096, MERGE_WINDOW_ROWS // max(1, len(runs)))
    iters = [_windows(r, window) for r in runs]
    heads: list[pa.Table | None] = [next(it, None) for it in iters]
    while True:
        live = [i for i, h in enumerate(heads) if h is not None]
        if not live:
            return
        if len(live) == 1:
            i = live[0]
            head = heads[i]
            while head is not None:
                yield head
                head = next(iters[i], None)
            return
        tables = [heads[i] for i in live]
        lasts = pa.concat_tables([t.slice(t.num_rows - 1, 1) for t in tables])  # type: ignore[union-attr]
        last_keys = [evaluate(o.child, lasts) for o in orders]
        smallest = order_indices(last_keys, orders)[0].as_py()
        combined = pa.concat_tables(tables)  # type: ignore[arg-type]
        n = combined.num_rows
        keys = [evaluate(o.child, combined) for o in orders]
        keys = [pa.concat_arrays([_array(k), _array(b).slice(smallest, 1)])
                for k, b in zip(keys, last_keys, strict=True)]
        marker = np.zeros(n + 1, dtype=np.int8)
        marker[n] = 1
        idx = order_indices(keys, orders, pa.array(marker)).to_numpy()
        cut = int(np.flatnonzero(idx == n)[0])
        taken = idx[:cut]
        yield combined.take(pa.array(taken))
        # Each head is sorted, so what it gave up is a prefix: drop that many rows.
        starts = np.cumsum([0] + [t.num_rows for t in tables])  # type: ignore[union-attr]
        counts = np.bincount(np.searchsorted(starts, taken, side="right") - 1,
                             minlength=len(tables))
        for j, i in enumerate(live):
            rest = tables[j].slice(int(counts[j]))  # type: ignore[union-attr]
            heads[i] = rest if rest.num_rows else next(iters[i], None)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _windows(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield pa.Table.from_batches([batch.slice(start, rows)])
