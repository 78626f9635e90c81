"""A hash of Python keys that every process agrees on, for partitioning RDDs.

Python's ``hash()`` of ``str`` and ``bytes`` is salted per process (``PYTHONHASHSEED``), so two
executors would send the same key to different reducers. ``portable_hash`` depends only on the
value: every process, run and machine computes the same result.

Keys that compare equal must land in the same partition, since the reduce side merges them in a
dict. So ``True``, ``1``, ``1.0`` and ``Decimal("1")`` hash alike, as ``-0.0`` and ``0.0`` do.

How a value is hashed:

- ``None``: a constant.
- ``bool``, ``int`` and integral ``float``/``Decimal``: the integer, through the splitmix64
  finaliser (integers beyond 64 bits through their bytes).
- other ``float``: the bits of the float; every NaN is one canonical NaN.
- ``str``: a BLAKE2b digest of the UTF-8 bytes; ``bytes``/``bytearray``/``memoryview``: of the
  bytes, with another tag.
- ``tuple`` (so namedtuples and ``Row``): the element hashes folded in order.
- ``frozenset``: the element hashes summed, so the iteration order does not matter.
- ``datetime.date``/``datetime.datetime``/``datetime.time``/``datetime.timedelta``: their fields.

Anything else raises ``TypeError``: falling back to ``hash()`` could silently split one key
across partitions.

>>> portable_hash(None) == portable_hash(None)
True
>>> portable_hash(1) == portable_hash(1.0) == portable_hash(True)
True
>>> portable_hash(("a", 1)) == portable_hash(("a", 1))
True
>>> portable_hash(frozenset({1, 2})) == portable_hash(frozenset({2, 1}))
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct
from decimal import Decimal
from typing import Any

__all__ = ["portable_hash"]

_MASK = (1 << 64) - 1
_NONE = 0x2545F4914F6CDD1D
_NAN = 0x7FF8000000000000
_K_COMBINE = 0x9E3779B97F4A7C15
_TUPLE_SEED = 0x27D4EB2F165667C5
_SET_SEED = 0x165667B19E3779F9
_BIG_INT = b"i"
_STR = b"s"
_BYTES = b"b"
_DECIMAL = b"d"


def _mix(x: int) -> int:
    """The splitmix64 finaliser: spreads every input bit over the 64-bit result."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _digest(tag: bytes, data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=tag).digest(), "little")


def _int_hash(n: int) -> int:
    if -(1 << 63) <= n < (1 << 63):
        return _mix(n & _MASK)
    length = (n.bit_length() + 8) // 8
    return _digest(_BIG_INT, n.to_bytes(length, "little", signed=True))


def _float_hash(x: float) -> int:
    if math.isnan(x):
        return _mix(_NAN)
    if x.is_integer():  # also folds -0.0 into 0
        return _int_hash(int(x))
    return _mix(struct.unpack("<q", struct.pack("<d", x))[0] & _MASK)


def _decimal_hash(d: Decimal) -> int:
    if d.is_nan():
        return _mix(_NAN)
    if d.is_infinite() or d == d.to_integral_value():
        return _float_hash(float(d)) if d.is_infinite() else _int_hash(int(d))
    f = float(d)
    if Decimal(f) == d:  # equal to a float, so it must hash as that float
        return _float_hash(f)
    return _digest(_DECIMAL, str(d.normalize()).encode())


def _fold(seed: int, hashes: Any) -> int:
    h = _mix(seed)
    for x in hashes:
        h = _mix((h * _K_COMBINE + x) & _MASK)
    return h


def _hash(value: Any) -> int:
    # Exact type checks first: they are the common keys and the cheapest tests.
    kind = type(value)
    if kind is str:
        return _digest(_STR, value.encode("utf-8", "surrogatepass"))
    if kind is int or kind is bool:
        return _int_hash(int(value))
    if value is None:
        return _mix(_NONE)
    if kind is float:
        return _float_hash(value)
    if isinstance(value, tuple):
        return _fold(_TUPLE_SEED + len(value), (_hash(v) for v in value))
    if isinstance(value, bytes | bytearray | memoryview):
        return _digest(_BYTES, bytes(value))
    if isinstance(value, bool | int):
        return _int_hash(int(value))
    if isinstance(value, float):
        return _float_hash(float(value))
    if isinstance(value, str):
        return _digest(_STR, str(value).encode("utf-8", "surrogatepass"))
    if isinstance(value, frozenset):
        return _mix(_SET_SEED + sum(_hash(v) for v in value))
    if isinstance(value, Decimal):
        return _decimal_hash(value)
    if isinstance(value, dt.datetime):
        return _fold(1, (_int_hash(v) for v in _datetime_fields(value)))
    if isinstance(value, dt.date):
        return _fold(2, (_int_hash(value.toordinal()),))
    if isinstance(value, dt.time):
        return _fold(3, (_int_hash(v) for v in (value.hour, value.minute, value.second,
                                                 value.microsecond, _offset(value))))
    if isinstance(value, dt.timedelta):
        return _fold(4, (_int_hash(v) for v in (value.days, value.seconds, value.microseconds)))
    msg = (f"cannot hash a key of type {kind.__name__} portably\n\n"
           "use keys of type None, bool, int, float, str, bytes, tuple, frozenset, Decimal or "
           "datetime, or pass partitionFunc=... to the operation")
    raise TypeError(msg)


def _offset(value: dt.time | dt.datetime) -> int:
    off = value.utcoffset()
    return 0 if off is None else int(off.total_seconds() * 1_000_000)


def _datetime_fields(value: dt.datetime) -> tuple[int, ...]:
    # Aware datetimes that are equal compare by their UTC instant, so hash that instant.
    if value.tzinfo is not None and value.utcoffset() is not None:
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return (1, utc.toordinal(), utc.hour, utc.minute, utc.second, utc.microsecond)
    return (0, value.toordinal(), value.hour, value.minute, value.second, value.microsecond)


def portable_hash(value: Any) -> int:
    """A non-negative 63-bit hash of ``value`` that is the same in every Python process.

    >>> portable_hash("spark") == portable_hash("spark")
    True
    >>> 0 <= portable_hash(-1) < 2 ** 63
    True
    """
    return _hash(value) >> 1
