"""Reading the arguments of scalar function kernels.

Kernels get every argument as an array of the batch's length, literals included. Most
parameters (a pattern, a format, a pad string) are literals in practice, and the vectorised
paths need them as one Python value; :func:`constant` recovers it. When a parameter does vary
by row, kernels fall back to :func:`per_row`, which applies a Python function row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NOT_CONSTANT = object()
"""What :func:`constant` returns when the rows differ."""


def constant(arr: pa.Array) -> Any:
    """The one value every row of ``arr`` holds (None for all nulls), or ``NOT_CONSTANT``."""
    if len(arr) == 0:
        return None
    if arr.null_count == len(arr):
        return None
    if arr.null_count:
        return NOT_CONSTANT
    first = arr[0]
    if pa.types.is_floating(arr.type) and first.as_py() != first.as_py():
        return NOT_CONSTANT  # NaN equals nothing
    same = pc.all(pc.equal(arr, first)).as_py() if _comparable(arr.type) else False
    return first.as_py() if same else NOT_CONSTANT



def _comparable(t: pa.DataType) -> bool:
    return not (pa.types.is_nested(t) or pa.types.is_dictionary(t))


def is_constant(value: Any) -> bool:
    return value is not NOT_CONSTANT


def per_row(fn: Callable[..., Any], args: Sequence[pa.Array], out_type: pa.DataType, *,
            null_in_null_out: bool = True) -> pa.Array:
    """Apply ``fn`` to the Python values of each row; a null argument gives null unless
    ``null_in_null_out`` is False."""
    columns = [a.to_pylist() for a in args]
    out = []
    for row in zip(*columns, strict=True):
        if null_in_null_out and any(v is None for v in row):
            out.append(None)
        else:
            out.append(fn(*row))
    return pa.array(out, out_type)


def ints(arr: pa.Array, fill: int = 0) -> np.ndarray:
    """Integer values as int64 with nulls replaced by ``fill``."""
    return pc.fill_null(arr, fill).to_numpy(zero_copy_only=False).astype(np.int64)


def floats(arr: pa.Array, fill: float = 0.0) -> np.ndarray:
    return pc.fill_null(arr.cast(pa.float64()), fill).to_numpy(zero_copy_only=False).astype(
        np.float64)


def nulls_of(*args: pa.Array) -> np.ndarray:
    """True where any argument is null."""
    mask = np.zeros(len(args[0]), dtype=bool)
    for a in args:
        if a.null_count:
            mask |= np.asarray(pc.is_null(a).to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def with_nulls(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` with nulls where ``mask`` is set."""
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)
