"""Null and NaN logic: ``isnull``, ``isnotnull``, ``nanvl``, ``greatest``, ``least``,
``nullif``, ``nvl2``."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.functions import FunctionSpec, _all_common, _common, register
from ember.plan.typesys import is_numeric

register(FunctionSpec("isnull", lambda _: pa.bool_(), lambda a: pc.is_null(a[0]),
                      nullable=lambda _: False, sql=lambda a: f"({a[0]} IS NULL)"))
register(FunctionSpec("isnotnull", lambda _: pa.bool_(), lambda a: pc.is_valid(a[0]),
                      nullable=lambda _: False, sql=lambda a: f"({a[0]} IS NOT NULL)"))


def _nanvl_types(types: list[pa.DataType]) -> list[pa.DataType]:
    for t in types:
        if not (is_numeric(t) or pa.types.is_null(t) or pa.types.is_string(t)):
            msg = f"function nanvl requires floating point input, got {t}"
            raise AnalysisException(msg)
    both_float = all(pa.types.is_float32(t) for t in types)
    return [pa.float32() if both_float else pa.float64()] * 2


def _nanvl(args: Sequence[pa.Array]) -> pa.Array:
    # nanvl(a, b) is b where a is NaN, a otherwise, and null where a is null.
    a, b = args
    return pc.if_else(pc.is_nan(a), b, a)


register(FunctionSpec("nanvl", lambda ts: _nanvl_types(ts)[0], _nanvl, min_args=2, max_args=2,
                      coerce=_nanvl_types))


def _extreme(greatest: bool) -> FunctionSpec:
    """greatest/least: the largest (smallest) non-null argument, null only when all are null.
    NaN is above every other double, as Spark orders it."""
    name = "greatest" if greatest else "least"

    def types(ts: list[pa.DataType]) -> list[pa.DataType]:
        common = _all_common(ts)
        t = common[0]
        if pa.types.is_nested(t) or pa.types.is_binary(t):
            msg = f"function {name} does not support {t}"
            raise AnalysisException(msg)
        return common

    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        t = args[0].type
        if pa.types.is_null(t):
            return args[0]
        work = [a.cast(pa.int8()) for a in args] if pa.types.is_boolean(t) else list(args)
        fn = pc.max_element_wise if greatest else pc.min_element_wise
        out = fn(*work, skip_nulls=True)
        if greatest and pa.types.is_floating(t):
            # Arrow's max skips NaN; Spark's greatest of anything and NaN is NaN.
            any_nan = pc.fill_null(pc.is_nan(args[0]), False)
            for a in args[1:]:
                any_nan = pc.or_(any_nan, pc.fill_null(pc.is_nan(a), False))
            out = pc.if_else(any_nan, pa.scalar(float("nan"), t), out)
        return out.cast(t) if out.type != t else out

    return FunctionSpec(name, lambda ts: _common(ts), kernel, min_args=2, max_args=None,
                        coerce=types, nullable=lambda ns: all(ns))


register(_extreme(True))
register(_extreme(False))


def _nullif(args: Sequence[pa.Array]) -> pa.Array:
    a, b = args
    equal = pc.fill_null(pc.equal(a, b), False)
    return pc.if_else(equal, pa.scalar(None, a.type), a)


register(FunctionSpec("nullif", _common, _nullif, min_args=2, max_args=2, coerce=_all_common))


def _nvl2_types(ts: list[pa.DataType]) -> list[pa.DataType]:
    t = _common(ts[1:])
    return [ts[0], t, t]


register(FunctionSpec("nvl2", lambda ts: _common(ts[1:]),
                      lambda a: pc.if_else(pc.is_valid(a[0]), a[1], a[2]),
                      min_args=3, max_args=3, coerce=_nvl2_types))
