"""Sort keys with per-key null placement, range bounds and range partition ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ember.exec.sorting import compute_bounds, order_indices, range_partition_ids
from ember.plan.expressions import AttributeReference, SortOrder

A = AttributeReference("a", pa.int64())
B = AttributeReference("b", pa.string())


def _order(asc: bool = True, nulls_first: bool | None = None, attr=A) -> SortOrder:  # type: ignore[no-untyped-def]
    return SortOrder(attr, asc, nulls_first)


@pytest.mark.parametrize(("asc", "nulls_first", "expected"), [
    (True, None, [None, None, 1, 2, 3]),     # Spark: ascending puts nulls first
    (False, None, [3, 2, 1, None, None]),    # descending puts nulls last
    (True, False, [1, 2, 3, None, None]),
    (False, True, [None, None, 3, 2, 1]),
])
def test_order_indices_places_nulls_per_key(asc, nulls_first, expected) -> None:  # type: ignore[no-untyped-def]
    values = pa.array([3, None, 1, None, 2])
    idx = order_indices([values], [_order(asc, nulls_first)])
    assert values.take(idx).to_pylist() == expected


def test_order_indices_mixes_directions_and_breaks_ties() -> None:
    a = pa.array([1, 1, 2, 2, None])
    b = pa.array(["x", "y", None, "x", "z"])
    idx = order_indices([a, b], [_order(False, False), _order(True, False, B)],
                        pa.array([0, 1, 2, 3, 4])).to_pylist()
    assert idx == [3, 2, 0, 1, 4]


def test_compute_bounds_splits_a_sample_into_equal_ranges() -> None:
    sample = pa.table({"k0": pa.array(np.arange(100, dtype=np.int64))})
    bounds = compute_bounds(sample, [_order()], 4)
    assert bounds.column(0).to_pylist() == [25, 50, 75]


def test_compute_bounds_drops_repeated_bounds() -> None:
    sample = pa.table({"k0": pa.array([5] * 50 + [7] * 50, pa.int64())})
    assert compute_bounds(sample, [_order()], 4).column(0).to_pylist() == [5, 7]


def test_range_partition_ids_follow_the_bounds_with_ties_to_the_lower_range() -> None:
    bounds = pa.table({"k0": pa.array([10, 20], pa.int64())})
    keys = pa.array([0, 10, 11, 20, 25, None], pa.int64())
    pids = range_partition_ids([keys], [_order()], bounds)
    # nulls sort first when ascending, so they belong to the first range
    assert pids.tolist() == [0, 0, 1, 1, 2, 0]
    pids_desc = range_partition_ids([keys], [_order(False)],
                                    pa.table({"k0": pa.array([20, 10], pa.int64())}))
    assert pids_desc.tolist() == [2, 1, 1, 0, 0, 2]


def test_range_partitions_concatenate_to_a_sorted_order() -> None:
    rng = np.random.default_rng(3)
    values = pa.array(rng.integers(0, 1000, 5000))
    orders = [_order()]
    bounds = compute_bounds(pa.table({"k0": values.take(pa.array(rng.integers(0, 5000, 300)))}),
                            orders, 8)
    pids = range_partition_ids([values], orders, bounds)
    parts = [np.sort(values.to_numpy()[pids == p]) for p in range(8)]
    assert np.array_equal(np.concatenate(parts), np.sort(values.to_numpy()))
    assert sum(len(p) > 0 for p in parts) >= 6
