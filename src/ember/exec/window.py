"""``WindowExec``: window functions over whole columns of a task's sorted rows.

The planner hash-partitions the input on the window's partition keys, so each window partition
lies whole inside one task. The operator sorts the task's rows by (partition keys, order keys)
with the spilling external sort, and cuts the sorted stream into buffers of whole window
partitions (`whole_partitions`) whose size is reserved as execution memory, as Spark's
WindowExec fills its spillable buffer one window partition at a time. In each buffer it finds
where each window partition and each peer group (rows with equal order keys) starts and ends.
Every function is then computed over whole columns, with no Python code per row:

- ranks from those boundaries and running counts of peer-group starts;
- ``lag``/``lead`` by shifting row indices, inside the partition;
- each row's frame as a half-open range of row indices ``[lo, hi)``: offsets added to the row
  number for ``ROWS``, binary searches over the ordering value for ``RANGE``;
- ``count``/``sum``/``avg`` over a frame as differences of prefix sums (per-partition running
  sums for doubles, so that a running frame adds up exactly as Spark does);
- ``min``/``max`` on dense codes of the values: a grouped running maximum for running frames,
  a sparse table of power-of-two maxima for sliding ones;
- ``first``/``last`` at the frame's ends, or at the next (previous) non-null row;
- any other aggregate once per window partition (the analyzer allows it only over frames that
  cover the whole partition), by the engine's own hash aggregation grouped by partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.aggregate import HashAggregateExec, state_types
from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate, normalize_floats
from ember.exec.operators import PhysicalOp, schema_of, table_batches, to_table
from ember.exec.sorting import external_sort, order_indices
from ember.exec.spill import Reservations
from ember.plan import aggregates
from ember.plan.expressions import (
    AggregateCall,
    Alias,
    AttributeReference,
    Expression,
    Literal,
    SortOrder,
    to_attribute,
)
from ember.plan.window import (
    FRAME_AGGREGATES,
    WindowExpression,
    WindowFrame,
    WindowFunction,
    window_string,
)

# Bounded ROWS frames up to this many rows add doubles up directly, value by value, as Spark
# does; wider ones use differences of per-partition running sums.
DIRECT_SUM_MAX_ROWS = 64

# A buffer of whole window partitions is computed once it holds this many rows, or sooner when
# the task's execution memory no longer grants its growth.
BUFFER_ROWS = 1 << 20


@dataclass(frozen=True, eq=False)
class WindowExec(PhysicalOp):
    """The child's rows, sorted by ``partition`` then ``orders``, plus one column per window
    expression (each an ``Alias`` of a resolved ``WindowExpression``)."""

    window_exprs: tuple[Expression, ...]
    partition: tuple[Expression, ...]
    orders: tuple[SortOrder, ...]
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output + [to_attribute(e) for e in self.window_exprs]

    def simple_string(self) -> str:
        return window_string(self.window_exprs, self.partition, self.orders)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        names = [a.key for a in self.output]
        sorted_rows = self._sorted(ctx, partition)
        for buffer in whole_partitions(sorted_rows, self.partition, ctx.task_memory,
                                       max_rows=BUFFER_ROWS):
            out = compute_window(buffer, self.window_exprs, self.partition, self.orders,
                                 ctx=ctx, presorted=True)
            yield from table_batches(out.rename_columns(names))

    def _sorted(self, ctx: TaskContext, partition: int) -> Iterator[pa.Table]:
        """The task's rows by partition keys (ascending, nulls first) then the window's orders:
        the sort buffer is execution memory and spills sorted runs past the task's share."""
        batches = self.child.execute(ctx, partition)
        orders = [SortOrder(p) for p in self.partition] + list(self.orders)
        if not orders:
            # One window partition in no particular order: there is nothing to sort.
            return (pa.Table.from_batches([b]) for b in batches if b.num_rows)
        # Spark normalises float partition keys (-0.0 as 0.0, one NaN); Arrow's sort already
        # places those values together, and `key_changes` compares them as equal.
        return external_sort(batches, orders, schema_of(self.child.output), ctx)


def whole_partitions(tables: Iterable[pa.Table], partition: Sequence[Expression],
                     memory: Reservations, *, max_rows: int) -> Iterator[pa.Table]:
    """Rows sorted by ``partition`` (first), regrouped into tables of whole window partitions.

    The rows gather in a buffer whose Arrow size is reserved as execution memory as it grows.
    Once the buffer holds ``max_rows`` rows, or memory denies its growth, every row before its
    last window partition (which may continue in the rows still to come) is yielded; the memory
    of a yielded table stays reserved until the next one is asked for.

    A window partition is never cut: one larger than what memory grants is gathered and
    yielded whole, its memory reserved as far as it goes. Spark's buffer would spill such a
    partition to disk and read it back frame by frame; here every function is computed over
    the partition's whole columns at once, so they must all be in memory together.
    """
    held: list[pa.Table] = []
    held_rows = 0
    cut = 0  # where the last window partition that began in ``held`` starts
    reserved = 0
    last: list[pa.Array] = []  # the partition keys of the last row held
    try:
        for table in tables:
            for start in range(0, table.num_rows, max_rows):
                chunk = table.slice(start, max_rows)
                n = chunk.num_rows
                keys = [normalize_floats(evaluate(p, chunk)) for p in partition]
                if held_rows:
                    joined = [pa.concat_arrays([a, k]) for a, k in zip(last, keys, strict=True)]
                    starts = np.flatnonzero(key_changes(joined, n + 1)[1:])
                else:
                    starts = np.flatnonzero(key_changes(keys, n))
                if len(starts):
                    cut = held_rows + int(starts[-1])
                held.append(chunk)
                held_rows += n
                last = [k.slice(n - 1) for k in keys]
                granted = memory.reserve(chunk.nbytes)
                reserved += chunk.nbytes if granted else 0
                if (granted and held_rows < max_rows) or cut == 0:
                    continue
                buffer = pa.concat_tables(held)
                yield buffer.slice(0, cut)
                memory.release(reserved)
                rest = buffer.slice(cut)
                held, held_rows, cut = [rest], rest.num_rows, 0
                reserved = rest.nbytes if memory.reserve(rest.nbytes) else 0
        if held_rows:
            yield pa.concat_tables(held)
    finally:
        memory.release(reserved)


def compute_window(table: pa.Table, window_exprs: Sequence[Expression],
                   partition: Sequence[Expression], orders: Sequence[SortOrder], *,
                   ctx: TaskContext | None = None, presorted: bool = False) -> pa.Table:
    """``table`` sorted by ``partition`` and ``orders``, with one column appended per window
    expression. ``ctx`` is the running task's, for aggregates computed by hash aggregation;
    ``presorted`` says the rows already come in that order, so they are not sorted again."""
    part_keys = [normalize_floats(evaluate(p, table)) for p in partition]
    order_keys = [evaluate(o.child, table) for o in orders]
    keys = part_keys + order_keys
    if keys and not presorted:
        sort_orders = [SortOrder(p) for p in partition] + list(orders)
        idx = order_indices(keys, sort_orders)
        table = table.take(idx)
        part_keys = [k.take(idx) for k in part_keys]
        order_keys = [k.take(idx) for k in order_keys]
    table = table.combine_chunks()
    layout = Layout.of(table.num_rows, part_keys, order_keys)
    columns = list(table.columns)
    names = list(table.column_names)
    for i, named in enumerate(window_exprs):
        expr = named.child if isinstance(named, Alias) else named
        assert isinstance(expr, WindowExpression)
        values = _compute(expr, table, layout, order_keys, orders, ctx)
        if values.type != expr.dtype:
            values = values.cast(expr.dtype)
        columns.append(values)
        names.append(f"_w{i}")
    return pa.Table.from_arrays(columns, names=names)


# ---------------------------------------------------------------------------------------------
# Partitions and peers


@dataclass(frozen=True)
class Layout:
    """Where each row's window partition and peer group begin and end (exclusive), for rows in
    sorted order."""

    n: int
    group_id: np.ndarray
    group_starts: np.ndarray  # one entry per window partition
    group_start: np.ndarray  # one entry per row, like the rest
    group_end: np.ndarray
    peer_start: np.ndarray
    peer_end: np.ndarray

    @staticmethod
    def of(n: int, part_keys: Sequence[pa.Array], order_keys: Sequence[pa.Array]) -> Layout:
        new_group = key_changes(part_keys, n)
        new_peer = new_group | key_changes(order_keys, n)
        group_id, group_starts, group_start, group_end = _runs(new_group, n)
        _, _, peer_start, peer_end = _runs(new_peer, n)
        return Layout(n, group_id, group_starts, group_start, group_end, peer_start, peer_end)

    @property
    def row(self) -> np.ndarray:
        return np.arange(self.n, dtype=np.int64)


def _runs(starts_mask: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    run_id = np.cumsum(starts_mask, dtype=np.int64) - 1
    starts = np.flatnonzero(starts_mask).astype(np.int64)
    ends = np.append(starts[1:], n).astype(np.int64)
    return run_id, starts, starts[run_id], ends[run_id]


def key_changes(keys: Sequence[pa.Array], n: int) -> np.ndarray:
    """For sorted rows, True where the row's keys differ from the previous row's (always for
    the first row). Nulls equal nulls and NaN equals NaN, as in Spark's grouping."""
    out = np.zeros(n, dtype=bool)
    if n:
        out[0] = True
    if n < 2:
        return out
    for key in keys:
        prev, cur = key.slice(0, n - 1), key.slice(1)
        same = pc.fill_null(pc.equal(prev, cur), False)
        same = pc.or_(same, pc.and_(pc.is_null(prev), pc.is_null(cur)))
        if pa.types.is_floating(key.type):
            both_nan = pc.fill_null(pc.and_(pc.is_nan(prev), pc.is_nan(cur)), False)
            same = pc.or_(same, both_nan)
        out[1:] |= ~_np_bool(same)
    return out


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return _np_bool(pc.is_valid(arr))


def _prefix(values: np.ndarray) -> np.ndarray:
    """``out[i]`` is the sum of ``values[:i]``."""
    out = np.zeros(len(values) + 1, dtype=np.result_type(values.dtype, np.int64))
    np.cumsum(values, out=out[1:])
    return out


def _take(values: pa.Array, idx: np.ndarray, valid: np.ndarray) -> pa.Array:
    """``values[idx]``, null where ``valid`` is False."""
    taken = values.take(pa.array(np.where(valid, idx, 0), pa.int64()))
    if valid.all():
        return taken
    return pc.if_else(pa.array(valid), taken, pa.nulls(len(idx), values.type))


# ---------------------------------------------------------------------------------------------
# Dispatch


def _compute(expr: WindowExpression, table: pa.Table, layout: Layout,
             order_keys: Sequence[pa.Array], orders: Sequence[SortOrder],
             ctx: TaskContext | None) -> pa.Array:
    fn, frame = expr.function, expr.spec.frame
    assert frame is not None
    if isinstance(fn, WindowFunction):
        if fn.name in ("lag", "lead"):
            return _offset(fn, table, layout)
        return _ranking(fn, layout)
    assert isinstance(fn, AggregateCall)
    lo, hi = frame_bounds(frame, layout, order_keys[0] if order_keys else None,
                          orders[0] if orders else None)
    return _aggregate(fn, table, layout, frame, lo, hi, ctx)


def _ranking(fn: WindowFunction, layout: Layout) -> pa.Array:
    row, gs = layout.row, layout.group_start
    size = layout.group_end - gs
    if fn.name == "row_number":
        return pa.array((row - gs + 1).astype(np.int32))
    rank = layout.peer_start - gs + 1
    if fn.name == "rank":
        return pa.array(rank.astype(np.int32))
    if fn.name == "dense_rank":
        peer_starts = np.cumsum(layout.peer_start == row, dtype=np.int64)
        return pa.array((peer_starts - peer_starts[gs] + 1).astype(np.int32))
    if fn.name == "percent_rank":
        denominator = np.maximum(size - 1, 1).astype(np.float64)
        return pa.array(np.where(size > 1, (rank - 1) / denominator, 0.0))
    if fn.name == "cume_dist":
        return pa.array((layout.peer_end - gs) / size.astype(np.float64))
    if fn.name == "ntile":
        buckets = fn.args[0]
        assert isinstance(buckets, Literal)
        return pa.array(ntile(row - gs, size, buckets.value).astype(np.int32))
    msg = f"unknown window function {fn.name}"
    raise ValueError(msg)


def ntile(position: np.ndarray, size: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket (from 1) of the row at ``position`` in a partition of ``size`` rows: buckets
    differ in size by at most one row, and the first ``size % buckets`` are the larger ones."""
    small = size // buckets
    extra = size % buckets
    in_large = extra * (small + 1)
    large_bucket = position // (small + 1)
    small_bucket = extra + (position - in_large) // np.maximum(small, 1)
    return np.where(position < in_large, large_bucket, small_bucket) + 1


def _offset(fn: WindowFunction, table: pa.Table, layout: Layout) -> pa.Array:
    value_expr, offset, default_expr = fn.args
    assert isinstance(offset, Literal)
    shift = -offset.value if fn.name == "lag" else offset.value
    source = layout.row + shift
    inside = (source >= layout.group_start) & (source < layout.group_end)
    values = evaluate(value_expr, table)
    shifted = values.take(pa.array(np.where(inside, source, 0), pa.int64()))
    if inside.all():
        return shifted
    default = evaluate(default_expr, table)
    return pc.if_else(pa.array(inside), shifted, default.cast(values.type))


# ---------------------------------------------------------------------------------------------
# Frames


def frame_bounds(frame: WindowFrame, layout: Layout, order_key: pa.Array | None,
                 order: SortOrder | None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's frame as row indices ``[lo, hi)`` (``lo == hi`` for an empty frame), never
    outside the row's window partition."""
    gs, ge, row = layout.group_start, layout.group_end, layout.row
    if frame.is_rows:
        lo = gs if frame.lower is None else np.clip(row + int(frame.lower), gs, ge)
        hi = ge if frame.upper is None else np.clip(row + int(frame.upper) + 1, gs, ge)
    else:
        search = None
        if frame.lower not in (None, 0) or frame.upper not in (None, 0):
            assert order_key is not None and order is not None
            search = _RangeSearch(order_key, order, layout)
        if frame.lower is None:
            lo = gs
        elif frame.lower == 0:
            lo = layout.peer_start
        else:
            assert search is not None
            lo = search.lower(frame.lower)
        if frame.upper is None:
            hi = ge
        elif frame.upper == 0:
            hi = layout.peer_end
        else:
            assert search is not None
            hi = search.upper(frame.upper)
    return lo, np.maximum(hi, lo)


class _RangeSearch:
    """Frame bounds at value offsets from the current row's ordering value.

    With descending order, "preceding" rows hold larger values, so the search runs over the
    negated values. A row whose value is null has the null rows as its frame (they are its
    peers, and null plus an offset is null); other rows never reach the null rows by an offset.
    """

    def __init__(self, key: pa.Array, order: SortOrder, layout: Layout) -> None:
        valid = _valid(key)
        integral = pa.types.is_integer(key.type)
        numeric = key.cast(pa.int64() if integral else pa.float64())
        w = pc.fill_null(numeric, 0).to_numpy(zero_copy_only=False)
        self.w = w if order.ascending else -w
        self.valid = valid
        # The non-null rows of each window partition: after or before its null rows.
        null_counts = np.add.reduceat((~valid).astype(np.int64), layout.group_starts)
        nulls = null_counts[layout.group_id]
        if order.effective_nulls_first:
            self.start, self.end = layout.group_start + nulls, layout.group_end
        else:
            self.start, self.end = layout.group_start, layout.group_end - nulls
        self.layout = layout

    def lower(self, offset: float) -> np.ndarray:
        found = _search(self.w, self.start, self.end, self.w + offset, strict=False)
        return np.where(self.valid, found, self.layout.peer_start)

    def upper(self, offset: float) -> np.ndarray:
        found = _search(self.w, self.start, self.end, self.w + offset, strict=True)
        return np.where(self.valid, found, self.layout.peer_end)


def _search(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray, *,
            strict: bool) -> np.ndarray:
    """For each row, the first index in ``[lo, hi)`` whose value is ``>= target`` (``> target``
    if ``strict``), or ``hi``: a binary search run for all rows at once over ascending runs."""
    lo, hi = lo.copy(), hi.copy()
    last = len(w) - 1
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) >> 1
        probe = w[np.minimum(mid, last)]
        right = (probe <= target) if strict else (probe < target)
        right &= active
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


# ---------------------------------------------------------------------------------------------
# Aggregates over frames


def _aggregate(call: AggregateCall, table: pa.Table, layout: Layout, frame: WindowFrame,
               lo: np.ndarray, hi: np.ndarray, ctx: TaskContext | None) -> pa.Array:
    name = aggregates.lookup(call.name).name
    if name == "count":
        valid = np.ones(layout.n, dtype=bool)
        for a in call.args:
            valid &= _valid(evaluate(a, table))
        counts = _prefix(valid)
        return pa.array(counts[hi] - counts[lo], pa.int64())
    if name not in FRAME_AGGREGATES:
        return _per_partition(call, table, layout, ctx)
    values = evaluate(call.args[0], table)
    if name == "sum":
        return frame_sums(values.cast(call.dtype), lo, hi, layout, frame)[0]
    if name == "avg":
        # Spark averages numbers as doubles, and decimals as decimals with room for the sum.
        t = values.type
        wide = pa.decimal128(38, t.scale) if pa.types.is_decimal(t) else pa.float64()
        sums, counts = frame_sums(values.cast(wide), lo, hi, layout, frame)
        means = pc.divide(sums.cast(pa.float64()), pa.array(counts, pa.float64()))
        return means.cast(call.dtype)
    if name in ("min", "max"):
        return frame_extreme(values, lo, hi, layout, largest=name == "max")
    return _frame_end(values, lo, hi, first=name.startswith("first"),
                      ignore_nulls=name.endswith("ignore_nulls"))


def frame_sums(values: pa.Array, lo: np.ndarray, hi: np.ndarray, layout: Layout,
               frame: WindowFrame) -> tuple[pa.Array, np.ndarray]:
    """The sum of the non-null values in each row's frame, null where there are none, and how
    many there are. Integers add up in int64, wrapping on overflow as Spark's longs do."""
    valid = _valid(values)
    counts = _prefix(valid)
    count = counts[hi] - counts[lo]
    empty = count == 0
    t = values.type
    if pa.types.is_decimal(t):
        return _decimal_sums(values, valid, lo, hi, empty), count
    if pa.types.is_floating(t):
        return pa.array(_double_sums(values, lo, hi, layout, frame), t, mask=empty), count
    ints = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    prefix = _prefix(ints)
    return pa.array(prefix[hi] - prefix[lo], t, mask=empty).cast(t), count


def _double_sums(values: pa.Array, lo: np.ndarray, hi: np.ndarray, layout: Layout,
                 frame: WindowFrame) -> np.ndarray:
    x = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    nan, pos_inf, neg_inf = np.isnan(x), x == np.inf, x == -np.inf
    finite = np.where(nan | pos_inf | neg_inf, 0.0, x)
    bounded = frame.is_rows and frame.lower is not None and frame.upper is not None
    if bounded and 0 <= int(frame.upper) - int(frame.lower) < DIRECT_SUM_MAX_ROWS:  # type: ignore[arg-type]
        sums = np.zeros(layout.n)
        for k in range(int(frame.lower), int(frame.upper) + 1):  # type: ignore[arg-type]
            source = layout.row + k
            inside = (source >= lo) & (source < hi)
            sums += np.where(inside, finite[np.clip(source, 0, layout.n - 1)], 0.0)
    else:
        running = _grouped_cumsum(finite, layout)
        before = np.where(lo > layout.group_start, running[np.maximum(lo - 1, 0)], 0.0)
        sums = np.where(hi > lo, running[np.maximum(hi - 1, 0)] - before, 0.0)
    # Non-finite values as Spark's sequential addition treats them: NaN, or +inf and -inf
    # together, give NaN; otherwise an infinity wins.
    any_nan = _count_in(nan, lo, hi) > 0
    any_pos, any_neg = _count_in(pos_inf, lo, hi) > 0, _count_in(neg_inf, lo, hi) > 0
    sums = np.where(any_pos, np.inf, sums)
    sums = np.where(any_neg, -np.inf, sums)
    return np.where(any_nan | (any_pos & any_neg), np.nan, sums)


def _grouped_cumsum(values: np.ndarray, layout: Layout) -> np.ndarray:
    """Running sums that restart at every window partition, added in row order."""
    import pandas as pd

    return pd.Series(values).groupby(layout.group_id, sort=False).cumsum().to_numpy()


def _count_in(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    prefix = _prefix(mask)
    return prefix[hi] - prefix[lo]


def _decimal_sums(values: pa.Array, valid: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  empty: np.ndarray) -> pa.Array:
    # Unscaled values as Python integers in object arrays: exact at every precision.
    unscaled = np.where(valid, _decimal_unscaled(values), 0)
    prefix = np.concatenate([np.array([0], dtype=object), np.cumsum(unscaled)])
    return _decimal_from_unscaled(prefix[hi] - prefix[lo], values.type, empty)


def _decimal_unscaled(values: pa.Array) -> np.ndarray:
    words = np.frombuffer(values.buffers()[1], dtype=np.uint64)
    words = words[2 * values.offset: 2 * (values.offset + len(values))]
    low = words[0::2].astype(object)
    high = words[1::2].view(np.int64).astype(object)
    return (high << 64) + low


def _decimal_from_unscaled(unscaled: np.ndarray, t: pa.DataType, mask: np.ndarray) -> pa.Array:
    unscaled = np.where(mask, 0, unscaled)
    low = (unscaled & ((1 << 64) - 1)).astype(np.uint64)
    high = (unscaled >> 64).astype(np.int64)
    words = np.empty(2 * len(unscaled), dtype=np.uint64)
    words[0::2], words[1::2] = low, high.view(np.uint64)
    validity = pa.array(~mask).buffers()[1] if mask.any() else None
    return pa.Array.from_buffers(t, len(unscaled), [validity, pa.py_buffer(words.tobytes())])


def frame_extreme(values: pa.Array, lo: np.ndarray, hi: np.ndarray, layout: Layout, *,
                  largest: bool) -> pa.Array:
    """The largest (smallest) non-null value of each row's frame, in Spark's ordering (NaN above
    every other double); null where the frame holds none."""
    codes, representative = dense_codes(values)
    if not largest:
        # A larger code for a smaller value; nulls stay at -1, below every code.
        codes = np.where(codes >= 0, len(representative) - 1 - codes, -1)
    best = _frame_max(codes, lo, hi, layout)
    found = best >= 0
    if not largest:
        best = np.where(found, len(representative) - 1 - best, -1)
    index = representative[np.where(found, best, 0)] if len(representative) else best
    return _take(values, index, found)


def dense_codes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A code per row that orders as the values do (equal values share one, nulls get -1), and
    for each code the index of one row holding it."""
    n = len(values)
    valid = _valid(values)
    order = pc.sort_indices(pa.table({"v": values}), sort_keys=[("v", "ascending", "at_end")])
    order = order.to_numpy(zero_copy_only=False)[: int(valid.sum())]
    ordered = values.take(pa.array(order, pa.int64()))
    sorted_codes = np.cumsum(key_changes([ordered], len(order)), dtype=np.int64) - 1
    codes = np.full(n, -1, dtype=np.int64)
    codes[order] = sorted_codes
    representative = np.zeros(int(sorted_codes[-1]) + 1 if len(order) else 0, dtype=np.int64)
    representative[sorted_codes] = order
    return codes, representative


def _frame_max(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, layout: Layout) -> np.ndarray:
    """The largest code in each row's frame; -1 for an empty frame."""
    empty = hi <= lo
    if not len(codes):
        return codes
    if np.array_equal(lo, layout.group_start) and np.array_equal(hi, layout.group_end):
        per_group = np.maximum.reduceat(codes, layout.group_starts)
        return np.where(empty, -1, per_group[layout.group_id])
    if np.array_equal(lo, layout.group_start):
        # A running maximum that restarts per partition: lift each partition above the ones
        # before it, so one accumulate over all rows never carries a value across.
        lift = layout.group_id * (int(codes.max()) + 2)
        running = np.maximum.accumulate(codes + lift) - lift
        return np.where(empty, -1, running[np.maximum(hi - 1, 0)])
    return np.where(empty, -1, _sparse_table_max(codes, lo, np.maximum(hi, lo + 1)))


def _sparse_table_max(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Range maxima over ``[lo, hi)`` (never empty) from maxima of power-of-two spans."""
    n = len(codes)
    hi = np.minimum(hi, n)
    lo = np.minimum(lo, hi - 1)
    length = hi - lo
    levels = [codes]
    span = 1
    while span * 2 <= int(length.max()):
        prev = levels[-1]
        shifted = np.concatenate([prev[span:], np.full(span, -1, dtype=prev.dtype)])
        levels.append(np.maximum(prev, shifted))
        span *= 2
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.full(n, -1, dtype=np.int64)
    for k, table in enumerate(levels):
        rows = np.flatnonzero(level == k)
        if len(rows):
            out[rows] = np.maximum(table[lo[rows]], table[hi[rows] - (1 << k)])
    return out


def _frame_end(values: pa.Array, lo: np.ndarray, hi: np.ndarray, *, first: bool,
               ignore_nulls: bool) -> pa.Array:
    n = len(values)
    nonempty = hi > lo
    if not ignore_nulls:
        index = lo if first else hi - 1
        return _take(values, np.clip(index, 0, max(n - 1, 0)), nonempty)
    valid = _valid(values)
    rows = np.arange(n, dtype=np.int64)
    if first:
        # The first non-null row at or after each row (n if none).
        next_valid = np.minimum.accumulate(np.where(valid, rows, n)[::-1])[::-1]
        index = np.append(next_valid, n)[lo]
        found = nonempty & (index < hi)
    else:
        # The last non-null row at or before each row (-1 if none).
        prev_valid = np.maximum.accumulate(np.where(valid, rows, -1))
        index = prev_valid[np.clip(hi - 1, 0, max(n - 1, 0))]
        found = nonempty & (index >= lo)
    return _take(values, np.clip(index, 0, max(n - 1, 0)), found)


def _per_partition(call: AggregateCall, table: pa.Table, layout: Layout,
                   ctx: TaskContext | None) -> pa.Array:
    """Any other aggregate, over frames that the analyzer made sure cover whole partitions: the
    engine's own hash aggregation grouped by window partition, spread back over the rows."""
    group = AttributeReference("_group", pa.int64())
    args = tuple(AttributeReference(f"_arg{i}", a.dtype) for i, a in enumerate(call.args))
    local = AggregateCall(call.name, args, call.distinct)
    data = pa.table([pa.array(layout.group_id)] + [evaluate(a, table) for a in call.args],
                    names=[group.key] + [a.key for a in args])
    states = tuple(AttributeReference(f"_state{i}", t, True)
                   for i, t in enumerate(state_types(local)))
    result = AttributeReference("_result", call.dtype, True)
    partial = HashAggregateExec("partial", (group,), (group,), (local,), states, (result,),
                                _TableSource((group, *args), data))
    final = HashAggregateExec("final", (group,), (group,), (local,), states, (result,), partial)
    out = to_table(final.execute(ctx, 0), final.output)  # type: ignore[arg-type]
    slot = np.empty(len(layout.group_starts), dtype=np.int64)
    slot[out.column(group.key).to_numpy()] = np.arange(out.num_rows)
    return out.column(result.key).combine_chunks().take(pa.array(slot[layout.group_id]))


@dataclass(frozen=True, eq=False)
class _TableSource(PhysicalOp):
    """A table already in memory, as the input of an operator run inside this one."""

    attrs: tuple[AttributeReference, ...]
    table: pa.Table

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        yield from table_batches(self.table)
