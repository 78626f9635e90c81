"""Spilling operators: with a task memory of a few hundred KiB they spill, and their answers
equal the unbounded path's and DuckDB's, nulls and NaN included."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ember.exec import aggregate
from ember.exec.aggregate import HashAggregateExec, state_types
from ember.exec.context import TaskContext
from ember.exec.join import JoinExec
from ember.exec.operators import LocalScanExec, SortExec
from ember.executor.memory import UnifiedMemoryManager
from ember.executor.memory_pool import MemoryPool, TaskMemory
from ember.plan.expressions import AggregateCall, AttributeReference, SortOrder

BUDGET = 256 * 1024


def tiny_context(local_dir: Path, budget: int | None, *, task_id: int = 7) -> TaskContext:
    """A task whose execution memory is ``budget`` bytes (None: unbounded, no pool)."""
    pool = None
    if budget is not None:
        pool = MemoryPool(UnifiedMemoryManager(budget, 0))
        pool.task_started(task_id)
    return TaskContext(stage_id=0, stage_attempt=0, partition=0, task_id=task_id,
                       executor_id="test", local_dir=local_dir, read_shuffle=_no_shuffle,
                       get_broadcast=_no_broadcast, reduce_ranges=((0, 1),),
                       memory=TaskMemory(pool, task_id))


def scan(table: pa.Table, *, first_id: int = 1, batch_rows: int = 4096) -> LocalScanExec:
    """A one-partition scan of ``table``, in small batches, with attributes numbered from
    ``first_id``."""
    attrs = tuple(AttributeReference(name, field.type, True, expr_id=first_id + i)
                  for i, (name, field) in enumerate(zip(table.column_names, table.schema,
                                                        strict=True)))
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=batch_rows), table.schema)
    return LocalScanExec(attrs, (chunked,))


def _no_shuffle(shuffle_id: int, start: int, end: int):  # type: ignore[no-untyped-def]
    raise AssertionError("no shuffle in this test")


def _no_broadcast(broadcast_id: int) -> pa.Table:
    raise AssertionError("no broadcast in this test")


def _run(op, ctx: TaskContext) -> pa.Table:  # type: ignore[no-untyped-def]
    out = pa.Table.from_batches(list(op.execute(ctx, 0)), schema=pa.schema(
        [pa.field(a.key, a.dtype) for a in op.output]))
    ctx.finish()
    return out.rename_columns([a.name for a in op.output])


def _canon(table: pa.Table) -> dict[str, list[str]]:
    """The columns as strings (null and NaN kept apart), in row order."""
    return {name: pc.fill_null(pc.cast(table.column(name), pa.string()), "<null>").to_pylist()
            for name in table.column_names}


def _rows(table: pa.Table) -> dict[str, list[str]]:
    """The rows as a sorted multiset."""
    text = pa.table(_canon(table))
    return text.sort_by([(n, "ascending") for n in text.column_names]).to_pydict()


def _data(n: int = 60_000, seed: int = 1, groups: int = 5000) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.01] = np.nan
    return pa.table({
        "k": pa.array(k, mask=rng.random(n) < 0.05),
        "x": pa.array(x, mask=rng.random(n) < 0.05),
        "s": pa.array([f"s{v % 97}" for v in k], mask=rng.random(n) < 0.05),
    })


@pytest.mark.parametrize(("ascending", "nulls_first"), [(True, None), (False, None),
                                                        (True, False), (False, True)])
def test_external_sort_spills_runs_and_merges_them_in_spark_order(
        tmp_path: Path, ascending: bool, nulls_first: bool | None) -> None:
    table = _data()
    child = scan(table)
    k, x = child.output[0], child.output[1]
    op = SortExec((SortOrder(x, ascending, nulls_first), SortOrder(k, True, None)), child)
    small = tiny_context(tmp_path, BUDGET)
    spilled = _run(op, small)
    expected = _run(op, tiny_context(tmp_path, None))
    assert small.metrics.spill_files > 1 and small.metrics.spill_bytes > 0
    assert _canon(spilled.select(["x", "k"])) == _canon(expected.select(["x", "k"]))
    assert _rows(spilled) == _rows(expected)
    assert not list((tmp_path / "spill").iterdir())
    direction = "ASC" if ascending else "DESC"
    nulls = "" if nulls_first is None else (" NULLS FIRST" if nulls_first else " NULLS LAST")
    if nulls_first is None:
        nulls = " NULLS FIRST" if ascending else " NULLS LAST"
    data = table  # noqa: F841 - read by DuckDB
    oracle = duckdb.sql(f"SELECT * FROM data ORDER BY x {direction}{nulls}, k ASC NULLS FIRST"
                        ).arrow().read_all()
    # Ties on (x, k) may come in any order; compare the sort keys row by row.
    assert _canon(spilled.select(["x", "k"])) == _canon(oracle.select(["x", "k"]))


def _aggregate(table: pa.Table, ctx_of, *, keys: tuple[str, ...] = ("k", "s")  # type: ignore[no-untyped-def]
               ) -> tuple[pa.Table, TaskContext, TaskContext]:
    """Partial aggregation in one task, final in another, each with its own context."""
    child = scan(table)
    attrs = {a.name: a for a in child.output}
    calls = (AggregateCall("sum", (attrs["x"],)), AggregateCall("count", (attrs["x"],)),
             AggregateCall("avg", (attrs["x"],)), AggregateCall("min", (attrs["s"],)),
             AggregateCall("max", (attrs["x"],)))
    key_attrs = tuple(attrs[k] for k in keys)
    state_attrs = tuple(AttributeReference(f"s{i}_{m}", t, True, expr_id=100 + 10 * i + m)
                        for i, c in enumerate(calls) for m, t in enumerate(state_types(c)))
    agg_attrs = tuple(AttributeReference(n, c.dtype, True, expr_id=200 + i) for i, (n, c) in
                      enumerate(zip(["sx", "cx", "ax", "ms", "mx"], calls, strict=True)))
    partial = HashAggregateExec("partial", key_attrs, key_attrs, calls, state_attrs, agg_attrs,
                                child)
    first = ctx_of(1)
    states = pa.Table.from_batches(list(partial.execute(first, 0)),
                                   schema=pa.schema([pa.field(a.key, a.dtype)
                                                     for a in partial.output]))
    first.finish()
    final = HashAggregateExec("final", key_attrs, key_attrs, calls, state_attrs, agg_attrs,
                              LocalScanExec(tuple(partial.output), (states,)))
    second = ctx_of(2)
    return _run(final, second), first, second


def test_hash_aggregation_spills_partitions_and_merges_each_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregate, "PARTIAL_CHUNK_ROWS", 4096)
    table = _data(n=80_000, groups=40_000)
    spilled, partial, final = _aggregate(table, lambda t: tiny_context(tmp_path, BUDGET,
                                                                       task_id=t))
    expected, _, _ = _aggregate(table, lambda t: tiny_context(tmp_path, None, task_id=t))
    assert partial.metrics.spill_bytes > 0 and final.metrics.spill_bytes > 0
    assert _rows(spilled) == _rows(expected)
    data = table  # noqa: F841 - read by DuckDB
    oracle = duckdb.sql("SELECT k, s, sum(x) sx, count(x) cx, avg(x) ax, min(s) ms, max(x) mx "
                        "FROM data GROUP BY k, s").arrow().read_all()
    assert spilled.num_rows == oracle.num_rows
    got = {(r["k"], r["s"]): r for r in spilled.to_pylist()}
    for row in oracle.to_pylist():
        mine = got[(row["k"], row["s"])]
        assert mine["cx"] == row["cx"] and mine["ms"] == row["ms"]
        for c in ("sx", "ax", "mx"):
            assert (mine[c] is None) == (row[c] is None)
            if row[c] is not None:
                assert mine[c] == pytest.approx(row[c], nan_ok=True)
    assert not list((tmp_path / "spill").iterdir())


def test_a_global_aggregate_never_spills(tmp_path: Path) -> None:
    spilled, partial, final = _aggregate(_data(n=20_000), lambda t: tiny_context(
        tmp_path, 1024, task_id=t), keys=())
    assert spilled.num_rows == 1 and spilled.column("cx")[0].as_py() > 0
    assert partial.metrics.spill_bytes == final.metrics.spill_bytes == 0


def _sides() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(3)
    n, m = 30_000, 20_000
    left = pa.table({"a": pa.array(rng.integers(0, 12_000, n), mask=rng.random(n) < 0.03),
                     "lv": pa.array(rng.normal(size=n))})
    right = pa.table({"b": pa.array(rng.integers(0, 12_000, m), mask=rng.random(m) < 0.03),
                      "rv": pa.array([f"r{i}" for i in range(m)])})
    return left, right


_JOIN_SQL = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN",
             "full": "FULL OUTER JOIN", "left_semi": "SEMI JOIN", "left_anti": "ANTI JOIN"}


@pytest.mark.parametrize(("how", "build_right"), [
    ("inner", True), ("left", True), ("right", True), ("full", True), ("full", False),
    ("left", False), ("left_semi", True), ("left_anti", True)])
def test_grace_hash_join_partitions_both_sides_and_keeps_every_join_type(
        tmp_path: Path, how: str, build_right: bool) -> None:
    left, right = _sides()
    lscan, rscan = scan(left, first_id=1), scan(right, first_id=50)
    op = JoinExec(lscan, rscan, how, (lscan.output[0],), (rscan.output[0],), None, build_right,
                  False)
    small = tiny_context(tmp_path, BUDGET)
    spilled = _run(op, small)
    expected = _run(op, tiny_context(tmp_path, None))
    assert small.metrics.spill_files > 2 and small.metrics.spill_bytes > 0
    assert _rows(spilled) == _rows(expected)
    l, r = left, right  # noqa: E741, F841 - read by DuckDB
    cols = "l.*" if how in {"left_semi", "left_anti"} else "l.*, r.*"
    oracle = duckdb.sql(f"SELECT {cols} FROM l {_JOIN_SQL[how]} r ON l.a = r.b").arrow().read_all()
    assert _rows(spilled) == _rows(oracle)
    assert not list((tmp_path / "spill").iterdir())


def test_shuffle_writer_spills_buffers_and_merges_them_into_the_same_files(
        tmp_path: Path) -> None:
    from ember.exec import shuffle_files

    table = _data(n=40_000)
    pids = np.asarray(table.column("k").fill_null(0)) % 5
    outputs = []
    for name, budget in (("spilled", BUDGET), ("plain", None)):
        ctx = tiny_context(tmp_path / name, budget)
        writer = shuffle_files.ShuffleWriter(tmp_path / name, 3, 0, 5, table.schema,
                                             memory=ctx.task_memory, spills=ctx.spills)
        for start in range(0, table.num_rows, 4096):
            writer.write(table.slice(start, 4096), pids[start:start + 4096])
        sizes = writer.commit()
        ctx.finish()
        outputs.append((ctx, sizes))
    (spilled, sizes), (plain, _) = outputs
    assert spilled.metrics.spill_files > 1 and plain.metrics.spill_files == 0
    for r in range(5):
        got = [pa.Table.from_batches(list(shuffle_files.decode_block(
            shuffle_files.read_block_bytes(tmp_path / name, 3, 0, r))), table.schema)
            for name in ("spilled", "plain")]
        assert got[0].num_rows == int((pids == r).sum())
        assert _rows(got[0]) == _rows(got[1])
    assert not list((tmp_path / "spilled" / "spill").iterdir())


def test_a_full_disk_fails_the_spill_with_the_directory_and_setting_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from ember.exec import spill

    class FullDisk:
        def __init__(self, path: str, mode: str) -> None:
            self.path = path
            open(path, "wb").close()

        def __enter__(self) -> FullDisk:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(spill.pa, "OSFile", FullDisk)
    child = scan(_data(n=20_000))
    op = SortExec((SortOrder(child.output[1], True, None),), child)
    ctx = tiny_context(tmp_path, BUDGET)
    with pytest.raises(OSError, match="spark.local.dir") as info:
        _run(op, ctx)
    assert info.value.errno == errno.ENOSPC
    assert str(tmp_path / "spill") in str(info.value) and "full" in str(info.value)
    ctx.finish()
    assert not list((tmp_path / "spill").iterdir())


def test_stream_chunks_keep_their_output_to_a_quarter_of_the_tasks_share() -> None:
    from ember.exec.join import MIN_STREAM_CHUNK_ROWS, STREAM_CHUNK_ROWS, stream_chunk_rows

    sample = pa.record_batch({"a": pa.array(range(1000), pa.int64())})  # 8 bytes a row
    build = pa.table({"b": pa.array(range(100), pa.int64()), "c": pa.array([1.0] * 100)})  # 16
    assert stream_chunk_rows(sample, build, 96 * 2**20) == 96 * 2**20 // 4 // 24
    assert stream_chunk_rows(sample, build, None) == STREAM_CHUNK_ROWS
    assert stream_chunk_rows(sample, build, 1 << 40) == STREAM_CHUNK_ROWS
    assert stream_chunk_rows(sample, build, 1024) == MIN_STREAM_CHUNK_ROWS
