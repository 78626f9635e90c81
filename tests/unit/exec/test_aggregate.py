from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa

from ember.exec.aggregate import HashAggregateExec, state_types
from ember.exec.context import TaskContext
from ember.exec.operators import LocalScanExec, to_table
from ember.plan.expressions import AggregateCall, AttributeReference


def _ctx() -> TaskContext:
    def no_io(*_: object) -> pa.Table:
        raise AssertionError("this task reads no shuffle or broadcast")

    return TaskContext(0, 0, 0, 0, "test", Path("."), no_io, no_io)  # type: ignore[arg-type]


def _aggregate(table: pa.Table, keys: list[str], calls: list[AggregateCall],
               attrs: dict[str, AttributeReference]) -> list[dict]:
    """Partial then final aggregation in one process, as a one-partition job would run it."""
    key_attrs = tuple(attrs[k] for k in keys)
    state_attrs = tuple(AttributeReference(f"s{i}_{m}", t)
                        for i, c in enumerate(calls) for m, t in enumerate(state_types(c)))
    agg_attrs = tuple(AttributeReference(c.sql(), c.dtype) for c in calls)
    scan = LocalScanExec(tuple(attrs.values()), (table,))
    partial = HashAggregateExec("partial", key_attrs, key_attrs, tuple(calls), state_attrs,
                                agg_attrs, scan)
    states = to_table(partial.execute(_ctx(), 0), partial.output)
    final = HashAggregateExec("final", key_attrs, key_attrs, tuple(calls), state_attrs,
                              agg_attrs, LocalScanExec(tuple(partial.output), (states,)))
    out = to_table(final.execute(_ctx(), 0), final.output)
    return out.rename_columns([a.name for a in final.output]).to_pylist()


def test_count_of_several_arguments_counts_rows_where_none_is_null() -> None:
    table = pa.table({"k": [1, 1, 1, 2, 2], "a": ["x", None, "y", "z", None],
                      "b": [True, True, None, False, None]})
    attrs = {n: AttributeReference(n, table.schema.field(n).type) for n in table.column_names}
    calls = [AggregateCall("count", (attrs["a"], attrs["b"])), AggregateCall("count", (attrs["a"],))]
    rows = _aggregate(table, ["k"], calls, attrs)
    assert sorted(rows, key=lambda r: r["k"]) == [
        {"k": 1, "count(a, b)": 1, "count(a)": 2},
        {"k": 2, "count(a, b)": 1, "count(a)": 1},
    ]


def test_max_of_doubles_is_nan_when_a_group_has_nan_and_zero_keys_merge() -> None:
    nan = float("nan")
    table = pa.table({"k": [-0.0, 0.0, 1.0, 1.0, 2.0, 2.0],
                      "x": [1.0, 2.0, nan, float("inf"), None, -3.5]})
    attrs = {n: AttributeReference(n, pa.float64()) for n in table.column_names}
    calls = [AggregateCall("max", (attrs["x"],)), AggregateCall("min", (attrs["x"],))]
    rows = _aggregate(table, ["k"], calls, attrs)
    by_key = {r["k"]: (r["max(x)"], r["min(x)"]) for r in rows}
    assert len(rows) == 3
    assert by_key[0.0] == (2.0, 1.0)
    assert math.isnan(by_key[1.0][0]) and by_key[1.0][1] == float("inf")
    assert by_key[2.0] == (-3.5, -3.5)
