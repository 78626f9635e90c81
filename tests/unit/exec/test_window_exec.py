"""``WindowExec`` on hand-built inputs, with expectations worked out by hand (and, for sliding
frames over random data, by a direct per-row computation)."""

from __future__ import annotations

import decimal
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ember.exec import window
from ember.exec.context import TaskContext
from ember.exec.operators import LocalScanExec, to_table
from ember.exec.window import Layout, WindowExec, _per_partition, ntile, whole_partitions
from ember.executor.memory import UnifiedMemoryManager
from ember.executor.memory_pool import MemoryPool, TaskMemory
from ember.plan.expressions import AggregateCall, Alias, AttributeReference, Literal, SortOrder
from ember.plan.window import (
    RANGE_TO_CURRENT,
    ROWS_TO_CURRENT,
    WHOLE_PARTITION,
    WindowExpression,
    WindowFrame,
    WindowFunction,
    WindowSpecDefinition,
)


def _ctx() -> TaskContext:
    def no_io(*_: object) -> pa.Table:
        raise AssertionError("this task reads no shuffle or broadcast")

    return TaskContext(0, 0, 0, 0, "test", Path("."), no_io, no_io)  # type: ignore[arg-type]


class Frame:
    """A table with attributes to build window expressions over."""

    def __init__(self, **columns: pa.Array | list) -> None:
        self.table = pa.table(columns)
        self.attrs = {n: AttributeReference(n, self.table.schema.field(n).type)
                      for n in self.table.column_names}

    def __getitem__(self, name: str) -> AttributeReference:
        return self.attrs[name]

    def run(self, functions: dict[str, tuple[object, WindowFrame]], *,
            partition: tuple[str, ...] = (), orders: tuple[SortOrder, ...] = ()) -> list[dict]:
        keys = tuple(self.attrs[p] for p in partition)
        named = tuple(
            Alias(WindowExpression(fn, WindowSpecDefinition(keys, orders, frame)), name)  # type: ignore[arg-type]
            for name, (fn, frame) in functions.items())
        scan = LocalScanExec(tuple(self.attrs.values()), (self.table,))
        op = WindowExec(named, keys, orders, scan)
        out = to_table(op.execute(_ctx(), 0), op.output)
        return out.rename_columns([a.name for a in op.output]).to_pylist()


def asc(attr: AttributeReference) -> SortOrder:
    return SortOrder(attr, True, None)


def desc(attr: AttributeReference) -> SortOrder:
    return SortOrder(attr, False, None)


def rank_fn(name: str, *args: object) -> WindowFunction:
    return WindowFunction(name, tuple(Literal(a, pa.int32()) for a in args))


def agg(name: str, attr: AttributeReference) -> AggregateCall:
    return AggregateCall(name, (attr,))


def column(rows: list[dict], name: str) -> list:
    return [r[name] for r in rows]


# ---------------------------------------------------------------------------------------------
# Ranking


def test_ranking_functions_give_ties_the_same_rank_and_row_numbers_distinct() -> None:
    f = Frame(k=["a", "a", "a", "a", "b", "b"], v=[30, 10, 20, 20, 5, 5])
    rows = f.run({n: (rank_fn(n), ROWS_TO_CURRENT) for n in
                  ("row_number", "rank", "dense_rank", "percent_rank")} |
                 {"cume_dist": (rank_fn("cume_dist"), RANGE_TO_CURRENT)},
                 partition=("k",), orders=(asc(f["v"]),))
    assert [(r["k"], r["v"]) for r in rows] == [("a", 10), ("a", 20), ("a", 20), ("a", 30),
                                                 ("b", 5), ("b", 5)]
    assert column(rows, "row_number") == [1, 2, 3, 4, 1, 2]
    assert column(rows, "rank") == [1, 2, 2, 4, 1, 1]
    assert column(rows, "dense_rank") == [1, 2, 2, 3, 1, 1]
    assert column(rows, "percent_rank") == [0.0, 1 / 3, 1 / 3, 1.0, 0.0, 0.0]
    assert column(rows, "cume_dist") == [0.25, 0.75, 0.75, 1.0, 1.0, 1.0]


def test_percent_rank_is_zero_in_a_one_row_partition() -> None:
    f = Frame(k=[1, 2, 2], v=[7, 1, 2])
    rows = f.run({"pr": (rank_fn("percent_rank"), ROWS_TO_CURRENT)},
                 partition=("k",), orders=(asc(f["v"]),))
    assert column(rows, "pr") == [0.0, 0.0, 1.0]


def test_ntile_gives_the_remainder_rows_to_the_first_buckets() -> None:
    f = Frame(k=[1] * 7 + [2] * 2, v=list(range(9)))
    rows = f.run({"t3": (rank_fn("ntile", 3), ROWS_TO_CURRENT),
                  "t4": (rank_fn("ntile", 4), ROWS_TO_CURRENT)},
                 partition=("k",), orders=(asc(f["v"]),))
    assert column(rows, "t3") == [1, 1, 1, 2, 2, 3, 3, 1, 2]
    assert column(rows, "t4") == [1, 1, 2, 2, 3, 3, 4, 1, 2]


@pytest.mark.parametrize("size", [1, 2, 5, 7, 10, 23])
@pytest.mark.parametrize("buckets", [1, 2, 3, 4, 10, 30])
def test_ntile_bucket_sizes_differ_by_at_most_one_and_shrink(size: int, buckets: int) -> None:
    got = ntile(np.arange(size), np.full(size, size), buckets)
    counts = np.bincount(got)[1:]
    assert got.min() == 1 and got.max() == min(size, buckets)
    assert (np.diff(got) >= 0).all()
    assert counts.max() - counts.min() <= 1
    assert list(counts) == sorted(counts, reverse=True)


def test_null_order_keys_sort_first_ascending_and_last_descending() -> None:
    f = Frame(v=pa.array([2, None, 1, None, 3], pa.int64()))
    up = f.run({"rn": (rank_fn("row_number"), ROWS_TO_CURRENT),
                "rk": (rank_fn("rank"), ROWS_TO_CURRENT)}, orders=(asc(f["v"]),))
    assert [(r["v"], r["rn"], r["rk"]) for r in up] == [
        (None, 1, 1), (None, 2, 1), (1, 3, 3), (2, 4, 4), (3, 5, 5)]
    down = f.run({"rn": (rank_fn("row_number"), ROWS_TO_CURRENT)}, orders=(desc(f["v"]),))
    assert column(down, "v") == [3, 2, 1, None, None]


def test_null_and_nan_partition_keys_form_one_partition_each_and_zeros_merge() -> None:
    nan = float("nan")
    f = Frame(k=pa.array([None, 1.0, nan, -0.0, None, nan, 0.0]), v=list(range(7)))
    rows = f.run({"n": (agg("count", f["v"]), WHOLE_PARTITION)}, partition=("k",),
                 orders=(asc(f["v"]),))
    sizes = {("null" if r["k"] is None else "nan" if math.isnan(r["k"]) else r["k"]): r["n"]
             for r in rows}
    assert sizes == {"null": 2, 1.0: 1, "nan": 2, 0.0: 2}


def test_several_partition_keys_and_descending_order() -> None:
    f = Frame(a=[1, 1, 1, 1, 2], b=["x", "x", "y", "y", "x"], v=[1, 2, 3, 3, 4])
    rows = f.run({"rn": (rank_fn("row_number"), ROWS_TO_CURRENT),
                  "rk": (rank_fn("rank"), ROWS_TO_CURRENT)},
                 partition=("a", "b"), orders=(desc(f["v"]),))
    assert [(r["a"], r["b"], r["v"], r["rn"], r["rk"]) for r in rows] == [
        (1, "x", 2, 1, 1), (1, "x", 1, 2, 2), (1, "y", 3, 1, 1), (1, "y", 3, 2, 1),
        (2, "x", 4, 1, 1)]


# ---------------------------------------------------------------------------------------------
# lag and lead


def _offset(name: str, attr: AttributeReference, offset: int, default: object = None) -> WindowFunction:
    dflt = Literal(default, attr.dtype)
    return WindowFunction(name, (attr, Literal(offset, pa.int32()), dflt))


def test_lag_and_lead_stay_inside_the_partition_and_keep_null_values() -> None:
    f = Frame(k=[1, 1, 1, 1, 2, 2], v=[1, 2, 3, 4, 1, 2],
              x=pa.array([10, None, 30, 40, 50, 60], pa.int64()))
    rows = f.run({"lag1": (_offset("lag", f["x"], 1), WindowFrame("rows", -1, -1)),
                  "lag2": (_offset("lag", f["x"], 2, -1), WindowFrame("rows", -2, -2)),
                  "lead1": (_offset("lead", f["x"], 1, 0), WindowFrame("rows", 1, 1)),
                  "lag0": (_offset("lag", f["x"], 0), WindowFrame("rows", 0, 0))},
                 partition=("k",), orders=(asc(f["v"]),))
    assert column(rows, "lag1") == [None, 10, None, 30, None, 50]
    assert column(rows, "lag2") == [-1, -1, 10, None, -1, -1]
    assert column(rows, "lead1") == [None, 30, 40, 0, 60, 0]
    assert column(rows, "lag0") == column(rows, "x")


# ---------------------------------------------------------------------------------------------
# Aggregates over frames


def test_running_aggregates_over_the_default_range_frame_share_values_among_ties() -> None:
    f = Frame(v=[1, 2, 2, 3], x=pa.array([1.0, None, 4.0, 8.0]))
    rows = f.run({"range_sum": (agg("sum", f["x"]), RANGE_TO_CURRENT),
                  "rows_sum": (agg("sum", f["x"]), ROWS_TO_CURRENT),
                  "range_count": (agg("count", f["x"]), RANGE_TO_CURRENT),
                  "range_max": (agg("max", f["x"]), RANGE_TO_CURRENT),
                  "range_last": (agg("last", f["x"]), RANGE_TO_CURRENT)},
                 orders=(asc(f["v"]),))
    assert column(rows, "range_sum") == [1.0, 5.0, 5.0, 13.0]
    assert column(rows, "rows_sum") == [1.0, 1.0, 5.0, 13.0]
    assert column(rows, "range_count") == [1, 2, 2, 3]
    assert column(rows, "range_max") == [1.0, 4.0, 4.0, 8.0]
    assert column(rows, "range_last") == [1.0, 4.0, 4.0, 8.0]


def test_sliding_rows_frame_skips_nulls_and_gives_null_for_all_null_frames() -> None:
    f = Frame(v=[1, 2, 3, 4, 5, 6], x=pa.array([5, None, None, None, 2, 9], pa.int64()))
    frame = WindowFrame("rows", -1, 1)
    rows = f.run({"sum": (agg("sum", f["x"]), frame), "count": (agg("count", f["x"]), frame),
                  "avg": (agg("avg", f["x"]), frame), "min": (agg("min", f["x"]), frame),
                  "max": (agg("max", f["x"]), frame)}, orders=(asc(f["v"]),))
    assert column(rows, "sum") == [5, 5, None, 2, 11, 11]
    assert column(rows, "count") == [1, 1, 0, 1, 2, 2]
    assert column(rows, "avg") == [5.0, 5.0, None, 2.0, 5.5, 5.5]
    assert column(rows, "min") == [5, 5, None, 2, 2, 2]
    assert column(rows, "max") == [5, 5, None, 2, 9, 9]


def test_frames_wholly_before_or_after_the_row_can_be_empty() -> None:
    f = Frame(v=[1, 2, 3], x=pa.array([1, 2, 4], pa.int64()))
    rows = f.run({"ahead": (agg("sum", f["x"]), WindowFrame("rows", 1, 2)),
                  "behind": (agg("count", f["x"]), WindowFrame("rows", None, -1)),
                  "rest": (agg("max", f["x"]), WindowFrame("rows", 0, None))},
                 orders=(asc(f["v"]),))
    assert column(rows, "ahead") == [6, 4, None]
    assert column(rows, "behind") == [0, 1, 2]
    assert column(rows, "rest") == [4, 4, 4]


def test_without_order_every_frame_is_the_whole_partition() -> None:
    f = Frame(k=["a", "b", "a", "a"], x=pa.array([1, 7, None, 3], pa.int32()))
    rows = f.run({"sum": (agg("sum", f["x"]), WHOLE_PARTITION),
                  "avg": (agg("avg", f["x"]), RANGE_TO_CURRENT),
                  "min": (agg("min", f["x"]), WHOLE_PARTITION)}, partition=("k",))
    assert {(r["k"], r["sum"], r["avg"], r["min"]) for r in rows} == {
        ("a", 4, 2.0, 1), ("b", 7, 7.0, 7)}


def test_first_and_last_respect_or_ignore_nulls_at_the_frame_ends() -> None:
    f = Frame(v=[1, 2, 3, 4, 5], x=pa.array([None, "b", None, "d", None]))
    frame = WindowFrame("rows", -1, 1)
    rows = f.run({n: (agg(n, f["x"]), frame) for n in
                  ("first", "last", "first_ignore_nulls", "last_ignore_nulls")},
                 orders=(asc(f["v"]),))
    assert column(rows, "first") == [None, None, "b", None, "d"]
    assert column(rows, "last") == ["b", None, "d", None, None]
    assert column(rows, "first_ignore_nulls") == ["b", "b", "b", "d", "d"]
    assert column(rows, "last_ignore_nulls") == ["b", "b", "d", "d", "d"]


def test_string_min_and_max_follow_string_order() -> None:
    f = Frame(v=[1, 2, 3, 4], s=["pear", None, "apple", "zoo"])
    rows = f.run({"min": (agg("min", f["s"]), ROWS_TO_CURRENT),
                  "max": (agg("max", f["s"]), ROWS_TO_CURRENT)}, orders=(asc(f["v"]),))
    assert column(rows, "min") == ["pear", "pear", "apple", "apple"]
    assert column(rows, "max") == ["pear", "pear", "pear", "zoo"]


def test_double_sums_follow_nan_and_infinity_rules() -> None:
    inf, nan = float("inf"), float("nan")
    f = Frame(v=[1, 2, 3, 4, 5], x=pa.array([1.0, inf, -inf, 2.0, nan]))
    rows = f.run({"s": (agg("sum", f["x"]), WindowFrame("rows", 0, 1)),
                  "max": (agg("max", f["x"]), ROWS_TO_CURRENT)}, orders=(asc(f["v"]),))
    s = column(rows, "s")
    assert s[0] == inf and math.isnan(s[1]) and s[2] == -inf and math.isnan(s[3])
    assert math.isnan(s[4])
    assert column(rows, "max")[:4] == [1.0, inf, inf, inf] and math.isnan(rows[4]["max"])


def test_decimal_sum_and_avg_are_exact() -> None:
    d = decimal.Decimal
    f = Frame(v=[1, 2, 3], x=pa.array([d("0.10"), d("0.20"), None], pa.decimal128(5, 2)))
    rows = f.run({"sum": (agg("sum", f["x"]), ROWS_TO_CURRENT),
                  "avg": (agg("avg", f["x"]), WHOLE_PARTITION)}, orders=(asc(f["v"]),))
    assert column(rows, "sum") == [d("0.10"), d("0.30"), d("0.30")]
    assert column(rows, "avg") == [d("0.150000")] * 3


def test_range_frame_with_offsets_covers_values_within_reach_and_nulls_frame_nulls() -> None:
    f = Frame(v=pa.array([1, 2, 4, 4, 7, None, None], pa.int64()), x=[1, 2, 4, 8, 16, 32, 64])
    frame = WindowFrame("range", -2, 1)
    up = f.run({"s": (agg("sum", f["x"]), frame)}, orders=(asc(f["v"]),))
    # v=1: [-1, 2] -> 1+2; v=2: [0, 3] -> 1+2; v=4: [2, 5] -> 2+4+8; v=7: [5, 8] -> 16
    assert [(r["v"], r["s"]) for r in up] == [
        (None, 96), (None, 96), (1, 3), (2, 3), (4, 14), (4, 14), (7, 16)]
    down = f.run({"s": (agg("sum", f["x"]), frame)}, orders=(desc(f["v"]),))
    # Descending: two preceding means up to 2 larger, one following down to 1 smaller.
    # v=7: [6, 9] -> 16; v=4: [3, 6] -> 4+8; v=2: [1, 4] -> 1+2+4+8; v=1: [0, 3] -> 1+2
    assert [(r["v"], r["s"]) for r in down] == [
        (7, 16), (4, 12), (4, 12), (2, 15), (1, 3), (None, 96), (None, 96)]


def test_empty_input_gives_no_rows() -> None:
    f = Frame(v=pa.array([], pa.int64()))
    assert f.run({"rn": (rank_fn("row_number"), ROWS_TO_CURRENT)}, orders=(asc(f["v"]),)) == []


@pytest.mark.parametrize("name", ["avg", "min", "max", "count", "first_ignore_nulls"])
def test_other_aggregates_run_per_partition_through_hash_aggregation(name: str) -> None:
    # Aggregates without a frame computation of their own take this path; run the ones that
    # have one through it too, and compare.
    f = Frame(k=[3, 1, 1, 2, 2, 2], v=[1, 1, 2, 1, 2, 3],
              x=pa.array([None, 4, 6, 1, None, 8], pa.int64()))
    direct = f.run({"w": (agg(name, f["x"]), WHOLE_PARTITION)}, partition=("k",),
                   orders=(asc(f["v"]),))
    ordered = pa.Table.from_pylist(direct)
    keys = [ordered.column("k").combine_chunks()]
    layout = Layout.of(ordered.num_rows, keys, [])
    table = ordered.rename_columns([f.attrs[c].key if c in f.attrs else c
                                    for c in ordered.column_names])
    got = _per_partition(agg(name, f["x"]), table, layout, _ctx())
    assert got.to_pylist() == column(direct, "w")


# ---------------------------------------------------------------------------------------------
# Sliding frames on random data, against a direct computation per row


def _direct(values: list, lo: int, hi: int, how: str) -> object:
    present = [v for v in values[lo:hi] if v is not None]
    if how == "count":
        return len(present)
    if not present:
        return None
    return {"sum": sum, "min": min, "max": max}[how](present)


@pytest.mark.parametrize("bounds", [(-3, 0), (-1, 1), (0, 5), (-200, 2), (None, 3), (2, None),
                                    (-150, -100)])
def test_rows_frames_match_a_direct_computation(bounds: tuple[int | None, int | None]) -> None:
    rng = np.random.default_rng(7)
    n = 600
    keys = rng.integers(0, 4, n)
    x = rng.integers(-50, 50, n)
    xs = [None if m else int(v) for v, m in zip(x, rng.random(n) < 0.2, strict=True)]
    f = Frame(k=pa.array(keys), v=pa.array(np.arange(n)), x=pa.array(xs, pa.int64()))
    frame = WindowFrame("rows", *bounds)
    rows = f.run({h: (agg(h, f["x"]), frame) for h in ("sum", "min", "max", "count")},
                 partition=("k",), orders=(asc(f["v"]),))
    lower, upper = bounds
    for key in range(4):
        part = [r for r in rows if r["k"] == key]
        values = [r["x"] for r in part]
        for i, r in enumerate(part):
            lo = 0 if lower is None else min(max(i + lower, 0), len(part))
            hi = len(part) if upper is None else min(max(i + upper + 1, 0), len(part))
            hi = max(hi, lo)
            for how in ("sum", "min", "max", "count"):
                assert r[how] == _direct(values, lo, hi, how), (key, i, how)


# ---------------------------------------------------------------------------------------------
# Buffers of whole window partitions under bounded execution memory


def _budget_ctx(local_dir: Path, budget: int, task_id: int = 7) -> TaskContext:
    """A task whose execution memory is ``budget`` bytes."""
    def no_io(*_: object) -> pa.Table:
        raise AssertionError("this task reads no shuffle or broadcast")

    pool = MemoryPool(UnifiedMemoryManager(budget, 0))
    pool.task_started(task_id)
    return TaskContext(0, 0, 0, task_id, "test", local_dir, no_io, no_io,  # type: ignore[arg-type]
                       memory=TaskMemory(pool, task_id))


def test_buffers_hold_whole_window_partitions_and_give_their_memory_back(tmp_path: Path) -> None:
    sizes = [5, 3, 40, 1, 1, 7, 12, 2]
    keys = [None if i == 0 else i for i, size in enumerate(sizes) for _ in range(size)]
    k = AttributeReference("k", pa.int64())
    table = pa.table({k.key: pa.array(keys, pa.int64()), "v": np.arange(len(keys))})
    ctx = _budget_ctx(tmp_path, 2048)
    chunks = [table.slice(i, 10) for i in range(0, table.num_rows, 10)]
    buffers = list(whole_partitions(chunks, (k,), ctx.task_memory, max_rows=16))
    assert pa.concat_tables(buffers).equals(table)
    seen = [set(b.column(k.key).to_pylist()) for b in buffers]
    assert len(buffers) > 1
    assert sum(len(s) for s in seen) == len(set().union(*seen)) == len(sizes)
    # The 40-row partition is larger than a buffer's row limit and still comes whole.
    assert any(b.num_rows >= 40 for b in buffers)
    assert ctx.task_memory.held == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("buffer_rows", [window.BUFFER_ROWS, 1000])
def test_windows_over_more_rows_than_memory_spill_and_match_duckdb(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buffer_rows: int) -> None:
    monkeypatch.setattr(window, "BUFFER_ROWS", buffer_rows)
    rng = np.random.default_rng(3)
    n = 60_000
    g = rng.integers(0, 2000, n)
    f = rng.choice([0.0, -0.0, 1.5, float("nan")], n)
    data = pa.table({  # noqa: F841 - read by DuckDB
        "g": pa.array(g, mask=rng.random(n) < 0.03),
        "f": pa.array(f, mask=rng.random(n) < 0.03),
        "t": pa.array(rng.integers(0, 50, n), mask=rng.random(n) < 0.05),
        "id": np.arange(n, dtype=np.int64),
        "x": pa.array(rng.integers(-100, 100, n), mask=rng.random(n) < 0.1),
    })
    frame = Frame(**{c: data.column(c).combine_chunks() for c in data.column_names})
    orders = (asc(frame["t"]), asc(frame["id"]))
    keys = (frame["g"], frame["f"])
    named = tuple(Alias(WindowExpression(fn, WindowSpecDefinition(keys, orders, w)), name)  # type: ignore[arg-type]
                  for name, (fn, w) in {
                      "rn": (rank_fn("row_number"), ROWS_TO_CURRENT),
                      "running": (agg("sum", frame["x"]), RANGE_TO_CURRENT),
                      "prev": (_offset("lag", frame["x"], 1), WindowFrame("rows", -1, -1)),
                      "total": (agg("count", frame["x"]), WHOLE_PARTITION)}.items())
    batches = pa.Table.from_batches(data.to_batches(max_chunksize=2048))
    op = WindowExec(named, keys, orders, LocalScanExec(tuple(frame.attrs.values()), (batches,)))
    ctx = _budget_ctx(tmp_path, 256 * 1024)
    got = to_table(op.execute(ctx, 0), op.output).rename_columns([a.name for a in op.output])
    assert ctx.task_memory.spill_bytes > 0
    ctx.finish()
    want = duckdb.sql(
        "SELECT *, CAST(row_number() OVER w AS INTEGER) rn, sum(x) OVER w running, "
        "lag(x) OVER w prev, count(x) OVER (PARTITION BY g, f) total FROM data "
        "WINDOW w AS (PARTITION BY g, f ORDER BY t ASC NULLS FIRST, id ASC NULLS FIRST)"
    ).arrow().read_all()
    got, want = (t.sort_by("id") for t in (got, want))
    for name in ("g", "f", "t", "x", "rn", "running", "prev", "total"):
        assert _canon(got.column(name)) == _canon(want.column(name)), name


def _canon(values: pa.ChunkedArray) -> list[str]:
    """Values as strings, null and NaN kept apart and -0.0 written as 0.0 (DuckDB gives back
    the -0.0 or 0.0 of each row as ember does, but compares them as equal)."""
    text = pc.fill_null(pc.cast(values, pa.string()), "<null>").to_pylist()
    return ["0" if v in ("-0", "0") else v for v in text]
