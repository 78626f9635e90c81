"""Array and map kernels on small Arrow arrays, against values Spark gives."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from ember.plan import functions

NAN = float("nan")
LISTS = pa.array([[3, None, 1], None, [], [2, 2, 5]])


def call(name: str, *columns: Any) -> list[Any]:
    arrays = [c if isinstance(c, pa.Array) else pa.array(c) for c in columns]
    return functions.lookup(name).kernel(arrays).to_pylist()


def a_map() -> pa.Array:
    return functions.lookup("map").kernel([pa.array(["a", "b"]), pa.array([1, 2]),
                                            pa.array(["c", "d"]), pa.array([3, 4])])


CASES = [
    ("size", (LISTS,), [3, -1, 0, 3]),  # null is -1 (spark.sql.legacy.sizeOfNull)
    ("array", (pa.array([1, None]), pa.array([2, 3])), [[1, 2], [None, 3]]),
    ("array_contains", (LISTS, pa.array([1, 1, 1, 9])), [True, None, False, False]),
    ("array_contains", (pa.array([[1, None]]), pa.array([7])), [None]),
    ("array_contains", (pa.array([[1.0, NAN]]), pa.array([NAN])), [True]),
    ("sort_array", (LISTS,), [[None, 1, 3], None, [], [2, 2, 5]]),
    ("sort_array", (LISTS, pa.array([False] * 4)), [[3, 1, None], None, [], [5, 2, 2]]),
    ("element_at", (LISTS, pa.array([1, 1, 1, -1], pa.int32())), [3, None, None, 5]),
    ("element_at", (LISTS, pa.array([-3, 1, 1, 4], pa.int32())), [3, None, None, None]),
    ("get_item", (LISTS, pa.array([0, 0, 0, 2], pa.int32())), [3, None, None, 5]),
    ("get_item", (LISTS, pa.array([-1, 0, 0, 3], pa.int32())), [None, None, None, None]),
    ("array_distinct", (pa.array([[1, 2, 1, None, None, 3], None]),), [[1, 2, None, 3], None]),
    ("array_join", (pa.array([["a", None, "b"], None]), [",", ","]), ["a,b", None]),
    ("array_join", (pa.array([["a", None, "b"]]), ["-"], ["?"]), ["a-?-b"]),
    ("reverse", (LISTS,), [[1, None, 3], None, [], [5, 2, 2]]),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_collection_function_matches_spark(name: str, args: tuple[Any, ...],
                                           expected: list[Any]) -> None:
    assert call(name, *args) == expected


def test_sort_array_orders_nan_above_numbers_and_nulls_by_direction() -> None:
    values = pa.array([[2.0, NAN, None, -1.0]])
    assert repr(call("sort_array", values)) == repr([[None, -1.0, 2.0, NAN]])
    assert repr(call("sort_array", values, [False])) == repr([[NAN, 2.0, -1.0, None]])


def test_element_at_index_zero_is_an_error() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        call("element_at", LISTS, pa.array([0, 1, 1, 1], pa.int32()))


def test_maps_are_built_and_looked_up_by_key() -> None:
    m = a_map()
    assert m.to_pylist() == [[("a", 1), ("c", 3)], [("b", 2), ("d", 4)]]
    assert call("element_at", m, ["c", "zz"]) == [3, None]
    assert call("get_item", m, ["a", "b"]) == [1, 2]
    assert call("map_keys", m) == [["a", "c"], ["b", "d"]]
    assert call("map_values", m) == [[1, 3], [2, 4]]
    assert call("size", m) == [2, 2]


def test_map_keys_of_a_sliced_map_array() -> None:
    m = a_map().slice(1)
    assert call("map_keys", m) == [["b", "d"]]
    assert call("element_at", m, ["d"]) == [4]


def test_null_map_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="null as map key"):
        functions.lookup("map").kernel([pa.array([None], pa.string()), pa.array([1])])
