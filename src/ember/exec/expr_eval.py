"""Vectorised evaluation of resolved expressions over Arrow record batches."""

from __future__ import annotations

from contextvars import ContextVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.plan import functions
from ember.plan.computed import ComputedExpression, RowPosition
from ember.plan.expressions import (
    COMPARISON,
    Alias,
    And,
    AttributeReference,
    BinaryOp,
    Call,
    CaseWhen,
    Cast,
    Expression,
    In,
    IsNotNull,
    IsNull,
    Literal,
    Negative,
    Not,
    Or,
)
from ember.plan.typesys import is_string
from ember.plan.udf import PythonUDF

Batch = pa.RecordBatch | pa.Table
Value = pa.Array | pa.ChunkedArray | pa.Scalar


# Where the rows being evaluated are (partition, rows before them), for expressions such as
# rand() and monotonically_increasing_id(). Operators that count their rows pass it in.
_POSITION: ContextVar[RowPosition | None] = ContextVar("ember_row_position", default=None)


def evaluate(expr: Expression, batch: Batch, *, position: RowPosition | None = None) -> pa.Array:
    """Evaluate ``expr`` over ``batch``; the result is an array of the batch's length.

    ``position`` tells partition-dependent expressions where the batch's rows are; without it
    they see partition 0 and a batch that starts the partition.
    """
    if position is None:
        return materialize(_eval(expr, batch), batch.num_rows, expr.dtype)
    token = _POSITION.set(position)
    try:
        return materialize(_eval(expr, batch), batch.num_rows, expr.dtype)
    finally:
        _POSITION.reset(token)


def materialize(value: Value, n: int, dtype: pa.DataType) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks() if value.num_chunks != 1 else value.chunk(0)
    if isinstance(value, pa.Scalar):
        nulls = pa.nulls(n, value.type if not pa.types.is_null(value.type) else dtype)
        value = nulls if not value.is_valid else pc.fill_null(nulls, value)
    if value.type != dtype and not pa.types.is_null(dtype):
        value = value.cast(dtype, safe=False)
    return value


def _eval(e: Expression, batch: Batch) -> Value:
    if isinstance(e, AttributeReference):
        return batch.column(e.key)
    if isinstance(e, Literal):
        return pa.scalar(e.value, e.dtype)
    if isinstance(e, Alias):
        return _eval(e.child, batch)
    if isinstance(e, BinaryOp):
        return _binary(e, _eval(e.left, batch), _eval(e.right, batch))
    if isinstance(e, And):
        return pc.and_kleene(_eval(e.left, batch), _eval(e.right, batch))
    if isinstance(e, Or):
        return pc.or_kleene(_eval(e.left, batch), _eval(e.right, batch))
    if isinstance(e, Not):
        return pc.invert(_eval(e.child, batch))
    if isinstance(e, IsNull):
        v = _eval(e.child, batch)
        return pa.scalar(not v.is_valid) if isinstance(v, pa.Scalar) else pc.is_null(v)
    if isinstance(e, IsNotNull):
        v = _eval(e.child, batch)
        return pa.scalar(v.is_valid) if isinstance(v, pa.Scalar) else pc.is_valid(v)
    if isinstance(e, Negative):
        return pc.negate(_eval(e.child, batch))
    if isinstance(e, Cast):
        child = materialize(_eval(e.child, batch), batch.num_rows, e.child.dtype)
        return spark_cast(child, e.to)
    if isinstance(e, In):
        return _in(e, batch)
    if isinstance(e, CaseWhen):
        return _case_when(e, batch)
    if isinstance(e, PythonUDF):
        return e.apply([evaluate(a, batch) for a in e.args])
    if isinstance(e, ComputedExpression):
        args = [evaluate(a, batch) for a in e.children]
        return e.compute(args, batch.num_rows, _POSITION.get() or RowPosition())
    if isinstance(e, Call):
        spec = functions.lookup(e.name)
        args = [evaluate(a, batch) for a in e.args]
        return spec.kernel(args)
    msg = f"cannot evaluate {type(e).__name__} {e.sql()} here"
    raise TypeError(msg)


def _binary(e: BinaryOp, left: Value, right: Value) -> Value:
    op = e.op
    if op == "+":
        return pc.add(left, right)
    if op == "-":
        return pc.subtract(left, right)
    if op == "*":
        return pc.multiply(left, right)
    if op == "/":
        # Spark (non-ANSI) gives null for a division by zero.
        zero = pc.equal(right, pa.scalar(0, e.right.dtype) if not
                        pa.types.is_decimal(e.right.dtype) else pa.scalar(0).cast(e.right.dtype))
        if pa.types.is_decimal(e.dtype):
            safe_right = pc.if_else(zero, pa.scalar(1).cast(e.right.dtype), right)
            quotient = pc.divide(pc.cast(left, pa.float64()), pc.cast(safe_right, pa.float64()))
        else:
            safe_right = pc.if_else(zero, pa.scalar(1.0), right)
            quotient = pc.divide(left, safe_right)
        return pc.if_else(zero, pa.scalar(None, quotient.type), quotient)
    if op == "%":
        return _remainder(left, right, e.dtype)
    if op in COMPARISON and pa.types.is_floating(e.left.dtype):
        return _compare_floats(op, left, right)
    if op == "=":
        return pc.equal(left, right)
    if op == "!=":
        return pc.not_equal(left, right)
    if op == "<":
        return pc.less(left, right)
    if op == "<=":
        return pc.less_equal(left, right)
    if op == ">":
        return pc.greater(left, right)
    if op == ">=":
        return pc.greater_equal(left, right)
    if op == "<=>":
        both_null = pc.and_(_is_null(left), _is_null(right))
        eq = pc.fill_null(pc.equal(left, right), False)
        return pc.or_(both_null, eq)
    msg = f"unknown operator {op}"
    raise ValueError(msg)


def _is_null(v: Value) -> Value:
    return pa.scalar(not v.is_valid) if isinstance(v, pa.Scalar) else pc.is_null(v)


def _compare_floats(op: str, left: Value, right: Value) -> Value:
    """Spark orders NaN above every other value and equal to itself (IEEE has NaN != NaN)."""

    def less(a: Value, b: Value) -> Value:
        # The null-propagating and_/or_ keep the result null where either side is.
        return pc.and_(pc.invert(pc.is_nan(a)), pc.or_(pc.is_nan(b), pc.less(a, b)))

    equal = pc.or_(pc.equal(left, right), pc.and_(pc.is_nan(left), pc.is_nan(right)))
    if op == "=":
        return equal
    if op == "!=":
        return pc.invert(equal)
    if op == "<=>":
        return pc.or_(pc.and_(_is_null(left), _is_null(right)), pc.fill_null(equal, False))
    if op == "<":
        return less(left, right)
    if op == ">":
        return less(right, left)
    if op == "<=":
        return pc.invert(less(right, left))
    return pc.invert(less(left, right))


def normalize_floats(arr: pa.Array) -> pa.Array:
    """Spark's NormalizeFloatingNumbers: -0.0 becomes 0.0 and every NaN one NaN, so that grouping,
    join and IN keys are equal exactly where Spark's ``=`` says they are."""
    if not pa.types.is_floating(arr.type):
        return arr
    zeroed = pc.add(arr, pa.scalar(0.0, arr.type))  # -0.0 + 0.0 is 0.0
    return pc.if_else(pc.is_nan(zeroed), pa.scalar(float("nan"), arr.type), zeroed)


def _remainder(left: Value, right: Value, dtype: pa.DataType) -> pa.Array:
    """Java's ``%``: the sign follows the dividend; a zero divisor gives null."""
    n = len(left) if not isinstance(left, pa.Scalar) else len(right)
    la = materialize(left, n, dtype)
    ra = materialize(right, n, dtype)
    np_type = np.float64 if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype) else np.int64
    ln = pc.fill_null(la, 0).to_numpy(zero_copy_only=False).astype(np_type)
    rn = pc.fill_null(ra, 1).to_numpy(zero_copy_only=False).astype(np_type)
    zero = rn == 0
    safe = np.where(zero, 1, rn)
    out = np.fmod(ln, safe)
    mask = np.asarray(pc.is_null(la)) | np.asarray(pc.is_null(ra)) | zero
    return pa.array(out, mask=mask).cast(dtype, safe=False)


def _in(e: In, batch: Batch) -> Value:
    child = evaluate(e.child, batch)
    if all(isinstance(v, Literal) for v in e.values):
        vals = [v.value for v in e.values]  # type: ignore[attr-defined]
        has_null = any(v is None for v in vals)
        value_set = pa.array([v for v in vals if v is not None], child.type)
        found = pc.is_in(normalize_floats(child), value_set=normalize_floats(value_set),
                         skip_nulls=True)
        if has_null:
            found = pc.if_else(found, True, pa.scalar(None, pa.bool_()))
        return pc.if_else(pc.is_null(child), pa.scalar(None, pa.bool_()), found)
    out: Value = pa.scalar(False)
    floating = pa.types.is_floating(child.type)
    for v in e.values:
        value = _eval(v, batch)
        equal = _compare_floats("=", child, value) if floating else pc.equal(child, value)
        out = pc.or_kleene(out, equal)
    return out


def _case_when(e: CaseWhen, batch: Batch) -> pa.Array:
    n = batch.num_rows
    conds = [pc.fill_null(evaluate(c, batch), False) for c, _ in e.branches]
    values = [evaluate(v, batch) for _, v in e.branches]
    if e.otherwise is not None:
        values.append(evaluate(e.otherwise, batch))
    if n == 0:
        return pa.array([], e.dtype)
    names = [f"c{i}" for i in range(len(conds))]
    return pc.case_when(pa.StructArray.from_arrays(conds, names), *values)


# ---------------------------------------------------------------------------------------------
# Spark's CAST (non-ANSI): invalid input becomes null instead of failing.

# Spark's UTF8String.toLong: a sign, digits and an optional '.' whose digits are dropped ("3.7" is
# 3, ".5" is 0). Exponents, letters, empty text and overflow make null.
_INT_RE = r"^[+-]?(\d+\.?\d*|\.\d*)$"
_NUM_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?\s*$"
# Spark's stringToDate: yyyy, yyyy-[m]m or yyyy-[m]m-[d]d, the last one optionally followed by
# ' ' or 'T' and anything at all.
_DATE_RE = r"^(?P<y>\d{4})(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2})(?:[ T].*)?)?)?$"
_TRUE = ["t", "true", "y", "yes", "1"]
_FALSE = ["f", "false", "n", "no", "0"]


def spark_cast(arr: pa.Array, to: pa.DataType) -> pa.Array:
    src = arr.type
    if src == to:
        return arr
    if pa.types.is_null(src):
        return pa.nulls(len(arr), to)
    if is_string(to):
        return _to_string(arr)
    if is_string(src):
        return _from_string(arr, to)
    if pa.types.is_boolean(to) and (pa.types.is_integer(src) or pa.types.is_floating(src)):
        return pc.not_equal(arr, pa.scalar(0, src))
    if pa.types.is_integer(to) and pa.types.is_floating(src):
        return _float_to_integer(arr, to)
    return pc.cast(arr, to, safe=False)


def _float_to_integer(arr: pa.Array, to: pa.DataType) -> pa.Array:
    """Java's conversion: truncate toward zero, NaN is 0, and values beyond an int (a long for
    bigint) saturate at its bounds; tinyint and smallint then keep the low bits of that int."""
    wide = pa.int64() if pa.types.is_int64(to) else pa.int32()
    bounds = np.iinfo(wide.to_pandas_dtype())
    clean = pc.if_else(pc.is_nan(arr), 0.0, arr)
    above = pc.greater_equal(clean, float(bounds.max))
    below = pc.less_equal(clean, float(bounds.min))
    inside = pc.if_else(pc.or_(above, below), 0.0, pc.trunc(clean))
    value = pc.cast(inside, wide)
    value = pc.if_else(above, pa.scalar(int(bounds.max), wide),
                       pc.if_else(below, pa.scalar(int(bounds.min), wide), value))
    return pc.cast(value, to, safe=False)


def _to_string(arr: pa.Array) -> pa.Array:
    src = arr.type
    if pa.types.is_floating(src):
        from ember.exec.java_format import format_double, format_float

        fmt = format_float if pa.types.is_float32(src) else format_double
        return pa.array([None if v is None else fmt(v) for v in arr.to_pylist()], pa.string())
    if pa.types.is_boolean(src):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_timestamp(src):
        whole = pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
        micros = pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False) % 1_000_000
        if not np.any(micros):
            return whole
        frac = pa.array([f".{m:06d}".rstrip("0") if m else "" for m in micros])
        return pc.binary_join_element_wise(whole, frac, "")
    return pc.cast(arr, pa.string(), safe=False)


def _from_string(arr: pa.Array, to: pa.DataType) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    null_of = pa.scalar(None, to)
    if pa.types.is_integer(to):
        return _text_to_integer(trimmed, to)
    if pa.types.is_floating(to) or pa.types.is_decimal(to):
        lowered = pc.utf8_lower(trimmed)
        special = {"nan": float("nan"), "infinity": float("inf"), "-infinity": float("-inf"),
                   "+infinity": float("inf"), "inf": float("inf"), "-inf": float("-inf")}
        is_num = pc.match_substring_regex(trimmed, _NUM_RE)
        num_text = pc.replace_substring_regex(pc.if_else(is_num, trimmed, "0"), "[dDfF]$", "")
        value = pc.cast(num_text, pa.float64())
        value = pc.if_else(is_num, value, pa.scalar(None, pa.float64()))
        for text, number in special.items():
            value = pc.if_else(pc.equal(lowered, text), number, value)
        return pc.cast(value, to, safe=False)
    if pa.types.is_boolean(to):
        lowered = pc.utf8_lower(trimmed)
        true = pc.is_in(lowered, value_set=pa.array(_TRUE))
        false = pc.is_in(lowered, value_set=pa.array(_FALSE))
        return pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
    if pa.types.is_date(to):
        return _text_to_date(trimmed, to)
    if pa.types.is_timestamp(to):
        valid = pc.match_substring_regex(
            trimmed, r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$")
        text = pc.if_else(valid, pc.replace_substring(trimmed, "T", " "), "1970-01-01")
        parsed = pc.cast(text, pa.timestamp("us"), safe=False)
        return pc.if_else(valid, parsed, null_of)
    return pc.cast(arr, to, safe=False)


def _text_to_integer(trimmed: pa.Array, to: pa.DataType) -> pa.Array:
    valid = pc.match_substring_regex(trimmed, _INT_RE)
    whole = pc.replace_substring_regex(pc.if_else(valid, trimmed, "0"), r"^\+|\..*$", "")
    whole = pc.if_else(pc.is_in(whole, pa.array(["", "-"])), "0", whole)
    whole = pc.replace_substring_regex(whole, r"^(-?)0+(\d)", r"\1\2")
    # A sign and 19 digits at most: longer text overflows every integer type. The rest parses
    # exactly as a decimal, which is then checked against the range of the target type.
    fits = pc.less_equal(pc.utf8_length(whole), 20)
    number = pc.cast(pc.if_else(fits, whole, "0"), pa.decimal128(20, 0))
    bounds = np.iinfo(to.to_pandas_dtype())
    in_range = pc.and_(pc.greater_equal(number, pa.scalar(int(bounds.min))),
                       pc.less_equal(number, pa.scalar(int(bounds.max))))
    ok = pc.and_(valid, pc.and_(fits, in_range))
    return pc.cast(pc.if_else(ok, number, pa.scalar(None, number.type)), to)


def _text_to_date(trimmed: pa.Array, to: pa.DataType) -> pa.Array:
    parts = pc.extract_regex(trimmed, _DATE_RE)
    month, day = (pc.struct_field(parts, f) for f in ("m", "d"))
    month = pc.if_else(pc.equal(month, ""), "1", month)
    day = pc.if_else(pc.equal(day, ""), "1", day)
    text = pc.binary_join_element_wise(pc.struct_field(parts, "y"), pc.utf8_lpad(month, 2, "0"),
                                       pc.utf8_lpad(day, 2, "0"), "-")
    ts = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over into March; Spark has no such date and gives null.
    exists = pc.equal(pc.day(ts), pc.cast(day, pa.int64()))
    return pc.cast(pc.if_else(exists, ts, pa.scalar(None, ts.type)), to, safe=False)
