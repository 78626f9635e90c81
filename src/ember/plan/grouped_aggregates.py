"""Aggregates computed over group ids rather than Arrow's hash aggregations.

Arrow's grouped kernels take one column and keep one value per group. The aggregates here need
more: two inputs at once (``corr``, ``covar_*``), every value of the group (``collect_list``,
``median``, ``percentile_approx``), or numerically stable moments (``stddev``, ``variance``).

The executor gives them the group of every row (:class:`Groups`); each aggregate turns its
input rows into one state row per group (``partial``), combines state rows of one group coming
from several partitions (``merge``), and turns merged states into results (``finish``), so the
two-phase aggregation across the shuffle stays correct:

- moments keep ``(n, mean, m2)`` per group and merge them with Chan et al.'s pairwise update,
  which keeps the precision that sums of squares lose when values are large and close together;
- co-moments keep ``(n, mean_x, mean_y, c_xy, m2_x, m2_y)`` over the rows where both inputs are
  non-null, as Spark does;
- value collections keep a list per group; merging concatenates the lists of a group.

Spark's null results follow its non-legacy statistics: ``stddev_samp`` of one value is null,
``corr`` of a constant column is null (a division by zero), everything over no rows is null.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.aggregates import AggregateSpec, register
from ember.plan.typesys import is_numeric

Params = tuple[Any, ...]


@dataclass(frozen=True)
class Groups:
    """The group of every row: ``ids[i]`` is in ``range(count)``."""

    ids: np.ndarray
    count: int


@dataclass(frozen=True)
class GroupedKernels:
    """How an aggregate computes its states over :class:`Groups`.

    ``params`` are the values of the arguments after the first ``value_args`` (literals such as
    the percentage of ``percentile_approx`` or the ``ignorenulls`` flag of ``first``).
    """

    state_types: Callable[[list[pa.DataType]], list[pa.DataType]]
    partial: Callable[[Sequence[pa.Array], Groups, Params], list[pa.Array]]
    merge: Callable[[Sequence[pa.Array], Groups, Params], list[pa.Array]]
    finish: Callable[[Sequence[pa.Array], pa.DataType, Params], pa.Array]
    value_args: int = 1


def _not_arrow_steps(states: Sequence[pa.Array], result: pa.DataType) -> pa.Array:
    msg = "a grouped aggregate is finished by its GroupedKernels"
    raise TypeError(msg)


def register_grouped(name: str, result_type: Callable[[list[pa.DataType]], pa.DataType],
                     kernels: GroupedKernels, *, empty_value: Any = None,
                     sql: Callable[[list[str]], str] | None = None) -> None:
    register(AggregateSpec(name, result_type, lambda t: t, partial=(), merge=(),
                           finish=_not_arrow_steps, empty_value=empty_value, sql=sql,
                           grouped=kernels))


# ---------------------------------------------------------------------------------------------
# Helpers


def _floats(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (nulls as 0) and the validity mask."""
    if not pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.float64())
    valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    values = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    return values, valid


def _sum(groups: Groups, weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    ids = groups.ids if mask is None else groups.ids[mask]
    w = weights if mask is None else weights[mask]
    return np.bincount(ids, weights=w, minlength=groups.count).astype(np.float64)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _double_input(name: str, t: pa.DataType) -> None:
    if not (is_numeric(t) or pa.types.is_null(t) or pa.types.is_string(t)
            or pa.types.is_boolean(t)):
        msg = f"function {name} requires numeric input, got {t}"
        raise AnalysisException(msg)


def _double_result(name: str, arity: int = 1) -> Callable[[list[pa.DataType]], pa.DataType]:
    def result(types: list[pa.DataType]) -> pa.DataType:
        for t in types[:arity]:
            _double_input(name, t)
        return pa.float64()

    return result


def _doubles(values: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=null)


# ---------------------------------------------------------------------------------------------
# Moments: stddev, variance and their sample/population forms


def _moments_partial(args: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
    x, valid = _floats(args[0])
    n = _sum(groups, valid.astype(np.float64))
    mean = _safe_divide(_sum(groups, x, valid), n)
    m2 = _sum(groups, (x - mean[groups.ids]) ** 2, valid)
    return [pa.array(n), pa.array(mean), pa.array(m2)]


def _moments_merge(states: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
    n_i, mean_i, m2_i = (s.to_numpy(zero_copy_only=False) for s in states)
    n = _sum(groups, n_i)
    mean = _safe_divide(_sum(groups, n_i * mean_i), n)
    m2 = _sum(groups, m2_i + n_i * (mean_i - mean[groups.ids]) ** 2)
    return [pa.array(n), pa.array(mean), pa.array(m2)]


def _moments_finish(statistic: str) -> Callable[[Sequence[pa.Array], pa.DataType, Params],
                                                pa.Array]:
    def finish(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
        n, _mean, m2 = (s.to_numpy(zero_copy_only=False) for s in states)
        sample = statistic.endswith("samp")
        den = n - 1 if sample else n
        with np.errstate(divide="ignore", invalid="ignore"):
            var = m2 / np.where(den > 0, den, 1.0)
        value = np.sqrt(var) if statistic.startswith("stddev") else var
        return _doubles(value, den <= 0)

    return finish


_MOMENTS_STATES = [pa.float64()] * 3
for _name, _statistic in (("stddev_samp", "stddev_samp"), ("stddev", "stddev_samp"),
                          ("std", "stddev_samp"), ("stddev_pop", "stddev_pop"),
                          ("var_samp", "var_samp"), ("variance", "var_samp"),
                          ("var_pop", "var_pop")):
    register_grouped(_name, _double_result(_name), GroupedKernels(
        lambda _: _MOMENTS_STATES, _moments_partial, _moments_merge,
        _moments_finish(_statistic)))


# ---------------------------------------------------------------------------------------------
# Co-moments: covar_samp, covar_pop, corr


def _comoments_partial(args: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
    x, x_valid = _floats(args[0])
    y, y_valid = _floats(args[1])
    both = x_valid & y_valid
    n = _sum(groups, both.astype(np.float64))
    mx = _safe_divide(_sum(groups, x, both), n)
    my = _safe_divide(_sum(groups, y, both), n)
    dx = x - mx[groups.ids]
    dy = y - my[groups.ids]
    c = _sum(groups, dx * dy, both)
    m2x = _sum(groups, dx * dx, both)
    m2y = _sum(groups, dy * dy, both)
    return [pa.array(v) for v in (n, mx, my, c, m2x, m2y)]


def _comoments_merge(states: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
    n_i, mx_i, my_i, c_i, m2x_i, m2y_i = (s.to_numpy(zero_copy_only=False) for s in states)
    n = _sum(groups, n_i)
    mx = _safe_divide(_sum(groups, n_i * mx_i), n)
    my = _safe_divide(_sum(groups, n_i * my_i), n)
    dx = mx_i - mx[groups.ids]
    dy = my_i - my[groups.ids]
    c = _sum(groups, c_i + n_i * dx * dy)
    m2x = _sum(groups, m2x_i + n_i * dx * dx)
    m2y = _sum(groups, m2y_i + n_i * dy * dy)
    return [pa.array(v) for v in (n, mx, my, c, m2x, m2y)]


def _covar_finish(sample: bool) -> Callable[[Sequence[pa.Array], pa.DataType, Params], pa.Array]:
    def finish(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
        n = states[0].to_numpy(zero_copy_only=False)
        c = states[3].to_numpy(zero_copy_only=False)
        den = n - 1 if sample else n
        with np.errstate(divide="ignore", invalid="ignore"):
            value = c / np.where(den > 0, den, 1.0)
        return _doubles(value, den <= 0)

    return finish


def _corr_finish(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
    n, _mx, _my, c, m2x, m2y = (s.to_numpy(zero_copy_only=False) for s in states)
    den = np.sqrt(m2x * m2y)
    # Spark divides with its null-on-zero division: a constant input gives null, not NaN.
    null = (n < 2) | (den == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = c / np.where(null, 1.0, den)
    return _doubles(value, null)


_COMOMENTS_STATES = [pa.float64()] * 6
for _name, _finish in (("covar_samp", _covar_finish(True)), ("covar_pop", _covar_finish(False)),
                       ("corr", _corr_finish)):
    register_grouped(_name, _double_result(_name, 2), GroupedKernels(
        lambda _: _COMOMENTS_STATES, _comoments_partial, _comoments_merge, _finish,
        value_args=2))


# ---------------------------------------------------------------------------------------------
# Value lists: collect_list, collect_set, approx_count_distinct, percentiles


def _lists(values: pa.Array, ids: np.ndarray, count: int) -> pa.Array:
    """One list per group of the ``values`` whose group is ``ids``, in their original order."""
    order = np.argsort(ids, kind="stable")
    lengths = np.bincount(ids, minlength=count)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = values.take(pa.array(order)) if len(values) else values
    return pa.LargeListArray.from_arrays(pa.array(offsets), items).cast(pa.list_(values.type))


def _without_nulls(values: pa.Array, ids: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    if not values.null_count:
        return values, ids
    valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    return values.filter(pa.array(valid)), ids[valid]


def _elements(lists: pa.Array, groups: Groups) -> tuple[pa.Array, np.ndarray]:
    """The elements of list states and the group of each element."""
    lists = pc.fill_null(lists, pa.scalar([], lists.type)) if lists.null_count else lists
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.list_flatten(lists), np.repeat(groups.ids, lengths)


def _normalized(values: pa.Array) -> pa.Array:
    """-0.0 as 0.0 and one NaN, so that equal doubles are one set element as in Spark."""
    if not pa.types.is_floating(values.type):
        return values
    zeroed = pc.add(values, pa.scalar(0.0, values.type))
    return pc.if_else(pc.is_nan(zeroed), pa.scalar(float("nan"), values.type), zeroed)


def _distinct(values: pa.Array, ids: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    if not len(values):
        return values, ids
    values = _normalized(values)
    table = pa.table({"g": pa.array(ids), "v": values})
    pairs = table.group_by(["g", "v"], use_threads=False).aggregate([])
    return pairs.column("v").combine_chunks(), pairs.column("g").to_numpy()


def _list_type(types: list[pa.DataType]) -> list[pa.DataType]:
    return [pa.list_(types[0])]


def _collect_partial(distinct: bool) -> Callable[[Sequence[pa.Array], Groups, Params],
                                                  list[pa.Array]]:
    def partial(args: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
        values, ids = _without_nulls(args[0], groups.ids)
        if distinct:
            values, ids = _distinct(values, ids)
        return [_lists(values, ids, groups.count)]

    return partial


def _collect_merge(distinct: bool) -> Callable[[Sequence[pa.Array], Groups, Params],
                                                list[pa.Array]]:
    def merge(states: Sequence[pa.Array], groups: Groups, _: Params) -> list[pa.Array]:
        values, ids = _elements(states[0], groups)
        if distinct:
            values, ids = _distinct(values, ids)
        return [_lists(values, ids, groups.count)]

    return merge


def _collected(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
    return states[0] if states[0].type == result else states[0].cast(result)


def _count_collected(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
    return pc.cast(pc.fill_null(pc.list_value_length(states[0]), 0), result)


register_grouped("collect_list", lambda ts: pa.list_(ts[0]), GroupedKernels(
    _list_type, _collect_partial(False), _collect_merge(False), _collected), empty_value=[])
register_grouped("collect_set", lambda ts: pa.list_(ts[0]), GroupedKernels(
    _list_type, _collect_partial(True), _collect_merge(True), _collected), empty_value=[])
# Exact: the distinct values of a group are counted, which is always within the error bound.
register_grouped("approx_count_distinct", lambda _: pa.int64(), GroupedKernels(
    _list_type, _collect_partial(True), _collect_merge(True), _count_collected),
    empty_value=0, sql=lambda args: f"approx_count_distinct({args[0]})")


def _sorted_groups(lists: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The values of each group sorted ascending (NaN last, as Spark orders it), the start of
    each group in them and each group's count."""
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(
        zero_copy_only=False).astype(np.int64)
    values = pc.list_flatten(lists)
    parents = np.repeat(np.arange(len(lists)), lengths)
    key: Any = values
    if pa.types.is_floating(values.type):
        key = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    elif is_numeric(values.type) and not pa.types.is_decimal(values.type):
        key = values.to_numpy(zero_copy_only=False)
    if isinstance(key, np.ndarray):
        order = np.lexsort((key, parents))
    else:
        table = pa.table({"p": pa.array(parents), "v": key})
        order = pc.sort_indices(table, sort_keys=[("p", "ascending"), ("v", "ascending")])
        order = order.to_numpy()
    starts = np.zeros(len(lists), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return values.take(pa.array(order, pa.int64())), starts, lengths


def _percentages(value: Any) -> list[float]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    for p in items:
        if p is None or not 0.0 <= float(p) <= 1.0:
            msg = f"the percentage of percentile_approx must be between 0.0 and 1.0, got {p}"
            raise ValueError(msg)
    return [float(p) for p in items]


def _percentile_approx_finish(states: Sequence[pa.Array], result: pa.DataType,
                              params: Params) -> pa.Array:
    """Spark's rule for exact summaries: the smallest value whose rank reaches ``p * n``."""
    values, starts, lengths = _sorted_groups(states[0])
    empty = lengths == 0
    picks = []
    for p in _percentages(params[0] if params else 0.5):
        rank = np.ceil(p * lengths).astype(np.int64) - 1
        index = starts + np.clip(rank, 0, np.maximum(lengths - 1, 0))
        picks.append(values.take(pa.array(np.where(empty, 0, index), mask=empty))
                     if len(values) else pa.nulls(len(lengths), values.type))
    if not pa.types.is_list(result):
        return picks[0].cast(result)
    k = len(picks)
    flat = pa.concat_arrays(picks).take(pa.array(
        (np.arange(k)[None, :] * len(lengths) + np.arange(len(lengths))[:, None]).ravel()))
    offsets = pa.array(np.arange(0, k * len(lengths) + 1, k, dtype=np.int32))
    out = pa.ListArray.from_arrays(offsets, flat, mask=pa.array(empty))
    return out.cast(result)


def _median_finish(states: Sequence[pa.Array], result: pa.DataType, _: Params) -> pa.Array:
    """Spark's exact percentile: linear interpolation between the two closest ranks."""
    values, starts, lengths = _sorted_groups(states[0])
    empty = lengths == 0
    if not len(values):
        return pa.nulls(len(lengths), result)
    v = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    position = 0.5 * np.maximum(lengths - 1, 0)
    lower = np.floor(position).astype(np.int64)
    upper = np.ceil(position).astype(np.int64)
    lo = v[np.where(empty, 0, starts + lower)]
    hi = v[np.where(empty, 0, starts + upper)]
    with np.errstate(invalid="ignore"):
        value = np.where(lower == upper, lo, lo + (position - lower) * (hi - lo))
    return _doubles(value, empty)


def _percentile_type(types: list[pa.DataType]) -> pa.DataType:
    t = types[0]
    if not (is_numeric(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)
            or pa.types.is_null(t)):
        msg = f"function percentile_approx requires a numeric, date or timestamp input, got {t}"
        raise AnalysisException(msg)
    return pa.list_(t) if len(types) > 1 and pa.types.is_list(types[1]) else t


_numeric_list = GroupedKernels(_list_type, _collect_partial(False), _collect_merge(False),
                               _percentile_approx_finish)
register_grouped("percentile_approx", _percentile_type, _numeric_list)
register_grouped("approx_percentile", _percentile_type, _numeric_list)
register_grouped("median", _double_result("median"), GroupedKernels(
    lambda _: [pa.list_(pa.float64())], _collect_partial(False), _collect_merge(False),
    _median_finish))
