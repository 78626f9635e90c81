"""The scalar function registry: each entry has a type rule and an Arrow kernel.

Kernels take evaluated arguments (Arrow arrays, all of the batch's length) and return an array.
They are pure ``pyarrow.compute`` calls, which release the GIL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.typesys import common_type

Kernel = Callable[[Sequence[pa.Array]], pa.Array]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    result_type: Callable[[list[pa.DataType]], pa.DataType]
    kernel: Kernel
    min_args: int = 1
    max_args: int | None = 1
    deterministic: bool = True
    nullable: Callable[[list[bool]], bool] | None = None
    # Casts the analyzer applies to arguments before the kernel sees them.
    coerce: Callable[[list[pa.DataType]], list[pa.DataType]] | None = None
    # The call's text in column names and plans, from the arguments' texts, where Spark's
    # differs from ``name(a, b)`` (``SQRT(x)``, ``POWER(x, 2)``, ``a[0]``).
    sql: Callable[[list[str]], str] | None = None

    def call_sql(self, args: list[str]) -> str:
        return self.sql(args) if self.sql is not None else f"{self.name}({', '.join(args)})"


_REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    _REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> FunctionSpec:
    _register_groups()
    spec = _REGISTRY.get(name.lower())
    if spec is None:
        close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see ember.sql.functions"
        msg = f"undefined function: {name}\n\n{hint}"
        raise AnalysisException(msg)
    return spec


def exists(name: str) -> bool:
    _register_groups()
    return name.lower() in _REGISTRY


_groups_registered = False


def _register_groups() -> None:
    """The function groups register themselves when first needed, after this module's own
    entries: string, math, date and time, collection and hash functions."""
    global _groups_registered
    if _groups_registered:
        return
    _groups_registered = True
    from ember.plan import (  # noqa: F401
        collection_functions,
        conditional_functions,
        datetime_functions,
        hash_functions,
        math_functions,
        string_functions,
    )


def _same(types: list[pa.DataType]) -> pa.DataType:
    return types[0]


def _common(types: list[pa.DataType]) -> pa.DataType:
    out = types[0]
    for t in types[1:]:
        c = common_type(out, t)
        if c is None:
            msg = f"cannot find a common type for {out} and {t}"
            raise AnalysisException(msg)
        out = c
    return out


def _all_common(types: list[pa.DataType]) -> list[pa.DataType]:
    t = _common(types)
    return [t] * len(types)


def _string(_: list[pa.DataType]) -> pa.DataType:
    return pa.string()


def _coalesce(args: Sequence[pa.Array]) -> pa.Array:
    return pc.coalesce(*args)


register(FunctionSpec("coalesce", _common, _coalesce, max_args=None, coerce=_all_common,
                      nullable=lambda ns: all(ns)))
register(FunctionSpec("upper", _string, lambda a: pc.utf8_upper(a[0])))
register(FunctionSpec("lower", _string, lambda a: pc.utf8_lower(a[0])))
register(FunctionSpec("length", lambda _: pa.int32(),
                      lambda a: pc.cast(pc.utf8_length(a[0]), pa.int32())))
register(FunctionSpec("abs", _same, lambda a: pc.abs(a[0])))
register(FunctionSpec("sqrt", lambda _: pa.float64(),
                      lambda a: pc.sqrt(pc.cast(a[0], pa.float64())),
                      coerce=lambda _: [pa.float64()], sql=lambda a: f"SQRT({a[0]})"))


def _concat(args: Sequence[pa.Array]) -> pa.Array:
    # Spark's concat is null if any input is null, which binary_join_element_wise gives.
    return pc.binary_join_element_wise(*args, "")


register(FunctionSpec("concat", _string, _concat, max_args=None,
                      coerce=lambda ts: [pa.string()] * len(ts)))


def _isnan(args: Sequence[pa.Array]) -> pa.Array:
    arr = args[0]
    if not pa.types.is_floating(arr.type):
        return pa.array(np.zeros(len(arr), dtype=bool))
    return pc.fill_null(pc.is_nan(arr), False)


register(FunctionSpec("isnan", lambda _: pa.bool_(), _isnan, nullable=lambda _: False))


def _split(args: Sequence[pa.Array]) -> pa.Array:
    values, pattern, *rest = args
    pat = pattern[0].as_py() if len(pattern) else ""
    lim = rest[0][0].as_py() if rest and len(rest[0]) else -1
    max_splits = None if lim is None or lim <= 0 else lim - 1
    return pc.split_pattern_regex(values, pattern=pat, max_splits=max_splits)


register(FunctionSpec("split", lambda _: pa.list_(pa.string()), _split, min_args=2, max_args=3,
                      coerce=lambda ts: [pa.string(), pa.string(), pa.int32()][:len(ts)]))


def _round(mode: str) -> Kernel:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        values, *rest = args
        digits = rest[0][0].as_py() if rest and len(rest[0]) else 0
        if pa.types.is_integer(values.type) and digits >= 0:
            return values
        if pa.types.is_floating(values.type):
            return _round_printed(values, digits, mode)
        return pc.round(values, ndigits=digits, round_mode=mode)

    return kernel


def _round_printed(values: pa.Array, digits: int, mode: str) -> pa.Array:
    """Spark rounds the decimal Java prints for a double (Scala's ``BigDecimal(d)``), not its
    binary value: round(1.005, 2) is 1.01, though 1.005 is stored as 1.00499999999999989...

    The shortest printed form, parsed as a decimal, is exact for every finite double below
    1e17; larger ones are whole numbers already, and NaN and infinities stay as they are.
    """
    printable = pc.and_(pc.is_finite(values), pc.less(pc.abs(values), 1e17))
    text = pc.cast(pc.cast(pc.if_else(printable, values, 0.0), pa.float64()), pa.string())
    exact = pc.round(pc.cast(text, pa.decimal128(38, 20), safe=False), ndigits=digits,
                     round_mode=mode)
    # Through text again: parsing rounds correctly, Arrow's decimal-to-double cast does not.
    rounded = pc.cast(pc.cast(pc.cast(exact, pa.string()), pa.float64()), values.type)
    return pc.if_else(printable, rounded, pc.round(values, ndigits=digits, round_mode=mode))


# Spark's round is HALF_UP (away from zero at .5); bround is HALF_EVEN.
register(FunctionSpec("round", _same, _round("half_towards_infinity"), max_args=2,
                      coerce=lambda ts: [ts[0], pa.int32()][:len(ts)]))
register(FunctionSpec("bround", _same, _round("half_to_even"), max_args=2,
                      coerce=lambda ts: [ts[0], pa.int32()][:len(ts)]))


def _pattern_kernel(fn: Callable[..., pa.Array], **options: object) -> Kernel:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        values, pattern = args
        if len(pattern) and pc.count_distinct(pattern).as_py() > 1:
            msg = "the pattern of like/rlike must be the same for every row (a literal)"
            raise ValueError(msg)
        text = pattern[0].as_py() if len(pattern) else None
        if text is None:
            return pa.nulls(len(values), pa.bool_())
        return fn(values, pattern=text, **options)

    return kernel


_TWO_STRINGS = {"min_args": 2, "max_args": 2, "coerce": lambda ts: [pa.string(), pa.string()]}
# SQL LIKE with % and _; RLIKE finds a regular expression anywhere in the string, as Java's find.
register(FunctionSpec("like", lambda _: pa.bool_(), _pattern_kernel(pc.match_like),
                      **_TWO_STRINGS))
register(FunctionSpec("ilike", lambda _: pa.bool_(),
                      _pattern_kernel(pc.match_like, ignore_case=True), **_TWO_STRINGS))
register(FunctionSpec("rlike", lambda _: pa.bool_(), _pattern_kernel(pc.match_substring_regex),
                      **_TWO_STRINGS))


def _array_repeat(args: Sequence[pa.Array]) -> pa.Array:
    values, counts = args
    n = np.maximum(pc.fill_null(counts, 0).to_numpy(zero_copy_only=False).astype(np.int64), 0)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int32)
    items = values.take(pa.array(np.repeat(np.arange(len(values)), n)))
    out = pa.ListArray.from_arrays(pa.array(offsets), items)
    if counts.null_count:
        out = pc.if_else(pc.is_null(counts), pa.scalar(None, out.type), out)
    return out


register(FunctionSpec("array_repeat", lambda ts: pa.list_(ts[0]), _array_repeat, min_args=2,
                      max_args=2, coerce=lambda ts: [ts[0], pa.int32()]))
