"""Python objects to Arrow and back, with PySpark's inference and verification rules.

``createDataFrame`` uses ``infer_schema`` and ``rows_to_arrow``; ``collect`` uses
``arrow_to_rows``.

>>> schema = infer_schema([("Alice", 1), ("Bob", None)], names=["name", "age"])
>>> schema.simpleString()
'struct<name:string,age:bigint>'
>>> arrow_to_rows(rows_to_arrow([("Alice", 1), ("Bob", None)], schema))
[Row(name='Alice', age=1), Row(name='Bob', age=None)]
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.sql import show_format
from ember.sql import types as T
from ember.sql.row import Row

__all__ = ["arrow_to_rows", "infer_schema", "infer_type", "merge_types", "rows_to_arrow"]

_SCHEMA_HINT = "pass a schema, e.g. createDataFrame(data, 'a BIGINT, b STRING')"


# --- inference --------------------------------------------------------------------------------

# the common exact types, looked up before the slower isinstance chain
_TYPE_OF_PYTHON_CLASS: dict[type, T.DataType] = {
    type(None): T.NullType(), bool: T.BooleanType(), int: T.LongType(), float: T.DoubleType(),
    str: T.StringType(), bytes: T.BinaryType(), decimal.Decimal: T.DecimalType(38, 18),
    datetime.datetime: T.TimestampType(), datetime.date: T.DateType(),
}


def infer_type(value: Any) -> T.DataType:
    """The Spark type PySpark infers for one Python value (``NullType`` for ``None``)."""
    known = _TYPE_OF_PYTHON_CLASS.get(type(value))
    if known is not None:
        return known
    # containers first: after the lookup above they are the common case
    if isinstance(value, list):
        return _array_of(_merge_all(dict.fromkeys(map(infer_type, value)), "element"))
    if isinstance(value, dict):
        key = _merge_all(dict.fromkeys(map(infer_type, value.keys())), "key")
        val = _merge_all(dict.fromkeys(map(infer_type, value.values())), "value")
        return _map_of(key, val)
    if isinstance(value, tuple):
        pairs = _named_values(value)
        return _struct_of(tuple(n for n, _ in pairs), tuple(infer_type(v) for _, v in pairs))
    if isinstance(value, (bool, np.bool_)):
        return T.BooleanType()
    if isinstance(value, (int, np.integer)):
        return T.LongType()
    if isinstance(value, (float, np.floating)):
        return T.DoubleType()
    if isinstance(value, str):
        return T.StringType()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return T.BinaryType()
    if isinstance(value, decimal.Decimal):
        return T.DecimalType(38, 18)
    if isinstance(value, datetime.datetime):
        return T.TimestampType()
    if isinstance(value, datetime.date):
        return T.DateType()
    msg = (f"can not infer a Spark type for {value!r} of {type(value)}\n\n"
           f"convert it to a supported Python type, or {_SCHEMA_HINT}")
    raise TypeError(msg)


def _merge_all(types: Iterable[T.DataType], path: str) -> T.DataType:
    merged: T.DataType = T.NullType()
    for dt in types:
        merged = merge_types(merged, dt, path=path)
    return merged


# Inference meets the same nested types over and over; building each once saves most of its
# time. The cached StructTypes are shared, so infer_schema hands out a copy of its result.
@functools.lru_cache(maxsize=1024)
def _array_of(element: T.DataType) -> T.ArrayType:
    return T.ArrayType(element, True)


@functools.lru_cache(maxsize=1024)
def _map_of(key: T.DataType, value: T.DataType) -> T.MapType:
    return T.MapType(key, value, True)


@functools.lru_cache(maxsize=1024)
def _struct_of(names: tuple[str, ...], types: tuple[T.DataType, ...]) -> T.StructType:
    return T.StructType([T.StructField(n, t, True) for n, t in zip(names, types, strict=True)])


def _named_values(row: Any) -> list[tuple[str, Any]]:
    """A record's (name, value) pairs: Row fields, namedtuple fields, dict keys or _1, _2..."""
    if isinstance(row, dict):
        # PySpark sorts a dict's keys to name its columns
        return sorted((str(k), v) for k, v in row.items())
    fields = _tuple_fields(row)
    if fields is not None:
        return list(zip(fields, row, strict=True))
    return [(f"_{i}", v) for i, v in enumerate(row, start=1)]


def _tuple_fields(row: Any) -> list[str] | None:
    """Field names of a Row (ours or any with ``__fields__``) or of a namedtuple."""
    if not isinstance(row, tuple):
        return None
    if isinstance(row, Row):
        return row._field_names()
    fields = getattr(row, "__fields__", None) or getattr(row, "_fields", None)
    return list(fields) if fields is not None else None


def merge_types(a: T.DataType, b: T.DataType, *, path: str = "") -> T.DataType:
    """The type that holds values of both ``a`` and ``b``; ``NullType`` merges with anything.

    An atomic type merges with ``string`` into ``string``, as in PySpark 4. Other types that
    differ raise ``TypeError`` (``bigint`` and ``double`` included, as in PySpark); ``path``
    names the column in the message.
    """
    if isinstance(a, T.NullType):
        return b
    if isinstance(b, T.NullType) or a == b:
        return a
    if isinstance(a, T.TimestampType) and isinstance(b, T.TimestampNTZType):
        return a
    if isinstance(a, T.TimestampNTZType) and isinstance(b, T.TimestampType):
        return b
    # PySpark 4 widens any atomic type mixed with strings to a string column
    if isinstance(a, T.AtomicType) and isinstance(b, T.StringType):
        return b
    if isinstance(a, T.StringType) and isinstance(b, T.AtomicType):
        return a
    if isinstance(a, T.ArrayType) and isinstance(b, T.ArrayType):
        element = merge_types(a.elementType, b.elementType, path=_sub(path, "element"))
        return T.ArrayType(element, True)
    if isinstance(a, T.MapType) and isinstance(b, T.MapType):
        return T.MapType(merge_types(a.keyType, b.keyType, path=_sub(path, "key")),
                         merge_types(a.valueType, b.valueType, path=_sub(path, "value")), True)
    if isinstance(a, T.StructType) and isinstance(b, T.StructType):
        return _merge_structs(a, b, path)
    raise _MergeError(a, b, path)


class _MergeError(TypeError):
    """Two types met in one column that do not merge; ``path`` says where."""

    def __init__(self, a: T.DataType, b: T.DataType, path: str) -> None:
        where = f" in column {path!r}" if path else ""
        msg = (f"can not merge type {a!r} and {b!r}{where}\n\n"
               "make the values of the column one type (e.g. 1.0 rather than 1), "
               f"or {_SCHEMA_HINT}")
        super().__init__(msg)
        self.a, self.b, self.path = a, b, path

    def within(self, column: str) -> _MergeError:
        return _MergeError(self.a, self.b, _sub(column, self.path))


def _sub(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _occurrence_keys(fields: Iterable[T.StructField]) -> list[tuple[str, int]]:
    # a name repeated by a join stays two fields: key each by its name and occurrence
    seen: dict[str, int] = {}
    keys = []
    for f in fields:
        seen[f.name] = seen.get(f.name, -1) + 1
        keys.append((f.name, seen[f.name]))
    return keys


def _merge_structs(a: T.StructType, b: T.StructType, path: str) -> T.StructType:
    if a.names == b.names:
        return T.StructType([
            T.StructField(fa.name, merge_types(fa.dataType, fb.dataType, path=_sub(path, fa.name)))
            for fa, fb in zip(a.fields, b.fields, strict=True)
        ])
    merged = dict(zip(_occurrence_keys(a.fields), a.fields, strict=True))
    for key, fb in zip(_occurrence_keys(b.fields), b.fields, strict=True):
        fa = merged.get(key)
        dt = fb.dataType if fa is None else merge_types(fa.dataType, fb.dataType,
                                                       path=_sub(path, fb.name))
        merged[key] = T.StructField(fb.name, dt, True)
    return T.StructType(list(merged.values()))


def _is_record(value: Any) -> bool:
    return isinstance(value, tuple | list | dict)


def infer_schema(data: Sequence[Any], names: Sequence[str] | None = None) -> T.StructType:
    """The schema PySpark's ``createDataFrame`` infers for local data, checking every row.

    Rows may be tuples, lists, Rows, namedtuples or dicts (whose keys, sorted as PySpark sorts
    them, name the columns); a list of plain scalars makes one column named ``value``. Rows
    with different columns give the union of their columns, in order of appearance.
    ``names`` renames the columns in order. Every field is nullable.

    >>> infer_schema([{"a": 1}, {"a": None, "b": [1.5]}]).simpleString()
    'struct<a:bigint,b:array<double>>'
    """
    if len(data) == 0:
        msg = f"can not infer a schema from empty data\n\n{_SCHEMA_HINT}"
        raise ValueError(msg)
    scalars = not _is_record(data[0])
    # most rows repeat a few (names, types) shapes: merge each distinct shape once, in order
    shapes: dict[tuple[tuple[str, ...], tuple[T.DataType, ...]], None] = {}
    with _gc_paused(len(data)):
        for i, row in enumerate(data):
            if _is_record(row) == scalars:
                msg = (f"data[{i}] is a {type(row).__name__} but data[0] is a "
                       f"{type(data[0]).__name__}\n\n"
                       "make every row a tuple, list, dict or Row, or every row a single value")
                raise TypeError(msg)
            try:
                shapes[_row_shape(row, scalars=scalars)] = None
            except _MergeError:
                # a value mixes types inside itself (e.g. [1, 1.5]): name its column
                for name, value in [("value", row)] if scalars else _named_values(row):
                    try:
                        infer_type(value)
                    except _MergeError as exc:
                        raise exc.within(name) from None
                raise
    schema = T.StructType([])
    for i, (row_names, row_types) in enumerate(shapes):
        row_type = T.StructType([T.StructField(n, t, True)
                                 for n, t in zip(row_names, row_types, strict=True)])
        schema = _merge_structs(schema, row_type, "") if i else row_type
    if names is not None:
        names = list(names)
        if len(names) > len(schema):
            msg = (f"got {len(names)} column names for data of {len(schema)} columns\n\n"
                   f"pass at most {len(schema)} names")
            raise ValueError(msg)
        schema = T.StructType([
            T.StructField(names[i] if i < len(names) else f.name, f.dataType, True)
            for i, f in enumerate(schema.fields)
        ])
    for f in schema.fields:
        _check_determined(f.name, f.dataType, top=f.dataType, nested=False)
    fresh = T.from_json(schema.jsonValue())  # unshare the cached nested structs
    assert isinstance(fresh, T.StructType)
    return fresh


def _row_shape(row: Any, *, scalars: bool) -> tuple[tuple[str, ...], tuple[T.DataType, ...]]:
    """A row's column names and value types."""
    if scalars:
        return ("value",), (infer_type(row),)
    if isinstance(row, dict) or _tuple_fields(row) is not None:
        pairs = _named_values(row)
        return tuple(n for n, _ in pairs), tuple(infer_type(v) for _, v in pairs)
    return _positional_names(len(row)), tuple(map(infer_type, row))


@functools.lru_cache(maxsize=64)
def _positional_names(n: int) -> tuple[str, ...]:
    return tuple(f"_{i}" for i in range(1, n + 1))


@contextlib.contextmanager
def _gc_paused(rows: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Allocating a million rows otherwise triggers hundreds of collections that find nothing,
    which costs more than the conversion itself.
    """
    if rows < 10_000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check_determined(column: str, dt: T.DataType, *, top: T.DataType, nested: bool) -> None:
    if isinstance(dt, T.NullType):
        if not nested:
            msg = (f"can not infer the type of column {column!r}: every value is None\n\n"
                   f"{_SCHEMA_HINT}")
        else:
            msg = (f"can not infer the type of column {column!r}: its type "
                   f"{top.simpleString()} has a part that is always empty or None\n\n"
                   f"{_SCHEMA_HINT}")
        raise ValueError(msg)
    children: list[T.DataType] = []
    if isinstance(dt, T.ArrayType):
        children = [dt.elementType]
    elif isinstance(dt, T.MapType):
        children = [dt.keyType, dt.valueType]
    elif isinstance(dt, T.StructType):
        children = [f.dataType for f in dt.fields]
    for child in children:
        _check_determined(column, child, top=top, nested=True)


# --- Python rows to Arrow ---------------------------------------------------------------------

class _Rejected(Exception):
    """A value does not fit its field; the caller adds where in the data it was."""

    def __init__(self, error: type[Exception], problem: str, hint: str) -> None:
        super().__init__(problem)
        self.error, self.problem, self.hint = error, problem, hint


_INT_RANGES: dict[type[T.DataType], tuple[int, int]] = {
    T.ByteType: (-(2**7), 2**7 - 1), T.ShortType: (-(2**15), 2**15 - 1),
    T.IntegerType: (-(2**31), 2**31 - 1), T.LongType: (-(2**63), 2**63 - 1),
}
# exact Python types a column may hold and go to Arrow unchanged
_PLAIN_TYPES: dict[type[T.DataType], type] = {
    T.StringType: str, T.BooleanType: bool, T.DoubleType: float, T.FloatType: float,
    T.ByteType: int, T.ShortType: int, T.IntegerType: int, T.LongType: int,
    T.DateType: datetime.date, T.TimestampType: datetime.datetime,
    T.TimestampNTZType: datetime.datetime, T.BinaryType: bytes,
    T.DecimalType: decimal.Decimal,
}


def _wrong_type(path: str, dt: T.DataType, value: Any) -> _Rejected:
    return _Rejected(
        TypeError, f"field {path}: {dt!r} can not accept object {value!r} in type {type(value)}",
        f"convert the value to a {dt.simpleString()}, or change the schema of {path}")


def _not_nullable(path: str) -> _Rejected:
    return _Rejected(ValueError, f"field {path}: this field is not nullable, but got None",
                     f"pass a value, or make {path} nullable")


def _converter(dt: T.DataType, path: str, strict: bool) -> Callable[[Any], Any]:
    """A function that checks a non-None value against ``dt`` and returns it for ``pa.array``."""
    if isinstance(dt, T.NullType):
        def reject(v: Any) -> Any:
            raise _wrong_type(path, dt, v)
        return reject
    if isinstance(dt, T.IntegralType):
        lo, hi = _INT_RANGES[type(dt)]

        def integer(v: Any) -> int:
            if not isinstance(v, int | np.integer) or isinstance(v, bool | np.bool_):
                raise _wrong_type(path, dt, v)
            if not lo <= v <= hi:
                raise _Rejected(ValueError, f"field {path}: {v} is out of range for {dt!r}, "
                                f"which holds {lo}..{hi}", "use a wider integer type")
            return int(v)
        return integer
    if isinstance(dt, T.FractionalType) and not isinstance(dt, T.DecimalType):
        def fractional(v: Any) -> float:
            if not isinstance(v, float | np.floating):
                raise _wrong_type(path, dt, v)
            return float(v)
        return fractional
    if isinstance(dt, T.BooleanType):
        return _checked(dt, path, bool | np.bool_, bool)
    if isinstance(dt, T.StringType):
        return _checked(dt, path, str, None) if strict else _string_converter(dt, path)
    if isinstance(dt, T.BinaryType):
        return _checked(dt, path, bytes | bytearray | memoryview, bytes)
    if isinstance(dt, T.DecimalType):
        return _checked(dt, path, decimal.Decimal, None)
    if isinstance(dt, T.DateType):
        def date(v: Any) -> datetime.date:
            if isinstance(v, datetime.datetime):
                return v.date()
            if not isinstance(v, datetime.date):
                raise _wrong_type(path, dt, v)
            return v
        return date
    if isinstance(dt, T.TimestampType | T.TimestampNTZType):
        local = isinstance(dt, T.TimestampType)

        def timestamp(v: Any) -> datetime.datetime:
            if not isinstance(v, datetime.datetime):
                raise _wrong_type(path, dt, v)
            if v.tzinfo is not None:
                # an instant becomes local wall-clock time; NTZ keeps the written wall clock
                v = v.astimezone() if local else v
                return v.replace(tzinfo=None)
            return v
        return timestamp
    if isinstance(dt, T.ArrayType):
        return _array_converter(dt, path, strict)
    if isinstance(dt, T.MapType):
        return _map_converter(dt, path, strict)
    if isinstance(dt, T.StructType):
        return _struct_converter(dt, path, strict)
    msg = f"field {path}: no conversion for {dt!r}"
    raise TypeError(msg)


def _string_converter(dt: T.DataType, path: str) -> Callable[[Any], Any]:
    """Strings as they are; other atomic values written as Spark casts them to strings.

    Inference merges a string with any atomic type into a string column, as PySpark 4 does.
    """
    def string(v: Any) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        if isinstance(v, int | np.integer | decimal.Decimal):
            return str(v)
        if isinstance(v, float | np.floating):
            return show_format.format_double(float(v))
        if isinstance(v, datetime.datetime):
            return show_format.format_timestamp(v)
        if isinstance(v, datetime.date):
            return v.isoformat()
        raise _wrong_type(path, dt, v)
    return string


def _checked(dt: T.DataType, path: str, accepted: Any, cast: Any) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, accepted):
            raise _wrong_type(path, dt, v)
        return v if cast is None else cast(v)
    return check


def _nullable(convert: Callable[[Any], Any], nullable: bool, path: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v is None:
            if not nullable:
                raise _not_nullable(path)
            return None
        return convert(v)
    return check


def _array_converter(dt: T.ArrayType, path: str, strict: bool) -> Callable[[Any], Any]:
    element = _nullable(_converter(dt.elementType, f"{path}.element", strict), dt.containsNull,
                        f"{path}.element")

    def array(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple | np.ndarray):
            raise _wrong_type(path, dt, v)
        return [element(e) for e in v]
    return array


def _map_converter(dt: T.MapType, path: str, strict: bool) -> Callable[[Any], Any]:
    key = _nullable(_converter(dt.keyType, f"{path}.key", strict), False, f"{path}.key")
    value = _nullable(_converter(dt.valueType, f"{path}.value", strict), dt.valueContainsNull,
                      f"{path}.value")

    def mapping(v: Any) -> list[tuple[Any, Any]]:
        if not isinstance(v, dict):
            raise _wrong_type(path, dt, v)
        return [(key(k), value(x)) for k, x in v.items()]
    return mapping


def _struct_converter(dt: T.StructType, path: str, strict: bool) -> Callable[[Any], Any]:
    names = dt.names
    fields = [_nullable(_converter(f.dataType, f"{path}.{f.name}", strict), f.nullable,
                        f"{path}.{f.name}") for f in dt.fields]

    def struct(v: Any) -> tuple[Any, ...]:
        if not isinstance(v, tuple | list | dict):
            raise _wrong_type(path, dt, v)
        values = _ordered_values(v, names)
        if values is None:
            raise _Rejected(ValueError, f"field {path}: a struct of {len(names)} fields "
                            f"can not take {len(v)} values {v!r}",
                            f"pass one value per field of {dt.simpleString()}")
        return tuple(convert(x) for convert, x in zip(fields, values, strict=True))
    return struct


def _ordered_values(record: Any, names: list[str]) -> Sequence[Any] | None:
    """A record's values in schema order, or None when its length does not fit."""
    if isinstance(record, dict):
        return [record.get(name) for name in names]
    fields = _tuple_fields(record) if isinstance(record, tuple) else None
    if fields is not None and fields != names and len(set(fields)) == len(fields) \
            and set(fields) == set(names):
        # Rows are matched to the schema by name, as PySpark does
        by_name = dict(zip(fields, record, strict=True))
        return [by_name[name] for name in names]
    return record if len(record) == len(names) else None


def _column_to_arrow(
    values: list[Any], field: T.StructField, arrow_type: pa.DataType, *, strict: bool,
) -> pa.Array:
    dt = field.dataType
    converted = values if _already_fits(values, field) else \
        _convert_column(values, field, strict)
    try:
        return pa.array(converted, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        msg = f"field {field.name}: {exc}\n\ncheck that the values fit {dt.simpleString()}"
        raise ValueError(msg) from None


def _already_fits(values: list[Any], field: T.StructField) -> bool:
    """Whether every value has the field's exact Python type, so no value needs converting."""
    plain = _PLAIN_TYPES.get(type(field.dataType))
    if plain is None or not set(map(type, values)) <= {plain, type(None)}:
        return False
    if not field.nullable and any(v is None for v in values):
        return False
    if plain is datetime.datetime:
        # Arrow would read an aware datetime as UTC; the converter makes it local wall clock
        return all(v is None or v.tzinfo is None for v in values)
    bounds = _INT_RANGES.get(type(field.dataType))
    if bounds is None:
        return True
    present = [v for v in values if v is not None]
    return not present or (bounds[0] <= min(present) and max(present) <= bounds[1])


def _convert_column(values: list[Any], field: T.StructField, strict: bool) -> list[Any]:
    convert = _nullable(_converter(field.dataType, field.name, strict), field.nullable,
                        field.name)
    converted = []
    for i, value in enumerate(values):
        try:
            converted.append(convert(value))
        except _Rejected as exc:
            msg = f"{exc.problem} (data[{i}])\n\n{exc.hint}"
            raise exc.error(msg) from None
    return converted


def _records(rows: Sequence[Any], schema: T.StructType) -> list[Sequence[Any]]:
    """Each row's values in schema order, with its length checked."""
    names = schema.names
    records: list[Sequence[Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, tuple | list | dict):
            if len(names) != 1:
                msg = (f"data[{i}] is a {type(row).__name__}, not a row of {len(names)} "
                       "fields\n\npass tuples, lists, dicts or Rows")
                raise TypeError(msg)
            records.append((row,))
            continue
        values = _ordered_values(row, names)
        if values is None:
            msg = (f"data[{i}] has {len(row)} fields but the schema has {len(names)}\n\n"
                   f"pass one value per field of {schema.simpleString()}")
            raise ValueError(msg)
        records.append(values)
    return records


def rows_to_arrow(
    data: Iterable[Any], schema: T.StructType, *, verify_schema: bool = True,
) -> pa.Table:
    """An Arrow table of ``schema`` holding ``data``, checking each value as PySpark does.

    Rows may be tuples, lists, Rows (matched by field name) or dicts (by key, missing keys
    are None); with a one-field schema a row may also be the bare value. A value of the wrong
    type raises ``TypeError``, a None in a non-nullable field ``ValueError``.

    ``verify_schema=False`` is for schemas from ``infer_schema``: as PySpark does then, numbers,
    booleans and dates in a string column are written as strings instead of rejected.
    """
    rows = data if isinstance(data, Sequence) else list(data)
    arrow_schema = T.to_arrow_schema(schema)
    with _gc_paused(len(rows)):
        records = _records(rows, schema)
        columns = [list(col) for col in zip(*records, strict=True)] if records else \
            [[] for _ in schema.fields]
        arrays = [
            _column_to_arrow(values, f, arrow_schema.field(j).type, strict=verify_schema)
            for j, (values, f) in enumerate(zip(columns, schema.fields, strict=True))
        ]
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


# --- Arrow to Python rows ---------------------------------------------------------------------

def _python_ready(arr: pa.Array) -> pa.Array:
    """Recast types whose ``to_pylist`` values differ from what PySpark returns."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr)  # naive wall-clock time in the column's zone
        if t.unit == "ns":
            arr = arr.cast(pa.timestamp("us"), safe=False)  # datetime holds microseconds
    elif pa.types.is_list_view(t) or pa.types.is_fixed_size_list(t):
        arr = arr.cast(pa.list_(t.value_field))
    elif pa.types.is_large_list_view(t):
        arr = arr.cast(pa.large_list(t.value_field))
    return arr


def _plain(t: pa.DataType) -> bool:
    """Whether ``to_pylist`` already gives PySpark's values for this type."""
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_dictionary(t):
        return False
    if pa.types.is_timestamp(t):
        return t.tz is None and t.unit != "ns"
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return False
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _plain(t.value_type)
    return True


def _column_values(arr: pa.Array | pa.ChunkedArray) -> list[Any]:
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return _column_values(arr.chunk(0))
        out: list[Any] = []
        for chunk in arr.chunks:
            out.extend(_column_values(chunk))
        return out
    if _plain(arr.type):
        return arr.to_pylist()
    arr = _python_ready(arr)
    t = arr.type
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        children = [_column_values(arr.field(i)) for i in range(t.num_fields)]
        make = Row._from_values
        values: list[Any] = [make(v, names) for v in zip(*children, strict=True)] if children \
            else [make((), names) for _ in range(len(arr))]
    elif pa.types.is_map(t):
        offsets, start, stop = _rebased_offsets(arr)
        keys = _column_values(arr.keys.slice(start, stop - start))
        items = _column_values(arr.items.slice(start, stop - start))
        values = [dict(zip(keys[lo:hi], items[lo:hi], strict=True))
                  for lo, hi in zip(offsets, offsets[1:], strict=False)]
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets, start, stop = _rebased_offsets(arr)
        flat = _column_values(arr.values.slice(start, stop - start))
        values = [flat[lo:hi] for lo, hi in zip(offsets, offsets[1:], strict=False)]
    else:
        return arr.to_pylist()
    if arr.null_count:
        valid = arr.is_valid().to_pylist()
        values = [v if ok else None for v, ok in zip(values, valid, strict=True)]
    return values


def _rebased_offsets(arr: pa.Array) -> tuple[list[int], int, int]:
    # a sliced list array keeps its whole child: convert only the part the offsets cover
    offsets = arr.offsets.to_pylist()
    start, stop = offsets[0], offsets[-1]
    return [o - start for o in offsets], start, stop


def arrow_to_rows(
    table: pa.Table | pa.RecordBatch, *, names: list[str] | None = None,
) -> list[Row]:
    """The rows of ``table`` as ``Row`` objects, converted column by column.

    Dates become ``datetime.date``, timestamps naive ``datetime.datetime``, decimals
    ``Decimal``, structs nested ``Row``, maps ``dict`` and lists ``list``. ``names`` replaces
    the column names and may repeat a name.
    """
    fields = list(names) if names is not None else list(table.column_names)
    if len(fields) != table.num_columns:
        msg = (f"got {len(fields)} names for a table of {table.num_columns} columns\n\n"
               "pass one name per column")
        raise ValueError(msg)
    make = Row._from_values
    if not fields:
        return [make((), fields) for _ in range(table.num_rows)]
    with _gc_paused(table.num_rows):
        columns = [_column_values(col) for col in table.columns]
        return [make(values, fields) for values in zip(*columns, strict=True)]
