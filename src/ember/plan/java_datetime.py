"""Spark's datetime patterns (Java's ``DateTimeFormatter`` letters: ``yyyy-MM-dd HH:mm:ss``).

Formatting builds each field of the pattern as a string column and joins them, so unpadded
fields (``d``, ``M``), fractions (``SSS``), names (``MMM``, ``EEEE``) and quoted text all work
without a per-row loop. Parsing turns the pattern into an anchored regular expression with one
named group per field, as Spark's parser must consume the whole text: fixed-width fields (``MM``,
``dd``, ``HH``) take exactly two digits, single letters one or two, month names match in any case,
and text that does not fit, or a date that does not exist (February 30), gives null.

Supported letters: ``G y u D M L d Q q E a h K k H m s S`` and the zone offsets ``X x Z``
(``z`` and ``V`` print the session time zone). Text in single quotes is literal; ``''`` is a
quote; ``[`` and ``]`` (optional sections) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.plan.arguments import ints

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_LETTERS = set("GyuDMLdQqEahKkHmsSXxZzVO")


@dataclass(frozen=True)
class Field:
    letter: str
    width: int


Token = Field | str


def tokenize(pattern: str) -> list[Token]:
    """Pattern letters as :class:`Field` runs, everything else as literal text."""
    out: list[Token] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:
                out.append("'")
                i += 2
                continue
            if end < 0:
                msg = f"unterminated quote in the datetime pattern {pattern!r}"
                raise ValueError(msg)
            out.append(pattern[i + 1:end].replace("''", "'"))
            i = end + 1
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            if ch not in _LETTERS:
                msg = (f"the datetime pattern letter {ch!r} in {pattern!r} is not supported\n\n"
                       "see Spark's datetime pattern reference for the supported letters")
                raise ValueError(msg)
            out.append(Field(ch, j - i))
            i = j
        elif ch in "[]":
            i += 1
        else:
            out.append(ch)
            i += 1
    return out


# ---------------------------------------------------------------------------------------------
# Formatting


def _padded(values: pa.Array, width: int) -> pa.Array:
    text = pc.cast(values, pa.string())
    return pc.utf8_lpad(text, width, "0") if width > 1 else text


def _names(index: pa.Array, names: list[str]) -> pa.Array:
    return pa.array(names).take(index)


def format_timestamps(ts: pa.Array, pattern: str, zone: str) -> pa.Array:
    """``ts`` (timestamp[us], wall clock of ``zone``) as text in the Java ``pattern``."""
    ts = ts.cast(pa.timestamp("us"))
    parts: list[pa.Array | str] = []
    for token in tokenize(pattern):
        if isinstance(token, str):
            parts.append(token)
        else:
            parts.append(_format_field(ts, token, zone))
    if not parts:
        return pc.if_else(pc.is_null(ts), pa.scalar(None, pa.string()), "")
    arrays = [p if isinstance(p, pa.Array) else pa.array([p] * len(ts), pa.string())
              for p in parts]
    out = pc.binary_join_element_wise(*arrays, "")
    return pc.if_else(pc.is_null(ts), pa.scalar(None, pa.string()), out)


def _format_field(ts: pa.Array, field: Field, zone: str) -> pa.Array:
    letter, width = field.letter, field.width
    if letter in "yu":
        year = pc.year(ts)
        if width == 2:
            return _padded(_mod(year, 100), 2)
        return _padded(year, width)
    if letter == "G":
        return pa.array(["AD"] * len(ts))
    if letter in "ML":
        month = pc.month(ts)
        if width >= 3:
            names = MONTHS if width == 4 else [m[:1] if width == 5 else m[:3] for m in MONTHS]
            return _names(pc.subtract(month, 1), names)
        return _padded(month, width)
    if letter == "d":
        return _padded(pc.day(ts), width)
    if letter == "D":
        return _padded(pc.day_of_year(ts), width)
    if letter in "Qq":
        quarter = pc.quarter(ts)
        if width == 3:
            return pc.binary_join_element_wise("Q", pc.cast(quarter, pa.string()), "")
        if width >= 4:
            return _names(pc.subtract(quarter, 1),
                          ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"])
        return _padded(quarter, width)
    if letter == "E":
        dow = pc.day_of_week(ts)  # Monday = 0
        names = DAYS if width == 4 else [d[:1] if width == 5 else d[:3] for d in DAYS]
        return _names(dow, names)
    if letter == "a":
        return pc.if_else(pc.less(pc.hour(ts), 12), "AM", "PM")
    if letter in "HkKh":
        hour = pc.hour(ts)
        if letter == "k":
            hour = pc.if_else(pc.equal(hour, 0), 24, hour)
        elif letter in "Kh":
            hour = _mod(hour, 12)
            if letter == "h":
                hour = pc.if_else(pc.equal(hour, 0), 12, hour)
        return _padded(hour, width)
    if letter == "m":
        return _padded(pc.minute(ts), width)
    if letter == "s":
        return _padded(pc.second(ts), width)
    if letter == "S":
        micros = pc.add(pc.multiply(pc.millisecond(ts), 1000), pc.microsecond(ts))
        six = _padded(micros, 6)
        return pc.utf8_slice_codeunits(pc.utf8_rpad(six, max(width, 6), "0"), 0, width)
    return _format_zone(ts, field, zone)


def _mod(values: pa.Array, n: int) -> pa.Array:
    v = ints(values)
    return pa.array(v % n, mask=pc.is_null(values).to_numpy(zero_copy_only=False))


def _format_zone(ts: pa.Array, field: Field, zone: str) -> pa.Array:
    letter, width = field.letter, field.width
    if letter in "zV":
        return pa.array([zone] * len(ts))
    if zone == "UTC":
        offsets = pa.array(["+0000"] * len(ts))
    else:
        local = pc.assume_timezone(ts, zone, ambiguous="earliest", nonexistent="earliest")
        offsets = pc.strftime(local, format="%z")
    sign_hours = pc.utf8_slice_codeunits(offsets, 0, 3)
    minutes = pc.utf8_slice_codeunits(offsets, 3, 5)
    colon = pc.binary_join_element_wise(sign_hours, minutes, ":")
    if letter == "O":
        return pc.binary_join_element_wise("GMT", colon, "")
    if letter == "Z":
        return offsets if width < 4 else pc.binary_join_element_wise("GMT", colon, "")
    text = {1: sign_hours, 2: offsets}.get(width, colon)
    if letter == "X":
        return pc.if_else(pc.equal(offsets, "+0000"), "Z", text)
    return text


# ---------------------------------------------------------------------------------------------
# Parsing

_DIGITS = {1: r"\d{1,2}", 2: r"\d{2}"}


def _month_names(width: int) -> str:
    names = MONTHS if width >= 4 else [m[:3] for m in MONTHS]
    return "(?i:" + "|".join(names) + ")"


def parsing_regex(pattern: str) -> tuple[str, list[Field]]:
    """An anchored regular expression with one named group per field (``f0``, ``f1``...)."""
    fields: list[Field] = []
    parts = ["^"]
    for token in tokenize(pattern):
        if isinstance(token, str):
            parts.append(re.escape(token))
            continue
        letter, width = token.letter, token.width
        if letter in "yu":
            body = {1: r"\d{1,4}", 2: r"\d{2}", 3: r"\d{3,4}"}.get(width, rf"\d{{{width}}}")
        elif letter in "ML" and width >= 3:
            body = _month_names(width)
        elif letter in "dHhKkmsMLQq":
            body = _DIGITS.get(width, rf"\d{{{width}}}")
        elif letter == "D":
            body = r"\d{1,3}" if width < 3 else r"\d{3}"
        elif letter == "S":
            body = rf"\d{{1,{width}}}"
        elif letter == "a":
            body = "(?i:am|pm)"
        elif letter == "E":
            body = "(?i:" + "|".join(DAYS + [d[:3] for d in DAYS]) + ")"
        elif letter in "XxZO":
            body = r"Z|[+-]\d{2}(?::?\d{2})?"
        elif letter == "G":
            body = "(?i:AD|BC)"
        else:
            msg = f"parsing the datetime pattern letter {letter!r} is not supported"
            raise ValueError(msg)
        parts.append(f"(?P<f{len(fields)}>{body})")
        fields.append(token)
    parts.append("$")
    return "".join(parts), fields


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the proleptic Gregorian dates (y, m, d)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 1, 12) - 1]
    return base + ((m == 2) & leap)


def parse_timestamps(text: pa.Array, pattern: str) -> tuple[pa.Array, np.ndarray | None]:
    """Parse ``text`` with the Java ``pattern``: microseconds since the epoch of the written wall
    clock (null where the text does not fit), and the written zone offsets in seconds (None if
    the pattern has no offset field)."""
    regex, fields = parsing_regex(pattern)
    n = len(text)
    matched = pc.fill_null(pc.match_substring_regex(text, pattern=regex), False)
    ok = np.asarray(matched.to_numpy(zero_copy_only=False), dtype=bool)
    if not fields:
        parts = None
    else:
        parts = pc.extract_regex(pc.if_else(matched, text, pa.scalar(None, pa.string())),
                                 pattern=regex)
    year = np.full(n, 1970, dtype=np.int64)
    month = np.ones(n, dtype=np.int64)
    day = np.ones(n, dtype=np.int64)
    day_of_year: np.ndarray | None = None
    hour = np.zeros(n, dtype=np.int64)
    minute = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    micros = np.zeros(n, dtype=np.int64)
    pm: np.ndarray | None = None
    twelve_hour = False
    offset: np.ndarray | None = None
    for i, f in enumerate(fields):
        assert parts is not None
        raw = pc.fill_null(pc.struct_field(parts, f"f{i}"), "")
        letter, width = f.letter, f.width
        if letter in "ML" and width >= 3:
            names = [m.lower() if width >= 4 else m[:3].lower() for m in MONTHS]
            month = ints(pc.index_in(pc.utf8_lower(raw), value_set=pa.array(names)), -1) + 1
        elif letter == "a":
            pm = np.asarray(pc.equal(pc.utf8_lower(raw), "pm").to_numpy(zero_copy_only=False))
        elif letter in "EGQq":
            continue
        elif letter in "XxZO":
            offset = _offsets(raw)
        elif letter == "S":
            digits = pc.utf8_slice_codeunits(pc.utf8_rpad(raw, 6, "0"), 0, 6)
            micros = _to_ints(digits)
        else:
            value = _to_ints(raw)
            if letter in "yu":
                year = value + 2000 if width == 2 else value
            elif letter == "D":
                day_of_year = value
            elif letter == "d":
                day = value
            elif letter in "ML":
                month = value
            elif letter in "Hk":
                hour = np.where(value == 24, 0, value) if letter == "k" else value
            elif letter in "hK":
                hour = value % 12 if letter == "h" else value
                twelve_hour = True
            elif letter == "m":
                minute = value
            elif letter == "s":
                second = value
    if twelve_hour and pm is not None:
        hour = hour + np.where(pm, 12, 0)
    if day_of_year is not None:
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        ok &= (day_of_year >= 1) & (day_of_year <= 365 + leap)
        days = days_from_civil(year, np.ones(n, np.int64), np.ones(n, np.int64)) + \
            day_of_year - 1
    else:
        ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month(year, month))
        days = days_from_civil(year, np.clip(month, 1, 12), day)
    ok &= (hour >= 0) & (hour < 24) & (minute < 60) & (second < 60)
    value = ((days * 24 + hour) * 60 + minute) * 60 + second
    out = pa.array(np.where(ok, value * 1_000_000 + micros, 0), pa.int64(), mask=~ok)
    return out, offset


def _to_ints(raw: pa.Array) -> np.ndarray:
    cleaned = pc.if_else(pc.equal(raw, ""), "0", raw)
    return ints(pc.cast(cleaned, pa.int64()))


def _offsets(raw: pa.Array) -> np.ndarray:
    """Seconds east of UTC of offsets written as Z, +hh, +hhmm or +hh:mm."""
    text = pc.replace_substring(pc.if_else(pc.equal(raw, "Z"), "+00:00", raw), ":", "")
    sign = np.where(np.asarray(pc.starts_with(text, "-").to_numpy(zero_copy_only=False)), -1, 1)
    hours = _to_ints(pc.utf8_slice_codeunits(text, 1, 3))
    minutes = _to_ints(pc.utf8_slice_codeunits(text, 3, 5))
    return sign * (hours * 3600 + minutes * 60)
