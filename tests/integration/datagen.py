"""Deterministic test tables with nulls in every column, for the differential tests.

Three tables share join keys:

- ``customers`` (300 rows): a few null ``c_id`` keys, so that null keys meet on both sides.
- ``orders`` (5,000 rows): ``c_id`` also points past the last customer, so outer joins have
  unmatched rows; ``qty`` holds zeros (division by zero) and negatives (the sign of ``%``);
  ``code`` and ``datestr`` hold valid and invalid text for casts.
- ``events`` (50,000 rows): big enough to be worth shuffling when broadcasts are turned off.

Doubles are rounded to cents and never NaN there. Strings repeat, and include nulls and empty
strings. A fourth small table, ``floats``, holds NaN, both zeros and infinities on purpose.
"""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa

SEED = 20240611

CUSTOMER_ROWS = 300
ORDER_ROWS = 5_000
EVENT_ROWS = 50_000

_EPOCH = datetime.date(1970, 1, 1)


def _mask(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def _ints(values: np.ndarray, mask: np.ndarray, dtype: pa.DataType) -> pa.Array:
    return pa.array(values, type=dtype, mask=mask)


def _doubles(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(np.round(values, 2), type=pa.float64(), mask=mask)


def _strings(rng: np.random.Generator, pool: list[str | None], n: int,
             null_rate: float) -> pa.Array:
    picked = rng.choice(np.array(pool, dtype=object), size=n)
    nulls = _mask(rng, n, null_rate)
    return pa.array([None if m else v for v, m in zip(picked, nulls, strict=True)], pa.string())


def _bools(rng: np.random.Generator, n: int, null_rate: float) -> pa.Array:
    return pa.array(rng.random(n) < 0.5, type=pa.bool_(), mask=_mask(rng, n, null_rate))


def _dates(rng: np.random.Generator, n: int, start: datetime.date, end: datetime.date,
           null_rate: float) -> pa.Array:
    lo, hi = (start - _EPOCH).days, (end - _EPOCH).days
    days = rng.integers(lo, hi, size=n).astype(np.int32)
    return pa.array(days, type=pa.date32(), mask=_mask(rng, n, null_rate))


def make_customers(rng: np.random.Generator) -> pa.Table:
    n = CUSTOMER_ROWS
    ids = rng.permutation(np.arange(1, n + 1, dtype=np.int64))
    id_nulls = np.zeros(n, dtype=bool)
    id_nulls[rng.choice(n, size=3, replace=False)] = True
    names = [f"name{i:03d}" for i in range(120)] + ["", "  padded  ", "Zoë", "émile", "ÅSA"]
    return pa.table({
        "c_id": _ints(ids, id_nulls, pa.int64()),
        "name": _strings(rng, names, n, 0.05),
        "segment": _strings(rng, ["retail", "corporate", "smb", ""], n, 0.1),
        "country": _strings(rng, ["US", "DE", "FR", "JP", "BR"], n, 0.05),
        "credit": _ints(rng.integers(-500, 5000, size=n), _mask(rng, n, 0.08), pa.int32()),
        "balance": _doubles(rng.normal(1000, 800, size=n), _mask(rng, n, 0.08)),
        "active": _bools(rng, n, 0.1),
        "signup": _dates(rng, n, datetime.date(2015, 1, 1), datetime.date(2024, 12, 31), 0.05),
        "score": _ints(rng.integers(0, 12, size=n), _mask(rng, n, 0.1), pa.int32()),
    })


# Text for casts: integers, padded integers, decimals (truncated by a cast to int), exponents
# (valid doubles, invalid ints), and text that is no number at all.
CODES = ["123", "-45", " 42 ", "+7", "0", "3.7", "-2.5", "1e2", "x12", "", "abc", "2147483648"]

DATE_STRINGS = ["2024-01-05", "2023-12-31", "2024-1-5", "2024-01-05 10:30:00", "2024-07",
                "2024-02-30", "2024-13-01", "not a date", ""]

STATUSES = ["shipped", "pending", "cancelled", "returned", "", " shipped ", "Pending"]


def make_orders(rng: np.random.Generator) -> pa.Table:
    n = ORDER_ROWS
    return pa.table({
        "o_id": pa.array(rng.permutation(np.arange(1, n + 1, dtype=np.int64))),
        "c_id": _ints(rng.integers(1, CUSTOMER_ROWS + 31, size=n), _mask(rng, n, 0.05),
                      pa.int64()),
        "qty": _ints(rng.integers(-5, 51, size=n), _mask(rng, n, 0.07), pa.int32()),
        "price": _doubles(rng.uniform(-50, 500, size=n), _mask(rng, n, 0.06)),
        "discount": _doubles(rng.choice([0.0, 0.05, 0.1, 0.25, 0.5], size=n),
                             _mask(rng, n, 0.05)),
        "status": _strings(rng, STATUSES, n, 0.08),
        "flag": _bools(rng, n, 0.1),
        "o_date": _dates(rng, n, datetime.date(2020, 1, 1), datetime.date(2024, 12, 31), 0.05),
        "code": _strings(rng, CODES, n, 0.05),
        "datestr": _strings(rng, DATE_STRINGS, n, 0.05),
        "priority": _ints(rng.integers(0, 4, size=n), _mask(rng, n, 0.1), pa.int32()),
    })


def make_events(rng: np.random.Generator) -> pa.Table:
    n = EVENT_ROWS
    return pa.table({
        "e_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "o_id": _ints(rng.integers(1, ORDER_ROWS + 201, size=n), _mask(rng, n, 0.03),
                      pa.int64()),
        "c_id": _ints(rng.integers(1, CUSTOMER_ROWS + 21, size=n), _mask(rng, n, 0.03),
                      pa.int64()),
        "amount": _doubles(rng.exponential(40, size=n), _mask(rng, n, 0.04)),
        "kind": _strings(rng, ["view", "click", "cart", "buy", "refund", ""], n, 0.05),
        "e_day": _dates(rng, n, datetime.date(2023, 1, 1), datetime.date(2024, 12, 31), 0.02),
    })


# Besides NaN, zeros and infinities: decimals stored just below or above a rounding tie.
SPECIAL_DOUBLES = [float("nan"), -0.0, 0.0, float("inf"), float("-inf"), 1.5, -2.25, 1e300,
                   1.005, 2.675, -0.285, 0.125]


def make_floats(rng: np.random.Generator, n: int = 200) -> pa.Table:
    special = rng.choice(np.array(SPECIAL_DOUBLES), size=n)
    ordinary = np.round(rng.normal(0, 10, size=n), 1)
    x = np.where(rng.random(n) < 0.6, special, ordinary)
    return pa.table({
        "f_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "grp": _ints(rng.integers(0, 5, size=n), _mask(rng, n, 0.1), pa.int32()),
        "x": pa.array(x, type=pa.float64(), mask=_mask(rng, n, 0.1)),
    })


def make_tables(seed: int = SEED) -> dict[str, pa.Table]:
    """The four tables, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return {
        "customers": make_customers(rng),
        "orders": make_orders(rng),
        "events": make_events(rng),
        "floats": make_floats(rng),
    }
