"""Math and null-logic kernels on small Arrow arrays, against values Spark gives."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from ember.plan import functions

NAN = float("nan")


def call(name: str, *columns: list[Any]) -> list[Any]:
    return functions.lookup(name).kernel([pa.array(c) for c in columns]).to_pylist()


def same(a: list[Any], b: list[Any]) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and (
        (isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == pytest.approx(y)))
        for x, y in zip(a, b, strict=True))


CASES = [
    ("ln", ([1.0, 0.0, -1.0, None],), [0.0, None, None, None]),
    ("log", ([math.e, 0.0],), [1.0, None]),
    ("log", ([2.0, 10.0, -2.0, 10.0], [8.0, 100.0, 8.0, 0.0]), [3.0, 2.0, None, None]),
    ("log10", ([1000.0, 0.0],), [3.0, None]),
    ("log2", ([8.0, -8.0],), [3.0, None]),
    ("log1p", ([0.0, -1.0],), [0.0, None]),
    ("exp", ([0.0, None],), [1.0, None]),
    ("pow", ([2.0, 0.0, -8.0], [10.0, -1.0, 0.5]), [1024.0, math.inf, NAN]),
    ("signum", ([-3.5, 0.0, 2.0, NAN, None],), [-1.0, 0.0, 1.0, NAN, None]),
    ("floor", ([1.5, -1.5, NAN, 1e30, -1e30, None],),
     [1, -2, 0, 2**63 - 1, -(2**63), None]),
    ("ceil", ([1.2, -1.2],), [2, -1]),
    ("cbrt", ([27.0, -8.0],), [3.0, -2.0]),
    ("greatest", ([1.0, None, NAN, None], [2.0, 3.0, 1.0, None]), [2.0, 3.0, NAN, None]),
    ("least", ([1.0, None, NAN, None], [2.0, 3.0, 1.0, None]), [1.0, 3.0, 1.0, None]),
    ("greatest", (["a", None], ["b", "c"], ["a", None]), ["b", "c"]),
    ("nanvl", ([1.0, NAN, None, NAN], [5.0, 5.0, 5.0, None]), [1.0, 5.0, None, None]),
    ("nullif", ([1, 2, None], [1, 3, 1]), [None, 2, None]),
    ("nvl2", ([1, None], ["a", "a"], ["b", "b"]), ["a", "b"]),
    ("isnull", ([1, None],), [False, True]),
    ("isnotnull", ([1, None],), [True, False]),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_math_function_matches_spark(name: str, args: tuple[Any, ...], expected: list[Any]) -> None:
    assert same(call(name, *args), expected)


@pytest.mark.parametrize(("name", "args", "sql"), [
    ("sqrt", ["x"], "SQRT(x)"),
    ("pow", ["x", "2"], "POWER(x, 2)"),
    ("log", ["x"], "ln(x)"),
    ("log", ["2", "x"], "LOG(2, x)"),
    ("floor", ["x"], "FLOOR(x)"),
    ("ceil", ["x"], "CEIL(x)"),
    ("isnull", ["x"], "(x IS NULL)"),
    ("greatest", ["a", "b"], "greatest(a, b)"),
])
def test_function_calls_are_named_as_spark_names_them(name: str, args: list[str],
                                                      sql: str) -> None:
    assert functions.lookup(name).call_sql(args) == sql


@pytest.mark.parametrize(("name", "types", "result"), [
    ("floor", [pa.float64()], pa.int64()),
    ("ceil", [pa.int32()], pa.int64()),
    ("floor", [pa.decimal128(10, 3)], pa.decimal128(8, 0)),
    ("pow", [pa.int32(), pa.int32()], pa.float64()),
])
def test_result_types_follow_spark(name: str, types: list[pa.DataType],
                                   result: pa.DataType) -> None:
    spec = functions.lookup(name)
    assert spec.result_type(types) == result
