"""The aggregate function registry.

Each aggregate runs in three steps, as Spark's partial/final aggregation:

1. ``partial``: Arrow hash aggregations over the input column give the state columns;
2. ``merge``: Arrow hash aggregations over state columns combine partial states;
3. ``finish``: turns merged states into the result.

Distinct aggregates (``count(DISTINCT x)``) are rewritten by the optimizer into two plain
aggregations, as Spark's RewriteDistinctAggregates does, so they need no special state here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.typesys import is_numeric

if TYPE_CHECKING:
    from ember.plan.grouped_aggregates import GroupedKernels

# (arrow aggregation name, options) applied to one column
Step = tuple[str, Any]


@dataclass(frozen=True)
class AggregateSpec:
    name: str
    result_type: Callable[[list[pa.DataType]], pa.DataType]
    # Type the input column is cast to before the partial step.
    input_type: Callable[[pa.DataType], pa.DataType]
    partial: tuple[Step, ...]
    merge: tuple[Step, ...]
    finish: Callable[[Sequence[pa.Array], pa.DataType], pa.Array]
    # The value of this aggregate over no rows at all (a global aggregation of an empty input).
    empty_value: Any = None
    # Turns input values into ``input_type`` values; a plain cast when not given.
    prepare: Callable[[pa.Array, pa.DataType], pa.Array] | None = None
    # The call's text from the arguments' texts, where Spark's is not ``name(a, b)``.
    sql: Callable[[list[str]], str] | None = None
    # Aggregates that need more than Arrow's hash aggregations (several inputs, sorted values,
    # numerically stable moments) compute their states over group ids instead of ``partial``
    # and ``merge`` steps; see :class:`GroupedKernels`.
    grouped: GroupedKernels | None = None

    def call_sql(self, args: list[str]) -> str:
        return self.sql(args) if self.sql is not None else f"{self.name}({', '.join(args)})"


_SUM_OPTS = pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
_COUNT_VALID = pc.CountOptions(mode="only_valid")

_REGISTRY: dict[str, AggregateSpec] = {}


def register(spec: AggregateSpec) -> None:
    _REGISTRY[spec.name] = spec


def lookup(name: str) -> AggregateSpec:
    spec = _REGISTRY.get(name.lower())
    if spec is None:
        close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see ember.sql.functions"
        msg = f"undefined aggregate function: {name}\n\n{hint}"
        raise AnalysisException(msg)
    return spec


def exists(name: str) -> bool:
    return name.lower() in _REGISTRY


# Aggregates over group ids (collect_list, stddev, corr, percentiles...) register on import.
from ember.plan import grouped_aggregates  # noqa: E402, F401


def _identity_cast(states: Sequence[pa.Array], result: pa.DataType) -> pa.Array:
    arr = states[0]
    return arr if arr.type == result else pc.cast(arr, result)


def _sum_type(types: list[pa.DataType]) -> pa.DataType:
    t = types[0]
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pa.int64()
    if pa.types.is_decimal(t):
        return pa.decimal128(min(38, t.precision + 10), t.scale)
    if pa.types.is_floating(t) or pa.types.is_null(t):
        return pa.float64()
    if pa.types.is_string(t):
        return pa.float64()
    msg = f"function sum requires numeric input, got {t}"
    raise AnalysisException(msg)


def _sum_input(t: pa.DataType) -> pa.DataType:
    return _sum_type([t])


def _avg_type(types: list[pa.DataType]) -> pa.DataType:
    t = types[0]
    if pa.types.is_decimal(t):
        return pa.decimal128(min(38, t.precision + 4), min(38, t.scale + 4))
    if is_numeric(t) or pa.types.is_null(t) or pa.types.is_string(t):
        return pa.float64()
    msg = f"function avg requires numeric input, got {t}"
    raise AnalysisException(msg)


def _avg_finish(states: Sequence[pa.Array], result: pa.DataType) -> pa.Array:
    total, count = states
    if pa.types.is_decimal(result):
        total = pc.cast(total, pa.float64())
    avg = pc.divide(pc.cast(total, pa.float64()), pc.cast(count, pa.float64()))
    avg = pc.if_else(pc.equal(count, 0), pa.scalar(None, pa.float64()), avg)
    return pc.cast(avg, result)


def _count_finish(states: Sequence[pa.Array], result: pa.DataType) -> pa.Array:
    return pc.fill_null(states[0], 0)


register(AggregateSpec(
    "count", lambda _: pa.int64(), lambda t: t,
    partial=(("count", _COUNT_VALID),), merge=(("sum", None),), finish=_count_finish,
    empty_value=0,
))
register(AggregateSpec(
    "sum", _sum_type, _sum_input,
    partial=(("sum", _SUM_OPTS),), merge=(("sum", _SUM_OPTS),), finish=_identity_cast,
))
register(AggregateSpec(
    "avg", _avg_type, lambda t: pa.float64() if not pa.types.is_decimal(t) else t,
    partial=(("sum", _SUM_OPTS), ("count", _COUNT_VALID)),
    merge=(("sum", _SUM_OPTS), ("sum", None)), finish=_avg_finish,
))
_REGISTRY["mean"] = _REGISTRY["avg"]
register(AggregateSpec(
    "min", lambda ts: ts[0], lambda t: t,
    partial=(("min", None),), merge=(("min", None),), finish=_identity_cast,
))
# Spark orders NaN above every other double, so the max of a group with a NaN is NaN; Arrow's max
# skips NaN. Doubles are therefore maximised as int64 keys that sort in Spark's order.
_SIGN_FLIP = np.int64(0x7FFF_FFFF_FFFF_FFFF)


def _float_order_key(values: pa.Array) -> pa.Array:
    v = pc.fill_null(values.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).copy()
    v[np.isnan(v)] = np.nan  # one NaN, with the sign bit clear: above +inf as a key
    bits = v.view(np.int64)
    bits = np.where(bits < 0, bits ^ _SIGN_FLIP, bits)
    return pa.array(bits, mask=pc.is_null(values).to_numpy(zero_copy_only=False))


def _float_from_order_key(keys: pa.Array) -> pa.Array:
    bits = pc.fill_null(keys, 0).to_numpy(zero_copy_only=False)
    bits = np.where(bits < 0, bits ^ _SIGN_FLIP, bits)
    return pa.array(bits.view(np.float64), mask=pc.is_null(keys).to_numpy(zero_copy_only=False))


def _max_input(t: pa.DataType) -> pa.DataType:
    return pa.int64() if pa.types.is_floating(t) else t


def _max_prepare(values: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_floating(values.type):
        return _float_order_key(values)
    return values.cast(target)


def _max_finish(states: Sequence[pa.Array], result: pa.DataType) -> pa.Array:
    if pa.types.is_floating(result):
        return pc.cast(_float_from_order_key(states[0]), result)
    return _identity_cast(states, result)


register(AggregateSpec(
    "max", lambda ts: ts[0], _max_input,
    partial=(("max", None),), merge=(("max", None),), finish=_max_finish, prepare=_max_prepare,
))

_FIRST_OPTS = pc.ScalarAggregateOptions(skip_nulls=False, min_count=0)
register(AggregateSpec(
    "first", lambda ts: ts[0], lambda t: t,
    partial=(("first", _FIRST_OPTS),), merge=(("first", _FIRST_OPTS),), finish=_identity_cast,
))
register(AggregateSpec(
    "last", lambda ts: ts[0], lambda t: t,
    partial=(("last", _FIRST_OPTS),), merge=(("last", _FIRST_OPTS),), finish=_identity_cast,
))
# first(x, ignorenulls=True) and last(x, ignorenulls=True): the first (last) non-null value.
# Spark names them first(x) and last(x): the flag is no argument of the call.
_SKIP_NULLS_OPTS = pc.ScalarAggregateOptions(skip_nulls=True, min_count=0)
register(AggregateSpec(
    "first_ignore_nulls", lambda ts: ts[0], lambda t: t,
    partial=(("first", _SKIP_NULLS_OPTS),), merge=(("first", _SKIP_NULLS_OPTS),),
    finish=_identity_cast, sql=lambda args: f"first({', '.join(args)})",
))
register(AggregateSpec(
    "last_ignore_nulls", lambda ts: ts[0], lambda t: t,
    partial=(("last", _SKIP_NULLS_OPTS),), merge=(("last", _SKIP_NULLS_OPTS),),
    finish=_identity_cast, sql=lambda args: f"last({', '.join(args)})",
))
