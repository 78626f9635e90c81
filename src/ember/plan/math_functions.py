"""Math functions: ``pow``, ``exp``, the logarithms, ``floor``/``ceil``, ``signum``, and the
trigonometric functions, with Spark's result types and its null for logarithms of x <= 0.

Spark names most of these in upper case in column names (``SQRT(x)``, ``POWER(x, 2)``), except
the natural logarithm, ``ln(x)``; the ``sql`` of each entry follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.functions import FunctionSpec, Kernel, register
from ember.plan.typesys import is_numeric


def _to_double(name: str) -> Callable[[list[pa.DataType]], list[pa.DataType]]:
    def coerce(types: list[pa.DataType]) -> list[pa.DataType]:
        for t in types:
            if not (is_numeric(t) or pa.types.is_null(t) or pa.types.is_string(t)):
                msg = f"function {name} requires numeric input, got {t}"
                raise AnalysisException(msg)
        return [pa.float64()] * len(types)

    return coerce


def _double(_: list[pa.DataType]) -> pa.DataType:
    return pa.float64()


def _upper_sql(name: str) -> Callable[[list[str]], str]:
    return lambda args: f"{name}({', '.join(args)})"


def _unary(name: str, kernel: Kernel, *, sql: str | None = None) -> None:
    register(FunctionSpec(name, _double, kernel, coerce=_to_double(name),
                          sql=_upper_sql(sql or name.upper())))


def _positive_only(fn: Callable[[pa.Array], pa.Array], *, above: float = 0.0) -> Kernel:
    """Spark's logarithms are null (not NaN or -Infinity) at and below their asymptote."""

    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        x = args[0]
        defined = pc.greater(x, above)
        safe = pc.if_else(defined, x, 1.0)
        return pc.if_else(defined, fn(safe), pa.scalar(None, pa.float64()))

    return kernel


_unary("exp", lambda a: pc.exp(a[0]))
_unary("ln", _positive_only(pc.ln), sql="ln")
_unary("log10", _positive_only(pc.log10))
_unary("log2", _positive_only(pc.log2))
_unary("log1p", _positive_only(pc.log1p, above=-1.0))
_unary("cbrt", lambda a: _cbrt(a[0]))
_unary("signum", lambda a: pc.sign(a[0]))
_unary("sign", lambda a: pc.sign(a[0]), sql="signum")
for _name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh"):
    _unary(_name, (lambda fn: lambda a: fn(a[0]))(getattr(pc, _name)))
_unary("degrees", lambda a: pc.multiply(a[0], 180.0 / np.pi))
_unary("radians", lambda a: pc.multiply(a[0], np.pi / 180.0))


def _cbrt(x: pa.Array) -> pa.Array:
    values = pc.fill_null(x, 0.0).to_numpy(zero_copy_only=False)
    return pa.array(np.cbrt(values), pa.float64(), mask=pc.is_null(x).to_numpy(
        zero_copy_only=False))


def _log(args: Sequence[pa.Array]) -> pa.Array:
    """log(x) is the natural logarithm; log(base, x) is null unless base > 0 and x > 0."""
    if len(args) == 1:
        return _positive_only(pc.ln)(args)
    base, x = args
    defined = pc.and_(pc.greater(base, 0.0), pc.greater(x, 0.0))
    value = pc.divide(pc.ln(pc.if_else(defined, x, 1.0)), pc.ln(pc.if_else(defined, base, 2.0)))
    return pc.if_else(defined, value, pa.scalar(None, pa.float64()))


register(FunctionSpec("log", _double, _log, max_args=2, coerce=_to_double("log"),
                      sql=lambda a: f"ln({a[0]})" if len(a) == 1 else f"LOG({', '.join(a)})"))
register(FunctionSpec("pow", _double, lambda a: pc.power(a[0], a[1]), min_args=2, max_args=2,
                      coerce=_to_double("pow"), sql=_upper_sql("POWER")))
register(FunctionSpec("power", _double, lambda a: pc.power(a[0], a[1]), min_args=2, max_args=2,
                      coerce=_to_double("power"), sql=_upper_sql("POWER")))
register(FunctionSpec("atan2", _double, lambda a: pc.atan2(a[0], a[1]), min_args=2, max_args=2,
                      coerce=_to_double("atan2"), sql=_upper_sql("ATAN2")))


# ---------------------------------------------------------------------------------------------
# floor and ceil: bigint for doubles and integers, decimal(p - s + 1, 0) for decimals


def _rounded_type(types: list[pa.DataType]) -> pa.DataType:
    t = types[0]
    if len(types) > 1:
        return pa.float64()
    if pa.types.is_decimal(t):
        return pa.decimal128(max(1, min(38, t.precision - t.scale + 1)), 0)
    return pa.int64()


def _rounded_coerce(name: str) -> Callable[[list[pa.DataType]], list[pa.DataType]]:
    def coerce(types: list[pa.DataType]) -> list[pa.DataType]:
        t = types[0]
        if not (is_numeric(t) or pa.types.is_null(t) or pa.types.is_string(t)):
            msg = f"function {name} requires numeric input, got {t}"
            raise AnalysisException(msg)
        if len(types) > 1:
            return [pa.float64(), pa.int32()]
        if pa.types.is_integer(t):
            return [pa.int64()]
        return [t if pa.types.is_decimal(t) else pa.float64()]

    return coerce


def _saturating_long(values: pa.Array) -> pa.Array:
    """Java's double-to-long conversion: NaN is 0, values beyond a long saturate."""
    v = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
    v = np.nan_to_num(v, nan=0.0, posinf=9.3e18, neginf=-9.3e18)
    limit = np.iinfo(np.int64)
    out = np.where(v >= 2.0**63, limit.max,
                   np.where(v <= -(2.0**63), limit.min,
                            np.clip(v, -(2.0**63), 2.0**63 - 1024).astype(np.int64)))
    return pa.array(out, pa.int64(), mask=pc.is_null(values).to_numpy(zero_copy_only=False))


def _rounding(fn: Callable[[pa.Array], pa.Array]) -> Kernel:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        x = args[0]
        if len(args) > 1:
            scale = pc.power(10.0, pc.cast(args[1], pa.float64()))
            return pc.divide(fn(pc.multiply(x, scale)), scale)
        if pa.types.is_integer(x.type):
            return x
        if pa.types.is_decimal(x.type):
            # One more digit before the point, so that rounding -0.9 to -1 fits.
            wider = pa.decimal128(min(38, x.type.precision + 1), x.type.scale)
            return fn(x.cast(wider))
        return _saturating_long(fn(x))

    return kernel


for _name, _fn in (("floor", pc.floor), ("ceil", pc.ceil), ("ceiling", pc.ceil)):
    register(FunctionSpec(_name, _rounded_type, _rounding(_fn), max_args=2,
                          coerce=_rounded_coerce(_name), sql=_upper_sql(_name.upper())))
