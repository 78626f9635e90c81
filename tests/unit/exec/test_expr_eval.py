from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

from ember.exec.expr_eval import spark_cast

# (text, Spark's CAST(text AS INT)) in non-ANSI mode
TEXT_TO_INT = [
    ("123", 123), (" 42 ", 42), ("+7", 7), ("-45", -45), ("007", 7),
    ("3.7", 3), ("-2.5", -2), ("3.", 3), (".5", 0),
    ("1e2", None), ("1.5d", None), ("x12", None), ("", None), ("+", None), ("-", None),
    ("2147483647", 2147483647), ("2147483648", None), ("-2147483648", -2147483648),
    ("99999999999999999999999", None), (None, None),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_TO_INT)
def test_cast_text_to_int_truncates_fraction_and_nulls_invalid_or_overflowing_text(
        text: str | None, expected: int | None) -> None:
    assert spark_cast(pa.array([text], pa.string()), pa.int32()).to_pylist() == [expected]


def test_cast_text_to_long_and_byte_check_their_own_range() -> None:
    texts = pa.array(["2147483648", "9223372036854775807", "9223372036854775808", "127", "128"])
    assert spark_cast(texts, pa.int64()).to_pylist() == [
        2147483648, 9223372036854775807, None, 127, 128]
    assert spark_cast(texts, pa.int8()).to_pylist() == [None, None, None, 127, None]


TEXT_TO_DATE = [
    ("2024-01-05", datetime.date(2024, 1, 5)),
    (" 2024-1-5 ", datetime.date(2024, 1, 5)),
    ("2024-01-05 10:30:00", datetime.date(2024, 1, 5)),
    ("2024-01-05T10:30", datetime.date(2024, 1, 5)),
    ("2024-07", datetime.date(2024, 7, 1)),
    ("2024", datetime.date(2024, 1, 1)),
    ("2024-02-29", datetime.date(2024, 2, 29)),
    ("2023-02-29", None), ("2024-02-30", None), ("2024-13-01", None), ("2024-01-00", None),
    ("2024-01-05x", None), ("not a date", None), ("", None), (None, None),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_TO_DATE)
def test_cast_text_to_date_follows_spark_and_nulls_days_the_month_lacks(
        text: str | None, expected: datetime.date | None) -> None:
    assert spark_cast(pa.array([text], pa.string()), pa.date32()).to_pylist() == [expected]


NAN = float("nan")


def _compare(op: str, left: list[float | None], right: list[float | None]) -> list[bool | None]:
    from ember.exec.expr_eval import evaluate
    from ember.plan.expressions import AttributeReference, BinaryOp

    a, b = AttributeReference("a", pa.float64()), AttributeReference("b", pa.float64())
    batch = pa.table({a.key: pa.array(left, pa.float64()), b.key: pa.array(right, pa.float64())})
    return evaluate(BinaryOp(op, a, b), batch).to_pylist()


LEFT = [NAN, NAN, NAN, 1.0, -0.0, None, NAN]
RIGHT = [NAN, 1.0, float("inf"), NAN, 0.0, NAN, None]


@pytest.mark.parametrize(("op", "expected"), [
    ("=", [True, False, False, False, True, None, None]),
    ("!=", [False, True, True, True, False, None, None]),
    ("<", [False, False, False, True, False, None, None]),
    ("<=", [True, False, False, True, True, None, None]),
    (">", [False, True, True, False, False, None, None]),
    (">=", [True, True, True, False, True, None, None]),
    ("<=>", [True, False, False, False, True, False, False]),
])
def test_double_comparisons_treat_nan_as_equal_to_itself_and_above_infinity(
        op: str, expected: list[bool | None]) -> None:
    assert _compare(op, LEFT, RIGHT) == expected


def test_normalize_floats_merges_signed_zeros_and_nans() -> None:
    from ember.exec.expr_eval import normalize_floats

    out = normalize_floats(pa.array([-0.0, 0.0, NAN, -NAN, None, 1.5]))
    values = out.to_pylist()
    assert [str(v) for v in values] == ["0.0", "0.0", "nan", "nan", "None", "1.5"]


def test_cast_double_to_integers_saturates_like_java() -> None:
    values = pa.array([1e300, float("-inf"), NAN, None, -2.7, 40000.0, 300.0])
    assert spark_cast(values, pa.int64()).to_pylist() == [
        2**63 - 1, -(2**63), 0, None, -2, 40000, 300]
    assert spark_cast(values, pa.int32()).to_pylist() == [
        2**31 - 1, -(2**31), 0, None, -2, 40000, 300]
    # tinyint and smallint keep the low bits of the saturated int, as Java's (short)(int) x
    assert spark_cast(values, pa.int16()).to_pylist() == [-1, 0, 0, None, -2, -25536, 300]
    assert spark_cast(values, pa.int8()).to_pylist() == [-1, 0, 0, None, -2, 64, 44]
