"""Spark's type rules over Arrow types: names, widening and implicit casts."""

from __future__ import annotations

import pyarrow as pa

_INTEGRAL_ORDER = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]


def type_sql(t: pa.DataType) -> str:
    """Spark's simple name of an Arrow type: ``bigint``, ``string``, ``array<int>``..."""
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int8(t):
        return "tinyint"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_null(t):
        return "void"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{type_sql(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{type_sql(t.key_type)},{type_sql(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{t.field(i).name}:{type_sql(t.field(i).type)}" for i in range(t.num_fields))
        return f"struct<{inner}>"
    return str(t)


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def wider_numeric(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both numeric operands are cast to, following Spark's numeric precedence."""
    if a == b:
        return a
    if pa.types.is_floating(a) or pa.types.is_floating(b):
        if pa.types.is_float64(a) or pa.types.is_float64(b) or pa.types.is_decimal(a) \
                or pa.types.is_decimal(b):
            return pa.float64()
        if pa.types.is_integer(a) or pa.types.is_integer(b):
            # Spark widens int + float to float, long + float to float as well.
            return pa.float32()
        return pa.float32()
    if pa.types.is_decimal(a) or pa.types.is_decimal(b):
        da = a if pa.types.is_decimal(a) else _integral_as_decimal(a)
        db = b if pa.types.is_decimal(b) else _integral_as_decimal(b)
        scale = max(da.scale, db.scale)
        whole = max(da.precision - da.scale, db.precision - db.scale)
        return pa.decimal128(min(38, whole + scale), scale)
    ia = _INTEGRAL_ORDER.index(a) if a in _INTEGRAL_ORDER else 3
    ib = _INTEGRAL_ORDER.index(b) if b in _INTEGRAL_ORDER else 3
    return _INTEGRAL_ORDER[max(ia, ib)]


def _integral_as_decimal(t: pa.DataType) -> pa.DataType:
    digits = {8: 3, 16: 5, 32: 10, 64: 20}.get(t.bit_width, 20)
    return pa.decimal128(digits, 0)


def common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type two values are combined at (CASE branches, coalesce, union), or None if there is
    none: Spark's findWiderTypeForTwo, where a string and a number or date widen to a string."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if is_numeric(a) and is_numeric(b):
        return wider_numeric(a, b)
    if is_string(a) and is_string(b):
        return pa.string()
    if pa.types.is_date(a) and pa.types.is_timestamp(b):
        return b
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return pa.timestamp("us")
    if (is_string(a) and _promotes_to_string(b)) or (is_string(b) and _promotes_to_string(a)):
        return pa.string()
    return None


def _promotes_to_string(t: pa.DataType) -> bool:
    return is_numeric(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)


def _cast_string_for_comparison(t: pa.DataType) -> bool:
    return _promotes_to_string(t) or pa.types.is_boolean(t)


def comparison_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """Spark (non-ANSI) compares a string with an atomic value by casting the string."""
    if is_string(a) and _cast_string_for_comparison(b):
        return b
    if is_string(b) and _cast_string_for_comparison(a):
        return a
    return common_type(a, b)


def arithmetic_type(op: str, a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if is_string(a) and is_numeric(b):
        a = pa.float64()
    if is_string(b) and is_numeric(a):
        b = pa.float64()
    if pa.types.is_null(a) and pa.types.is_null(b):
        return pa.float64() if op == "/" else pa.int32()
    if pa.types.is_null(a):
        a = b
    if pa.types.is_null(b):
        b = a
    if not (is_numeric(a) and is_numeric(b)):
        return None
    if op == "/" and not (pa.types.is_decimal(a) and pa.types.is_decimal(b)):
        return pa.float64()
    return wider_numeric(a, b)
