"""Aggregates computed over group ids: kernels on small Arrow arrays, and the property that
merging partial states gives what one pass over all rows gives (the shuffle's correctness)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from ember.plan import aggregates
from ember.plan.grouped_aggregates import Groups


def _run(name: str, columns: list[list[Any]], ids: list[int], *params: Any,
         arg_types: list[pa.DataType] | None = None) -> list[Any]:
    spec = aggregates.lookup(name)
    assert spec.grouped is not None
    types = arg_types or [pa.float64()] * len(columns)
    arrays = [pa.array(c, t) for c, t in zip(columns, types, strict=True)]
    groups = Groups(np.array(ids, dtype=np.int64), max(ids) + 1)
    states = spec.grouped.partial(arrays, groups, params)
    result = spec.result_type(types + [pa.float64()] * len(params))
    return spec.grouped.finish(states, result, params).to_pylist()


def _run_split(name: str, columns: list[list[Any]], ids: list[int], split: int,
               *params: Any) -> list[Any]:
    """Partial states of rows[:split] and rows[split:], merged, then finished."""
    spec = aggregates.lookup(name)
    assert spec.grouped is not None
    count = max(ids) + 1
    parts = []
    for lo, hi in ((0, split), (split, len(ids))):
        arrays = [pa.array(c[lo:hi], pa.float64()) for c in columns]
        part_ids = np.array(ids[lo:hi], dtype=np.int64)
        parts.append(spec.grouped.partial(arrays, Groups(part_ids, count), params))
    states = [pa.concat_arrays([p[i] for p in parts]) for i in range(len(parts[0]))]
    merged = spec.grouped.merge(states, Groups(np.tile(np.arange(count), 2), count), params)
    result = spec.result_type([pa.float64()] * (len(columns) + len(params)))
    return spec.grouped.finish(merged, result, params).to_pylist()


def _close(actual: list[Any], expected: list[Any]) -> bool:
    return all((a is None and e is None) or (a is not None and e is not None and
                                               math.isclose(a, e, rel_tol=1e-12, abs_tol=1e-12))
               for a, e in zip(actual, expected, strict=True))


MOMENTS = [
    # name, values of group 0, values of group 1, expected per group
    ("stddev_samp", [1.0, 2.0, 3.0, 4.0], [5.0], [math.sqrt(5 / 3), None]),
    ("stddev", [1.0, 2.0, 3.0, 4.0], [5.0], [math.sqrt(5 / 3), None]),
    ("stddev_pop", [1.0, 2.0, 3.0, 4.0], [5.0], [math.sqrt(5 / 4), 0.0]),
    ("var_samp", [1.0, 2.0, 3.0, 4.0], [5.0], [5 / 3, None]),
    ("variance", [1.0, None, 3.0], [None], [2.0, None]),
    ("var_pop", [1.0, 2.0, 3.0, 4.0], [5.0, 7.0], [1.25, 1.0]),
]


@pytest.mark.parametrize(("name", "g0", "g1", "expected"), MOMENTS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MOMENTS)])
def test_moments_per_group_skip_nulls_and_are_null_without_enough_rows(
        name: str, g0: list[Any], g1: list[Any], expected: list[Any]) -> None:
    ids = [0] * len(g0) + [1] * len(g1)
    assert _close(_run(name, [g0 + g1], ids), expected)


def test_variance_of_large_close_values_keeps_its_precision() -> None:
    values = [1e9 + v for v in (4.0, 7.0, 13.0, 16.0)]
    assert _run("var_samp", [values], [0, 0, 0, 0]) == [30.0]
    assert _run_split("var_samp", [values], [0, 0, 0, 0], 2) == [30.0]


COMOMENTS = [
    ("covar_pop", [1.0, 2.0, 3.0], [2.0, 4.0, 7.0], 5 / 3),
    ("covar_samp", [1.0, 2.0, 3.0], [2.0, 4.0, 7.0], 2.5),
    ("corr", [1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1.0),
    ("corr", [1.0, 2.0, 3.0], [6.0, 4.0, 2.0], -1.0),
    # A row counts only where both inputs are non-null.
    ("covar_pop", [1.0, None, 3.0, 5.0], [1.0, 9.0, None, 3.0], 2.0),
    # Spark's division by zero is null: a constant input has no correlation.
    ("corr", [1.0, 1.0, 1.0], [1.0, 2.0, 3.0], None),
    ("covar_samp", [1.0], [2.0], None),
    ("covar_pop", [1.0], [2.0], 0.0),
    ("corr", [None, 1.0], [1.0, None], None),
]


@pytest.mark.parametrize(("name", "x", "y", "expected"), COMOMENTS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(COMOMENTS)])
def test_two_argument_aggregates_use_rows_where_both_are_set(
        name: str, x: list[Any], y: list[Any], expected: Any) -> None:
    assert _close(_run(name, [x, y], [0] * len(x)), [expected])


@pytest.mark.parametrize("name", ["stddev_samp", "var_pop", "covar_samp", "covar_pop", "corr",
                                  "median", "percentile_approx", "collect_set",
                                  "approx_count_distinct"])
@pytest.mark.parametrize("split", [0, 1, 3, 6])
def test_merging_partial_states_equals_one_pass(name: str, split: int) -> None:
    rng = np.random.default_rng(7)
    n = 9
    x = [float(v) for v in rng.integers(-5, 50, n)]
    x[4] = None  # type: ignore[call-overload]
    y = [float(v) * 0.5 + 1 for v in rng.integers(0, 20, n)]
    ids = [i % 2 for i in range(n)]
    arity = aggregates.lookup(name).grouped.value_args  # type: ignore[union-attr]
    columns = [x, y][:arity]
    params = (0.5,) if name == "percentile_approx" else ()
    one_pass = _run(name, columns, ids, *params)
    merged = _run_split(name, columns, ids, split, *params)
    if name == "collect_set":
        assert [sorted(v) for v in merged] == [sorted(v) for v in one_pass]
    elif name == "approx_count_distinct":
        assert merged == one_pass
    else:
        assert _close(merged, one_pass)


COLLECTIONS = [
    ("collect_list", [3.0, None, 1.0, 3.0], [[3.0, 1.0, 3.0]]),
    ("collect_set", [3.0, None, 1.0, 3.0], [[1.0, 3.0]]),
    ("collect_set", [float("nan"), -0.0, 0.0, float("nan")], [[0.0, float("nan")]]),
    ("collect_list", [None, None], [[]]),
    ("approx_count_distinct", [3.0, None, 1.0, 3.0], [2]),
    ("approx_count_distinct", [None], [0]),
]


@pytest.mark.parametrize(("name", "values", "expected"), COLLECTIONS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(COLLECTIONS)])
def test_collections_drop_nulls(name: str, values: list[Any], expected: list[Any]) -> None:
    out = _run(name, [values], [0] * len(values))
    if name == "collect_set":
        out = [sorted(v, key=lambda f: (math.isnan(f), f)) for v in out]
        assert repr(out) == repr(expected)
    else:
        assert out == expected


PERCENTILES = [
    # Spark's percentile_approx picks an actual value: the smallest whose rank reaches p * n.
    ([1, 2, 3, 4], 0.5, 2),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5),
    ([1, 2, 3, 4], 0.0, 1),
    ([1, 2, 3, 4], 1.0, 4),
    ([4, None, 1, 3], 0.75, 4),
    ([10, 20, 30], 0.34, 20),
    ([None], 0.5, None),
]


@pytest.mark.parametrize(("values", "p", "expected"), PERCENTILES)
def test_percentile_approx_takes_an_actual_value(values: list[Any], p: float,
                                                  expected: Any) -> None:
    out = _run("percentile_approx", [values], [0] * len(values), p, arg_types=[pa.int64()])
    assert out == [expected]


def test_percentile_approx_with_a_list_of_percentages_gives_an_array() -> None:
    spec = aggregates.lookup("percentile_approx")
    result = spec.result_type([pa.int64(), pa.list_(pa.float64())])
    assert result == pa.list_(pa.int64())
    groups = Groups(np.array([0, 0, 0, 1, 1]), 2)
    states = spec.grouped.partial([pa.array([1, 2, 3, 10, 20])], groups, ())  # type: ignore[union-attr]
    out = spec.grouped.finish(states, result, ([0.0, 0.5, 1.0],))  # type: ignore[union-attr]
    assert out.to_pylist() == [[1, 2, 3], [10, 10, 20]]


@pytest.mark.parametrize(("values", "expected"), [
    ([1.0, 2.0, 3.0, 4.0], 2.5),
    ([5.0, 1.0, 3.0], 3.0),
    ([None, 7.0], 7.0),
    ([None], None),
])
def test_median_interpolates_between_the_middle_values(values: list[Any], expected: Any) -> None:
    assert _run("median", [values], [0] * len(values)) == [expected]
