"""Date and time functions with Spark's semantics.

Timestamps are naive wall-clock microseconds of the session time zone (the process's local
zone, as ``createDataFrame`` reads Python datetimes); ``unix_timestamp`` and ``from_unixtime``
convert between that wall clock and instants through the zone's rules. Strings given where a
date or timestamp is expected are cast as Spark casts them (invalid text gives null). Patterns
are Spark's (Java) datetime patterns, see :mod:`ember.plan.java_datetime`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan import java_datetime
from ember.plan.arguments import NOT_CONSTANT, constant, ints, nulls_of
from ember.plan.functions import FunctionSpec, register

DEFAULT_FORMAT = "yyyy-MM-dd HH:mm:ss"
_MICROS_PER_DAY = 86_400_000_000


@functools.cache
def session_zone() -> str:
    """The IANA name of the local time zone ("UTC" when it cannot be told)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


def _is_utc(zone: str) -> bool:
    return zone in {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "UCT", "Universal", "Zulu"}


def wall_to_instant_micros(ts: pa.Array, zone: str) -> pa.Array:
    """Microseconds since the epoch of wall-clock timestamps in ``zone``."""
    ts = ts.cast(pa.timestamp("us"))
    if not _is_utc(zone):
        ts = pc.assume_timezone(ts, zone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(ts, pa.int64())


def instant_micros_to_wall(micros: pa.Array, zone: str) -> pa.Array:
    ts = pc.cast(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    if not _is_utc(zone):
        ts = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=zone)))
    return ts.cast(pa.timestamp("us"))


# ---------------------------------------------------------------------------------------------
# Argument types


def _check(name: str, t: pa.DataType, *, allowed: str) -> None:
    ok = (pa.types.is_null(t) or pa.types.is_string(t) or pa.types.is_date(t)
          or pa.types.is_timestamp(t))
    if not ok:
        msg = f"function {name} requires a {allowed}, got {t}"
        raise AnalysisException(msg)


def _as_date(name: str) -> Callable[[pa.DataType], pa.DataType]:
    def target(t: pa.DataType) -> pa.DataType:
        _check(name, t, allowed="date, timestamp or string")
        return pa.date32()

    return target


def _as_timestamp(name: str) -> Callable[[pa.DataType], pa.DataType]:
    def target(t: pa.DataType) -> pa.DataType:
        _check(name, t, allowed="date, timestamp or string")
        return pa.timestamp("us")

    return target


def _date_or_timestamp(name: str) -> Callable[[pa.DataType], pa.DataType]:
    """Dates and timestamps as they are; text as a date (Spark's rule for year(), month()...)."""
    def target(t: pa.DataType) -> pa.DataType:
        _check(name, t, allowed="date, timestamp or string")
        return t if pa.types.is_date(t) or pa.types.is_timestamp(t) else pa.date32()

    return target


def _register(name: str, result: pa.DataType, kernel: Callable[[Sequence[pa.Array]], pa.Array],
              casts: Sequence[Callable[[pa.DataType], pa.DataType]], *, min_args: int | None = None,
              sql: Callable[[list[str]], str] | None = None) -> None:
    def coerce(types: list[pa.DataType]) -> list[pa.DataType]:
        return [cast(t) for cast, t in zip(casts, types, strict=False)]

    register(FunctionSpec(name, lambda _: result, kernel,
                          min_args=len(casts) if min_args is None else min_args,
                          max_args=len(casts), coerce=coerce, sql=sql))


def _int(name: str) -> Callable[[pa.DataType], pa.DataType]:
    def target(t: pa.DataType) -> pa.DataType:
        if not (pa.types.is_integer(t) or pa.types.is_null(t) or pa.types.is_string(t)):
            msg = f"function {name} requires an integer, got {t}"
            raise AnalysisException(msg)
        return pa.int32()

    return target


def _text(_: pa.DataType) -> pa.DataType:
    return pa.string()


# ---------------------------------------------------------------------------------------------
# Fields: year(), month(), ... (int)


def _field(fn: Callable[[pa.Array], pa.Array]) -> Callable[[Sequence[pa.Array]], pa.Array]:
    return lambda args: pc.cast(fn(args[0]), pa.int32())


_FIELDS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "year": pc.year, "month": pc.month, "dayofmonth": pc.day, "day": pc.day,
    "dayofyear": pc.day_of_year, "quarter": pc.quarter, "weekofyear": pc.iso_week,
    # Spark's dayofweek counts from Sunday = 1.
    "dayofweek": lambda a: pc.day_of_week(a, count_from_zero=False, week_start=7),
    # weekday counts from Monday = 0.
    "weekday": pc.day_of_week,
}
for _name, _fn in _FIELDS.items():
    _register(_name, pa.int32(), _field(_fn), [_date_or_timestamp(_name)])
for _name, _fn in (("hour", pc.hour), ("minute", pc.minute), ("second", pc.second)):
    _register(_name, pa.int32(), _field(_fn), [_as_timestamp(_name)])


# ---------------------------------------------------------------------------------------------
# Parsing and formatting


def _by_format(values: pa.Array, fmt: pa.Array,
               fn: Callable[[pa.Array, pa.Array], pa.Array], out_type: pa.DataType) -> pa.Array:
    """``fn`` applied once per distinct format, for formats that differ by row."""
    out = pa.nulls(len(values), out_type)
    for f in pc.unique(fmt).to_pylist():
        if f is not None:
            rows = pc.fill_null(pc.equal(fmt, f), False)
            out = pc.if_else(rows, fn(values, pa.array([f] * len(values))), out)
    return out


def _parse(text: pa.Array, fmt: pa.Array) -> pa.Array:
    """Text parsed with the Java format: timestamp[us] wall clock, null where it does not fit."""
    pattern = constant(fmt)
    if pattern is NOT_CONSTANT:
        return _by_format(text, fmt, _parse, pa.timestamp("us"))
    if pattern is None:
        return pa.nulls(len(text), pa.timestamp("us"))
    micros, offsets = java_datetime.parse_timestamps(text, pattern)
    if offsets is not None:
        instant = pc.subtract(micros, pa.array(offsets * 1_000_000))
        return instant_micros_to_wall(instant, session_zone())
    return micros.cast(pa.timestamp("us"))


def _parse_types(name: str) -> Callable[[list[pa.DataType]], list[pa.DataType]]:
    def coerce(types: list[pa.DataType]) -> list[pa.DataType]:
        t = types[0]
        _check(name, t, allowed="string, date or timestamp")
        if len(types) == 1:
            return [pa.date32() if name == "to_date" else pa.timestamp("us")]
        keep = pa.types.is_date(t) or pa.types.is_timestamp(t)
        return [t if keep else pa.string(), pa.string()]

    return coerce


def _to_date(args: Sequence[pa.Array]) -> pa.Array:
    """to_date(x) is a cast; to_date(text, format) parses with a Java pattern."""
    values = args[0]
    if len(args) == 1 or not pa.types.is_string(values.type):
        return values if pa.types.is_date(values.type) else pc.cast(values, pa.date32(),
                                                                     safe=False)
    return _parse(values, args[1]).cast(pa.date32())


def _to_timestamp(args: Sequence[pa.Array]) -> pa.Array:
    values = args[0]
    if len(args) == 1 or not pa.types.is_string(values.type):
        return values.cast(pa.timestamp("us"))
    return _parse(values, args[1])


register(FunctionSpec("to_date", lambda _: pa.date32(), _to_date, max_args=2,
                      coerce=_parse_types("to_date")))
register(FunctionSpec("to_timestamp", lambda _: pa.timestamp("us"), _to_timestamp, max_args=2,
                      coerce=_parse_types("to_timestamp")))


def _format(values: pa.Array, fmt: pa.Array) -> pa.Array:
    pattern = constant(fmt)
    if pattern is NOT_CONSTANT:
        return _by_format(values, fmt, _format, pa.string())
    if pattern is None:
        return pa.nulls(len(values), pa.string())
    return java_datetime.format_timestamps(values.cast(pa.timestamp("us")), pattern,
                                           session_zone())


_register("date_format", pa.string(), lambda a: _format(a[0], a[1]),
          [_as_timestamp("date_format"), _text])


def _unix_timestamp(args: Sequence[pa.Array]) -> pa.Array:
    """Seconds since the epoch of a timestamp, a date, or text parsed with the format."""
    values = args[0]
    if pa.types.is_string(values.type):
        fmt = args[1] if len(args) > 1 else pa.array([DEFAULT_FORMAT] * len(values))
        values = _parse(values, fmt)
    micros = wall_to_instant_micros(values.cast(pa.timestamp("us")), session_zone())
    seconds = np.floor_divide(ints(micros), 1_000_000)
    return pa.array(seconds, pa.int64(), mask=nulls_of(micros))


def _unix_types(types: list[pa.DataType]) -> list[pa.DataType]:
    t = types[0]
    _check("unix_timestamp", t, allowed="string, date or timestamp")
    keep = pa.types.is_date(t) or pa.types.is_timestamp(t)
    return [t if keep else pa.string(), pa.string()][:len(types)]


for _name in ("unix_timestamp", "to_unix_timestamp"):
    register(FunctionSpec(_name, lambda _: pa.int64(), _unix_timestamp, max_args=2,
                          coerce=_unix_types))


def _from_unixtime(args: Sequence[pa.Array]) -> pa.Array:
    seconds = args[0]
    fmt = args[1] if len(args) > 1 else pa.array([DEFAULT_FORMAT] * len(seconds))
    micros = pc.multiply(pc.cast(seconds, pa.int64()), 1_000_000)
    return _format(instant_micros_to_wall(micros, session_zone()), fmt)


register(FunctionSpec("from_unixtime", lambda _: pa.string(), _from_unixtime, max_args=2,
                      coerce=lambda ts: [pa.int64(), pa.string()][:len(ts)],
                      sql=lambda a: f"from_unixtime({', '.join(a + [DEFAULT_FORMAT][:2 - len(a)])})"))


# ---------------------------------------------------------------------------------------------
# Date arithmetic


def _days(dates: pa.Array) -> np.ndarray:
    return ints(pc.cast(dates.cast(pa.date32()), pa.int32()))


def _dates(days: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32(), mask=null).cast(pa.date32())


def _date_add(sign: int) -> Callable[[Sequence[pa.Array]], pa.Array]:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        start, n = args
        return _dates(_days(start) + sign * ints(n), nulls_of(start, n))

    return kernel


_register("date_add", pa.date32(), _date_add(1), [_as_date("date_add"), _int("date_add")])
_register("date_sub", pa.date32(), _date_add(-1), [_as_date("date_sub"), _int("date_sub")])


def _datediff(args: Sequence[pa.Array]) -> pa.Array:
    end, start = args
    return pa.array((_days(end) - _days(start)).astype(np.int32), pa.int32(),
                    mask=nulls_of(end, start))


_register("datediff", pa.int32(), _datediff, [_as_date("datediff"), _as_date("datediff")])


def _ymd(dates: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ints(pc.year(dates), 1970), ints(pc.month(dates), 1), ints(pc.day(dates), 1)


def _add_months(args: Sequence[pa.Array]) -> pa.Array:
    """Months added to the date; a day past the end of the new month becomes its last day."""
    start, months = args
    y, m, d = _ymd(start)
    total = y * 12 + (m - 1) + ints(months)
    ny, nm = np.floor_divide(total, 12), total % 12 + 1
    nd = np.minimum(d, java_datetime.days_in_month(ny, nm))
    return _dates(java_datetime.days_from_civil(ny, nm, nd), nulls_of(start, months))


_register("add_months", pa.date32(), _add_months, [_as_date("add_months"), _int("add_months")])


def _last_day(args: Sequence[pa.Array]) -> pa.Array:
    y, m, _ = _ymd(args[0])
    last = java_datetime.days_in_month(y, m)
    return _dates(java_datetime.days_from_civil(y, m, last), nulls_of(args[0]))


_register("last_day", pa.date32(), _last_day, [_as_date("last_day")])


def _months_between(args: Sequence[pa.Array]) -> pa.Array:
    """Spark's rule: whole months when both days of month are equal or both are month ends;
    otherwise the difference in days and time over 31-day months, rounded to 8 digits."""
    t1, t2 = args[0].cast(pa.timestamp("us")), args[1].cast(pa.timestamp("us"))
    round_off = constant(args[2]) if len(args) > 2 else True
    y1, m1, d1 = _ymd(t1)
    y2, m2, d2 = _ymd(t2)
    months = (y1 - y2) * 12 + (m1 - m2)
    last1 = d1 == java_datetime.days_in_month(y1, m1)
    last2 = d2 == java_datetime.days_in_month(y2, m2)
    whole = (d1 == d2) | (last1 & last2)
    micros1, micros2 = ints(pc.cast(t1, pa.int64())), ints(pc.cast(t2, pa.int64()))
    time1 = np.mod(micros1, _MICROS_PER_DAY) / 1e6
    time2 = np.mod(micros2, _MICROS_PER_DAY) / 1e6
    seconds = (d1 - d2) * 86_400 + time1 - time2
    diff = np.where(whole, months.astype(np.float64), months + seconds / (31 * 86_400))
    if round_off is NOT_CONSTANT or round_off is None or round_off:
        diff = np.where(whole, diff, np.floor(diff * 1e8 + 0.5) / 1e8)
    null = nulls_of(t1, t2) | (nulls_of(args[2]) if len(args) > 2 else False)
    return pa.array(diff, pa.float64(), mask=null)


_register("months_between", pa.float64(), _months_between,
          [_as_timestamp("months_between"), _as_timestamp("months_between"),
           lambda _: pa.bool_()], min_args=2,
          sql=lambda a: f"months_between({', '.join(a + ['true'][:3 - len(a)])})")


# ---------------------------------------------------------------------------------------------
# Truncation

_TRUNC_UNITS = {
    "year": "year", "yyyy": "year", "yy": "year", "quarter": "quarter", "month": "month",
    "mon": "month", "mm": "month", "week": "week",
}
_DATE_TRUNC_UNITS = {
    **_TRUNC_UNITS, "day": "day", "dd": "day", "hour": "hour", "minute": "minute",
    "second": "second", "millisecond": "millisecond", "microsecond": "microsecond",
}


def _floor(values: pa.Array, unit: str) -> pa.Array:
    if unit == "week":
        return pc.floor_temporal(values, unit="week", week_starts_monday=True)
    return pc.floor_temporal(values, unit=unit)


def _truncated(values: pa.Array, fmt: pa.Array, units: dict[str, str]) -> pa.Array:
    """Truncate to the unit named by ``fmt``; an unknown unit gives null, as Spark."""
    name = constant(fmt)
    if name is NOT_CONSTANT:
        out = pa.nulls(len(values), values.type)
        for n in pc.unique(fmt).to_pylist():
            if n is not None and n.lower() in units:
                out = pc.if_else(pc.equal(fmt, n), _floor(values, units[n.lower()]), out)
        return out
    unit = units.get(name.lower()) if isinstance(name, str) else None
    if unit is None:
        return pa.nulls(len(values), values.type)
    return _floor(values, unit)


_register("trunc", pa.date32(), lambda a: _truncated(a[0], a[1], _TRUNC_UNITS),
          [_as_date("trunc"), _text])
_register("date_trunc", pa.timestamp("us"),
          lambda a: _truncated(a[1], a[0], _DATE_TRUNC_UNITS),
          [_text, _as_timestamp("date_trunc")])
