"""Date and time kernels on small Arrow arrays, against values Spark gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from ember.plan import functions, java_datetime

D = dt.date
T = dt.datetime


def call(name: str, *columns: Any) -> list[Any]:
    arrays = [c if isinstance(c, pa.Array) else pa.array(c) for c in columns]
    return functions.lookup(name).kernel(arrays).to_pylist()


PARSE = [
    ("2024-02-29", "yyyy-MM-dd", D(2024, 2, 29)),
    ("29/02/2024", "dd/MM/yyyy", D(2024, 2, 29)),
    ("29/02/2023", "dd/MM/yyyy", None),  # no such day
    ("1/3/2024", "d/M/yyyy", D(2024, 3, 1)),
    ("1/3/2024", "dd/MM/yyyy", None),  # two-digit fields need two digits
    ("2024-02-29 extra", "yyyy-MM-dd", None),  # the whole text must fit
    ("05 Mar 24", "dd MMM yy", D(2024, 3, 5)),
    ("March 5, 2024", "MMMM d, yyyy", D(2024, 3, 5)),
    ("2024.060", "yyyy.DDD", D(2024, 2, 29)),
    (None, "yyyy-MM-dd", None),
]


@pytest.mark.parametrize(("text", "pattern", "expected"), PARSE)
def test_to_date_parses_java_patterns(text: str | None, pattern: str, expected: Any) -> None:
    assert call("to_date", pa.array([text], pa.string()), [pattern]) == [expected]


TIMESTAMPS = [
    ("2024-02-29 13:05:09.123", "yyyy-MM-dd HH:mm:ss.SSS", T(2024, 2, 29, 13, 5, 9, 123000)),
    ("07/04/2021 1:02 PM", "MM/dd/yyyy h:mm a", T(2021, 7, 4, 13, 2)),
    ("07/04/2021 12:02 am", "MM/dd/yyyy hh:mm a", T(2021, 7, 4, 0, 2)),
    ("2021-07-04T10:00:00", "yyyy-MM-dd'T'HH:mm:ss", T(2021, 7, 4, 10, 0)),
    ("2021-07-04 25:00:00", "yyyy-MM-dd HH:mm:ss", None),
]


@pytest.mark.parametrize(("text", "pattern", "expected"), TIMESTAMPS)
def test_to_timestamp_parses_java_patterns(text: str, pattern: str, expected: Any) -> None:
    assert call("to_timestamp", [text], [pattern]) == [expected]


STAMP = T(2024, 3, 5, 14, 7, 9, 123456)
FORMATS = [
    ("yyyy-MM-dd HH:mm:ss", "2024-03-05 14:07:09"),
    ("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 14:07:09.123"),
    ("d/M/yy", "5/3/24"),
    ("EEE, d MMM yyyy hh:mm a", "Tue, 5 Mar 2024 02:07 PM"),
    ("EEEE MMMM dd", "Tuesday March 05"),
    ("'Q'Q D 'day'", "Q1 65 day"),
    ("yyyyMMdd'T'HHmmss.SSSSSS", "20240305T140709.123456"),
    ("H k K h", "14 14 2 2"),
]


@pytest.mark.parametrize(("pattern", "expected"), FORMATS)
def test_date_format_writes_java_patterns(pattern: str, expected: str) -> None:
    assert call("date_format", pa.array([STAMP, None]), [pattern] * 2) == [expected, None]


def test_unsupported_pattern_letters_are_reported() -> None:
    with pytest.raises(ValueError, match="not supported"):
        java_datetime.tokenize("yyyy-ww")


DATES = pa.array([D(2024, 1, 31), D(2024, 2, 29), D(2023, 12, 31), None])
CASES = [
    ("year", (DATES,), [2024, 2024, 2023, None]),
    ("month", (DATES,), [1, 2, 12, None]),
    ("dayofmonth", (DATES,), [31, 29, 31, None]),
    ("dayofweek", (DATES,), [4, 5, 1, None]),  # Sunday is 1
    ("dayofyear", (DATES,), [31, 60, 365, None]),
    ("weekofyear", (DATES,), [5, 9, 52, None]),
    ("quarter", (DATES,), [1, 1, 4, None]),
    ("last_day", (DATES,), [D(2024, 1, 31), D(2024, 2, 29), D(2023, 12, 31), None]),
    ("add_months", (DATES, pa.array([1, 12, 2, 1], pa.int32())),
     [D(2024, 2, 29), D(2025, 2, 28), D(2024, 2, 29), None]),
    ("add_months", (pa.array([D(2024, 3, 31)]), pa.array([-1], pa.int32())), [D(2024, 2, 29)]),
    ("date_add", (DATES, pa.array([1, 1, 1, 1], pa.int32())),
     [D(2024, 2, 1), D(2024, 3, 1), D(2024, 1, 1), None]),
    ("date_sub", (pa.array([D(2024, 3, 1)]), pa.array([1], pa.int32())), [D(2024, 2, 29)]),
    ("datediff", (pa.array([D(2024, 3, 1), D(2024, 1, 1)]), pa.array([D(2024, 2, 1)] * 2)),
     [29, -31]),
    ("trunc", (DATES, ["month"] * 4), [D(2024, 1, 1), D(2024, 2, 1), D(2023, 12, 1), None]),
    ("trunc", (DATES, ["year"] * 4), [D(2024, 1, 1), D(2024, 1, 1), D(2023, 1, 1), None]),
    ("trunc", (DATES, ["quarter"] * 4), [D(2024, 1, 1), D(2024, 1, 1), D(2023, 10, 1), None]),
    ("trunc", (DATES, ["week"] * 4), [D(2024, 1, 29), D(2024, 2, 26), D(2023, 12, 25), None]),
    ("trunc", (DATES, ["day"] * 4), [None] * 4),  # not a unit of trunc
    ("date_trunc", (["hour", "HOUR"], pa.array([STAMP, None])), [T(2024, 3, 5, 14), None]),
    ("date_trunc", (["month"], pa.array([STAMP])), [T(2024, 3, 1)]),
    ("hour", (pa.array([STAMP]),), [14]),
    ("minute", (pa.array([STAMP]),), [7]),
    ("second", (pa.array([STAMP]),), [9]),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_date_function_matches_spark(name: str, args: tuple[Any, ...], expected: list[Any]) -> None:
    assert call(name, *args) == expected


MONTHS_BETWEEN = [
    # Spark's documented example.
    (T(1997, 2, 28, 10, 30), T(1996, 10, 30), 3.94959677),
    # Both ends of months: whole months, times ignored.
    (T(2024, 3, 31, 12), T(2024, 2, 29), 1.0),
    # The same day of month: whole months.
    (T(2024, 3, 15, 23), T(2024, 1, 15, 1), 2.0),
    (T(2024, 3, 15), T(2024, 2, 1), 1.4516129),
    (T(2024, 2, 1), T(2024, 3, 15), -1.4516129),
]


@pytest.mark.parametrize(("a", "b", "expected"), MONTHS_BETWEEN)
def test_months_between_follows_sparks_month_end_and_rounding_rules(
        a: T, b: T, expected: float) -> None:
    assert call("months_between", pa.array([a]), pa.array([b])) == [expected]


def test_months_between_without_rounding_keeps_all_digits() -> None:
    out = call("months_between", pa.array([T(1997, 2, 28, 10, 30)]), pa.array([T(1996, 10, 30)]),
               [False])
    assert out[0] != 3.94959677 and round(out[0], 8) == 3.94959677


def test_unix_time_round_trips_through_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from ember.plan import datetime_functions

    monkeypatch.setattr(datetime_functions, "session_zone", lambda: "UTC")
    assert call("unix_timestamp", ["1970-01-02 00:00:00", "nonsense"],
                ["yyyy-MM-dd HH:mm:ss"] * 2) == [86400, None]
    assert call("from_unixtime", pa.array([0, 86400 * 366, None]),
                ["yyyy-MM-dd HH:mm:ss"] * 3) == ["1970-01-01 00:00:00", "1971-01-02 00:00:00",
                                                 None]
    assert call("unix_timestamp", pa.array([T(1969, 12, 31, 23, 59, 59, 500000)])) == [-1]


def test_unix_time_uses_the_session_zone_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from ember.plan import datetime_functions

    monkeypatch.setattr(datetime_functions, "session_zone", lambda: "America/New_York")
    # 2024-07-01 is in daylight saving time (UTC-4), 2024-01-01 is not (UTC-5).
    assert call("unix_timestamp", pa.array([T(2024, 7, 1), T(2024, 1, 1)])) == [
        1719806400, 1704085200]
    assert call("from_unixtime", pa.array([1719806400]), ["yyyy-MM-dd HH:mm XXX"]) == [
        "2024-07-01 00:00 -04:00"]
