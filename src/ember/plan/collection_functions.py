"""Array and map functions with Spark's semantics, vectorised over the lists' offsets.

``size`` of null is -1 (Spark's default, ``spark.sql.legacy.sizeOfNull=true`` without ANSI
mode); ``element_at`` counts from 1 (negative from the end) and is null out of bounds, while
``col[i]`` (``getItem``) counts from 0; ``sort_array`` puts nulls first when ascending and last
when descending, with NaN above every number; ``array_contains`` is null when the value is not
found but the array has a null.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.arguments import ints, nulls_of
from ember.plan.functions import FunctionSpec, _common, register
from ember.plan.typesys import common_type


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute offsets, lengths and the parent row of every element in range."""
    offsets = arr.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    parents = np.repeat(np.arange(len(arr)), lengths)
    return offsets, lengths, parents


def _in_range(child: pa.Array, offsets: np.ndarray) -> pa.Array:
    return child.slice(offsets[0], offsets[-1] - offsets[0]) if len(offsets) else child


def _null_mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _element_type(name: str, t: pa.DataType) -> pa.DataType:
    if _is_list(t):
        return t.value_type
    if pa.types.is_null(t):
        return pa.null()
    msg = f"function {name} requires an array, got {t}"
    raise AnalysisException(msg)


def _equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Spark's equality for lookups: NaN equals NaN; null equals nothing."""
    eq = pc.equal(a, b)
    if pa.types.is_floating(a.type):
        eq = pc.or_(eq, pc.and_(pc.is_nan(a), pc.is_nan(b)))
    return np.asarray(pc.fill_null(eq, False).to_numpy(zero_copy_only=False), dtype=bool)


# ---------------------------------------------------------------------------------------------
# size, array, array_contains


def _size(args: Sequence[pa.Array]) -> pa.Array:
    arr = args[0]
    if pa.types.is_null(arr.type):
        return pa.array(np.full(len(arr), -1, dtype=np.int32))
    _, lengths, _ = _parts(arr)
    return pa.array(np.where(_null_mask(arr), -1, lengths).astype(np.int32))


def _size_types(types: list[pa.DataType]) -> list[pa.DataType]:
    t = types[0]
    if not (_is_list(t) or pa.types.is_map(t) or pa.types.is_null(t)):
        msg = f"function size requires an array or a map, got {t}"
        raise AnalysisException(msg)
    return types


for _name in ("size", "cardinality"):
    register(FunctionSpec(_name, lambda _: pa.int32(), _size, coerce=_size_types,
                          nullable=lambda _: False))


def _array(args: Sequence[pa.Array]) -> pa.Array:
    if not args:
        return pa.array([[]], pa.list_(pa.null()))
    n, k = len(args[0]), len(args)
    values = pa.concat_arrays(list(args))
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values.take(pa.array(order, pa.int64())))


def _array_types(types: list[pa.DataType]) -> list[pa.DataType]:
    return [_common(types)] * len(types) if types else []


register(FunctionSpec("array", lambda ts: pa.list_(_common(ts) if ts else pa.null()), _array,
                      min_args=0, max_args=None, coerce=_array_types, nullable=lambda _: False))


def _contains_types(types: list[pa.DataType]) -> list[pa.DataType]:
    element = _element_type("array_contains", types[0])
    t = common_type(element, types[1]) if not pa.types.is_null(element) else types[1]
    if t is None:
        msg = f"array_contains cannot look for {types[1]} in an array of {element}"
        raise AnalysisException(msg)
    return [pa.list_(t) if not pa.types.is_null(types[0]) else types[0], t]


def _array_contains(args: Sequence[pa.Array]) -> pa.Array:
    lists, value = args
    n = len(lists)
    if pa.types.is_null(lists.type):
        return pa.nulls(n, pa.bool_())
    offsets, _, parents = _parts(lists)
    elements = _in_range(lists.values, offsets)
    found = np.bincount(parents[_equal(elements, value.take(pa.array(parents)))], minlength=n)
    has_null = np.bincount(parents[_null_mask(elements)], minlength=n)
    result = pa.array(found > 0)
    unknown = (found == 0) & (has_null > 0)
    return pa.array(result.to_numpy(zero_copy_only=False), pa.bool_(),
                    mask=unknown | nulls_of(lists, value))


register(FunctionSpec("array_contains", lambda _: pa.bool_(), _array_contains, min_args=2,
                      max_args=2, coerce=_contains_types))


# ---------------------------------------------------------------------------------------------
# sort_array, array_distinct, array_join


_SIGN_FLIP = np.int64(0x7FFF_FFFF_FFFF_FFFF)


def _order_key(values: pa.Array) -> pa.Array:
    """Doubles as int64 keys in Spark's order (-inf < ... < inf < NaN); other types as is."""
    if not pa.types.is_floating(values.type):
        return values
    v = pc.fill_null(values.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).copy()
    v[np.isnan(v)] = np.nan
    v = v + 0.0  # -0.0 sorts with 0.0
    bits = v.view(np.int64)
    bits = np.where(bits < 0, bits ^ _SIGN_FLIP, bits)
    return pa.array(bits, mask=_null_mask(values))


def _rebuilt(lists: pa.Array, values: pa.Array, counts: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pc.is_null(lists))


def _sort_array(args: Sequence[pa.Array]) -> pa.Array:
    lists = args[0]
    ascending = args[1][0].as_py() if len(args) > 1 and len(args[1]) else True
    if ascending is None:
        msg = "the second argument of sort_array must be a boolean literal, not null"
        raise ValueError(msg)
    offsets, lengths, parents = _parts(lists)
    elements = _in_range(lists.values, offsets)
    table = pa.table({"p": pa.array(parents), "v": _order_key(elements)})
    direction = "ascending" if ascending else "descending"
    order = pc.sort_indices(table, sort_keys=[
        ("p", "ascending"), ("v", direction, "at_start" if ascending else "at_end")])
    return _rebuilt(lists, elements.take(order), lengths)


def _sort_types(types: list[pa.DataType]) -> list[pa.DataType]:
    _element_type("sort_array", types[0])
    return [types[0], pa.bool_()][:len(types)]


register(FunctionSpec("sort_array", lambda ts: ts[0], _sort_array, max_args=2,
                      coerce=_sort_types))


def _array_distinct(args: Sequence[pa.Array]) -> pa.Array:
    """Each value once, in order of first appearance (one null kept, NaN once)."""
    lists = args[0]
    offsets, _, parents = _parts(lists)
    elements = _in_range(lists.values, offsets)
    key = _order_key(elements) if pa.types.is_floating(elements.type) else elements
    table = pa.table({"p": pa.array(parents), "v": key,
                      "i": pa.array(np.arange(len(parents)))})
    firsts = table.group_by(["p", "v"], use_threads=False).aggregate([("i", "min")])
    keep = np.sort(firsts.column("i_min").to_numpy())
    counts = np.bincount(parents[keep], minlength=len(lists))
    return _rebuilt(lists, elements.take(pa.array(keep, pa.int64())), counts)


def _distinct_types(types: list[pa.DataType]) -> list[pa.DataType]:
    _element_type("array_distinct", types[0])
    return types


register(FunctionSpec("array_distinct", lambda ts: ts[0], _array_distinct,
                      coerce=_distinct_types))


def _array_join(args: Sequence[pa.Array]) -> pa.Array:
    """Elements joined by the delimiter; nulls skipped unless a replacement is given."""
    lists, delimiter = args[:2]
    offsets, _, parents = _parts(lists)
    elements = _in_range(lists.values, offsets)
    if len(args) > 2 and args[2].null_count < len(args[2]):
        elements = pc.fill_null(elements, args[2].take(pa.array(parents)))
    keep = ~_null_mask(elements)
    counts = np.bincount(parents[keep], minlength=len(lists))
    compact = _rebuilt(lists, elements.filter(pa.array(keep)), counts)
    return pc.binary_join(compact, delimiter)


def _join_types(types: list[pa.DataType]) -> list[pa.DataType]:
    _element_type("array_join", types[0])
    return [pa.list_(pa.string())] + [pa.string()] * (len(types) - 1)


register(FunctionSpec("array_join", lambda _: pa.string(), _array_join, min_args=2, max_args=3,
                      coerce=_join_types))


# ---------------------------------------------------------------------------------------------
# element_at, col[i] / getItem, maps


def _take_positions(lists: pa.Array, position: np.ndarray, valid: np.ndarray,
                    value_type: pa.DataType) -> pa.Array:
    offsets = lists.offsets.to_numpy().astype(np.int64)
    index = np.where(valid, offsets[:-1] + position, 0)
    if not len(lists.values):
        return pa.nulls(len(lists), value_type)
    return lists.values.take(pa.array(index, pa.int64(), mask=~valid))


def list_item(lists: pa.Array, index: pa.Array, *, one_based: bool) -> pa.Array:
    lengths = np.diff(lists.offsets.to_numpy().astype(np.int64))
    i = ints(index)
    if one_based:
        if np.any((i == 0) & ~nulls_of(index)):
            msg = "[INVALID_INDEX_OF_ZERO] the index 0 is invalid: SQL array indices start at 1"
            raise ValueError(msg)
        position = np.where(i > 0, i - 1, lengths + i)
    else:
        position = i
    valid = (position >= 0) & (position < lengths) & ~nulls_of(lists, index)
    return _take_positions(lists, position, valid, lists.type.value_type)


def map_value(maps: pa.Array, key: pa.Array) -> pa.Array:
    """The value of each map's entry for the key (null when absent)."""
    offsets, _, parents = _parts(maps)
    keys = _in_range(maps.keys, offsets)
    items = _in_range(maps.items, offsets)
    hit = np.flatnonzero(_equal(keys, key.take(pa.array(parents))))
    rows, first = np.unique(parents[hit], return_index=True)
    index = np.zeros(len(maps), dtype=np.int64)
    found = np.zeros(len(maps), dtype=bool)
    index[rows] = hit[first]
    found[rows] = True
    if not len(items):
        return pa.nulls(len(maps), maps.type.item_type)
    return items.take(pa.array(index, pa.int64(), mask=~found))


def _lookup(one_based: bool):  # type: ignore[no-untyped-def]
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        container, key = args
        if pa.types.is_map(container.type):
            return map_value(container, key)
        return list_item(container, key, one_based=one_based)

    return kernel


def _lookup_type(types: list[pa.DataType]) -> pa.DataType:
    t = types[0]
    if pa.types.is_map(t):
        return t.item_type
    return _element_type("element_at", t)


def _lookup_types(types: list[pa.DataType]) -> list[pa.DataType]:
    t = types[0]
    if pa.types.is_map(t):
        return [t, t.key_type]
    _element_type("element_at", t)
    return [t, pa.int32()]


register(FunctionSpec("element_at", _lookup_type, _lookup(True), min_args=2, max_args=2,
                      coerce=_lookup_types))
register(FunctionSpec("get_item", _lookup_type, _lookup(False), min_args=2, max_args=2,
                      coerce=_lookup_types, sql=lambda a: f"{a[0]}[{a[1]}]"))


def _map_types(types: list[pa.DataType]) -> list[pa.DataType]:
    if len(types) % 2:
        msg = "map() (create_map) takes an even number of arguments: key1, value1, key2, ..."
        raise AnalysisException(msg)
    if not types:
        return []
    k, v = _common(types[0::2]), _common(types[1::2])
    return [k, v] * (len(types) // 2)


def _map_type(types: list[pa.DataType]) -> pa.DataType:
    if not types:
        return pa.map_(pa.string(), pa.string())
    coerced = _map_types(types)
    key = coerced[0] if not pa.types.is_null(coerced[0]) else pa.string()
    return pa.map_(key, coerced[1])


def _create_map(args: Sequence[pa.Array]) -> pa.Array:
    if not args:
        return pa.array([[]], pa.map_(pa.string(), pa.string()))
    n, k = len(args[0]), len(args) // 2
    keys = pa.concat_arrays(list(args[0::2]))
    if keys.null_count:
        msg = "[NULL_MAP_KEY] cannot use null as map key"
        raise ValueError(msg)
    values = pa.concat_arrays(list(args[1::2]))
    order = pa.array((np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel(), pa.int64())
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, keys.take(order), values.take(order))


for _name in ("map", "create_map"):
    register(FunctionSpec(_name, _map_type, _create_map, min_args=0, max_args=None,
                          coerce=_map_types, nullable=lambda _: False,
                          sql=lambda a: f"map({', '.join(a)})"))


def _map_part(items: bool):  # type: ignore[no-untyped-def]
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        maps = args[0]
        offsets = maps.offsets.to_numpy().astype(np.int64)
        child = maps.items if items else maps.keys
        shifted = pa.array((offsets - offsets[0]).astype(np.int32))
        return pa.ListArray.from_arrays(shifted, _in_range(child, offsets),
                                        mask=pc.is_null(maps))

    return kernel


def _map_of(name: str, types: list[pa.DataType]) -> pa.MapType:
    t = types[0]
    if not pa.types.is_map(t):
        msg = f"function {name} requires a map, got {t}"
        raise AnalysisException(msg)
    return t


register(FunctionSpec("map_keys", lambda ts: pa.list_(_map_of("map_keys", ts).key_type),
                      _map_part(False)))
register(FunctionSpec("map_values", lambda ts: pa.list_(_map_of("map_values", ts).item_type),
                      _map_part(True)))
