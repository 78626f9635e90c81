from __future__ import annotations

import math

import pyarrow as pa
import pytest

from ember.plan import functions


def _round(name: str, values: list[float | None], digits: int) -> list[float | None]:
    kernel = functions.lookup(name).kernel
    arr = pa.array(values, pa.float64())
    return kernel([arr, pa.array([digits] * len(arr), pa.int32())]).to_pylist()


@pytest.mark.parametrize(("name", "values", "digits", "expected"), [
    # 1.005 is stored just below 1.005; Spark rounds the printed decimal, so it goes up.
    ("round", [1.005, 2.675, -0.285, 0.125, 1.15], 2, [1.01, 2.68, -0.29, 0.13, 1.15]),
    ("bround", [1.005, 2.675, -0.285, 0.125, 0.135], 2, [1.0, 2.68, -0.28, 0.12, 0.14]),
    ("round", [2.5, -2.5, 0.49999999999999994, None], 0, [3.0, -3.0, 0.0, None]),
    ("round", [1234.5, -1250.0], -2, [1200.0, -1300.0]),
    ("round", [1e300, float("inf"), 123456789.123], 1, [1e300, float("inf"), 123456789.1]),
])
def test_round_works_on_the_decimal_java_prints(name: str, values: list[float | None],
                                                digits: int,
                                                expected: list[float | None]) -> None:
    assert _round(name, values, digits) == expected


def test_round_keeps_nan() -> None:
    assert math.isnan(_round("round", [float("nan")], 2)[0])
