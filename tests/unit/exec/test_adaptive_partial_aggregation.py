"""Adaptive partial aggregation: when the partial phase stops hashing, and the one-row states it
gives each later row instead."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from ember.exec.aggregate import HashAggregateExec, reduces, state_types
from ember.exec.context import TaskContext
from ember.exec.operators import LocalScanExec, to_table
from ember.plan.expressions import AggregateCall, AttributeReference

NAN = float("nan")


def _ctx() -> TaskContext:
    def no_io(*_: object) -> pa.Table:
        raise AssertionError("this task reads no shuffle or broadcast")

    return TaskContext(0, 0, 0, 0, "test", Path("."), no_io, no_io)  # type: ignore[arg-type]


def _attrs(table: pa.Table) -> dict[str, AttributeReference]:
    return {n: AttributeReference(n, table.schema.field(n).type) for n in table.column_names}


def _partial(table: pa.Table, keys: list[str], calls: list[AggregateCall],
             attrs: dict[str, AttributeReference], *, min_rows: int = 2,
             min_compaction: float = 1.05) -> HashAggregateExec:
    key_attrs = tuple(attrs[k] for k in keys)
    state_attrs = tuple(AttributeReference(f"s{i}_{m}", t)
                        for i, c in enumerate(calls) for m, t in enumerate(state_types(c)))
    agg_attrs = tuple(AttributeReference(c.sql(), c.dtype) for c in calls)
    scan = LocalScanExec(tuple(attrs.values()), (table,))
    return HashAggregateExec("partial", key_attrs, key_attrs, tuple(calls), state_attrs,
                             agg_attrs, scan, adaptive_min_rows=min_rows,
                             adaptive_min_compaction=min_compaction)


def _states(partial: HashAggregateExec) -> list[dict]:
    out = to_table(partial.execute(_ctx(), 0), partial.output)
    return out.rename_columns([a.name for a in partial.output]).to_pylist()


def _final(partial: HashAggregateExec) -> list[tuple]:
    states = to_table(partial.execute(_ctx(), 0), partial.output)
    final = HashAggregateExec("final", partial.key_attrs, partial.key_attrs, partial.aggs,
                              partial.state_attrs, partial.agg_attrs,
                              LocalScanExec(tuple(partial.output), (states,)))
    out = to_table(final.execute(_ctx(), 0), final.output)
    return list(zip(*(c.to_pylist() for c in out.columns), strict=True))


def _chunked(columns: dict[str, pa.Array], sizes: list[int]) -> pa.Table:
    """A table whose record batches have ``sizes`` rows, as a scan would give them."""
    table = pa.table(columns)
    batches, offset = [], 0
    for size in sizes:
        batches.append(table.slice(offset, size).combine_chunks().to_batches()[0])
        offset += size
    return pa.Table.from_batches(batches)


@pytest.mark.parametrize(("rows", "groups", "min_compaction", "expected"), [
    (100, 100, 1.05, False),   # every row its own group
    (104, 100, 1.05, False),   # 1.04 rows per group
    (105, 100, 1.05, True),    # exactly the threshold keeps hashing
    (1000, 10, 1.05, True),
    (100, 100, 1.0, True),     # a threshold of 1 never bypasses
    (100, 1, 0.0, True),
])
def test_partial_aggregation_is_bypassed_below_the_compaction_ratio(
        rows: int, groups: int, min_compaction: float, expected: bool) -> None:
    assert reduces(rows, groups, min_compaction=min_compaction) is expected


def test_bypass_applies_only_to_a_keyed_partial_aggregation_that_is_enabled() -> None:
    table = pa.table({"k": [1, 2], "v": [1, 2]})
    attrs = _attrs(table)
    calls = [AggregateCall("sum", (attrs["v"],))]
    assert _partial(table, ["k"], calls, attrs).can_pass_through()
    assert not _partial(table, [], calls, attrs).can_pass_through()
    assert not _partial(table, ["k"], calls, attrs, min_compaction=0.0).can_pass_through()
    final = _partial(table, ["k"], calls, attrs)
    final = HashAggregateExec("final", final.key_attrs, final.key_attrs, final.aggs,
                              final.state_attrs, final.agg_attrs, final)
    assert not final.can_pass_through()


def test_rows_after_a_non_reducing_first_chunk_become_one_row_states() -> None:
    # The first chunk (2 rows, 2 groups) does not reduce; the 3 rows after it are not hashed,
    # so key 1 appears twice among the states.
    table = _chunked({"k": pa.array([1, 2, 3, 1, 4], pa.int64()),
                      "v": pa.array([10, 20, None, 5, -7], pa.int64())}, [2, 2, 1])
    attrs = _attrs(table)
    calls = [AggregateCall("sum", (attrs["v"],)), AggregateCall("count", (attrs["v"],)),
             AggregateCall("count", ()), AggregateCall("avg", (attrs["v"],))]
    states = _states(_partial(table, ["k"], calls, attrs))
    assert [tuple(r.values()) for r in states] == [
        # k, sum, count(v), count(*), avg's (sum, count)
        (1, 10, 1, 1, 10.0, 1),
        (2, 20, 1, 1, 20.0, 1),
        (3, None, 0, 1, None, 0),
        (1, 5, 1, 1, 5.0, 1),
        (4, -7, 1, 1, -7.0, 1),
    ]


def test_a_reducing_first_chunk_keeps_hashing() -> None:
    table = _chunked({"k": pa.array([1, 1, 2, 2, 2], pa.int64()),
                      "v": pa.array([1, 2, 3, 4, 5], pa.int64())}, [2, 3])
    attrs = _attrs(table)
    states = _states(_partial(table, ["k"], [AggregateCall("sum", (attrs["v"],))], attrs))
    assert sorted(tuple(r.values()) for r in states) == [(1, 3), (2, 12)]


def test_one_row_states_of_min_max_first_last_of_strings_and_doubles() -> None:
    table = _chunked({"k": pa.array([1, 2, 3, 4], pa.int64()),
                      "s": pa.array(["b", "a", None, "z"]),
                      "x": pa.array([1.5, 2.5, NAN, None])}, [2, 2])
    attrs = _attrs(table)
    calls = [AggregateCall(name, (attrs["s"],))
             for name in ("min", "max", "first", "last", "first_ignore_nulls")]
    calls.append(AggregateCall("min", (attrs["x"],)))
    states = _states(_partial(table, ["k"], calls, attrs))
    assert [tuple(r.values())[:6] for r in states] == [
        (1, "b", "b", "b", "b", "b"),
        (2, "a", "a", "a", "a", "a"),
        (3, None, None, None, None, None),
        (4, "z", "z", "z", "z", "z"),
    ]
    mins = [r["s5_0"] for r in states]
    assert mins[:2] == [1.5, 2.5] and math.isnan(mins[2]) and mins[3] is None


def test_one_row_states_of_moments_comoments_and_lists() -> None:
    table = _chunked({"k": pa.array([1, 2, 3, 4], pa.int64()),
                      "x": pa.array([1.0, 2.0, None, 4.0]),
                      "y": pa.array([3.0, None, 5.0, 6.0])}, [2, 2])
    attrs = _attrs(table)
    calls = [AggregateCall("stddev", (attrs["x"],)),
             AggregateCall("corr", (attrs["x"], attrs["y"])),
             AggregateCall("collect_list", (attrs["x"],))]
    states = _states(_partial(table, ["k"], calls, attrs))
    # stddev: (n, mean, m2); corr: (n, mean_x, mean_y, c_xy, m2_x, m2_y); collect_list: [x]
    assert [tuple(r.values())[1:] for r in states[2:]] == [
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, []),
        (1.0, 4.0, 0.0, 1.0, 4.0, 6.0, 0.0, 0.0, 0.0, [4.0]),
    ]


def test_results_across_the_bypass_keep_input_order_for_first_and_last() -> None:
    # Keys 1 and NaN come back after the first chunk: their earlier states must merge first.
    table = _chunked({"k": pa.array([1.0, NAN, 2.0, 1.0, NAN, -0.0, 0.0]),
                      "v": pa.array([None, 7, 1, 2, 8, 3, 4], pa.int64())}, [3, 2, 2])
    attrs = _attrs(table)
    calls = [AggregateCall(n, (attrs["v"],))
             for n in ("first", "last", "first_ignore_nulls", "sum", "max")]
    rows = _final(_partial(table, ["k"], calls, attrs, min_rows=3))
    by_key = {("nan" if math.isnan(r[0]) else r[0]): r[1:] for r in rows}
    assert by_key == {
        1.0: (None, 2, 2, 2, 2),
        "nan": (7, 8, 7, 15, 8),
        2.0: (1, 1, 1, 1, 1),
        0.0: (3, 4, 3, 7, 4),
    }
