"""Deterministic, vectorised hashing of Arrow columns for hash partitioning.

Python's ``hash()`` is salted per process, so two executors would disagree on where a key
belongs. The hashes here depend only on the values: every process, run and (little-endian)
machine computes the same ``uint64`` for the same row. All work is numpy over Arrow buffers;
there is no per-row Python.

How a row is hashed:

1. Each column gives a 64-bit *key* per row:

   - integers of any width, bool, dates, times, timestamps and durations: the value as a
     signed 64-bit integer (so ``int32 5`` and ``int64 5`` agree);
   - float32/float64: the bits of the value as a float64, after turning ``-0.0`` into ``0.0``
     and every NaN into one canonical NaN;
   - decimal128/decimal256: the unscaled value's 64-bit words, mixed together;
   - strings and binaries: a polynomial hash of the bytes mod 2**64, mixed with the length;
   - dictionary arrays: the key of the decoded value, so the encoding never matters;
   - structs: the keys of the fields, combined;
   - null (of any type): the constant ``NULL_KEY``.

2. Keys are folded left to right: ``h = mix(h * K + key)``, starting from ``mix(seed)``,
   where ``mix`` is the splitmix64 finaliser, so ``h % n`` spreads evenly.

Values of different types are not made equal (``1.0`` and ``1`` differ; decimals with
different scales differ): the planner casts join and grouping keys to one type first.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.types as pat

__all__ = [
    "NULL_KEY",
    "hash_arrays",
    "partition_ids",
    "split_by_partition",
]

_MASK = (1 << 64) - 1
# Golden-ratio constant: odd, so multiplying by it is a bijection mod 2**64.
_K_COMBINE = 0x9E3779B97F4A7C15
_K_LENGTH = 0xD6E8FEB86659FD93
# Base of the string polynomial; must be odd so it has an inverse mod 2**64.
_P_STRING = 0xC6A4A7935BD1E995
_P_STRING_INV = pow(_P_STRING, -1, 1 << 64)

NULL_KEY = 0x5BD1E9955BD1E995
"""Key every null value contributes, whatever its type."""

# Strings are hashed in slices of about this many bytes, which bounds the temporary arrays
# (a few uint64 per byte) and the cached power tables.
_STRING_CHUNK_BYTES = 1 << 20

_INTEGER_DTYPES: dict[pa.DataType, np.dtype] = {
    pa.int8(): np.dtype(np.int8),
    pa.int16(): np.dtype(np.int16),
    pa.int32(): np.dtype(np.int32),
    pa.int64(): np.dtype(np.int64),
    pa.uint8(): np.dtype(np.uint8),
    pa.uint16(): np.dtype(np.uint16),
    pa.uint32(): np.dtype(np.uint32),
    pa.uint64(): np.dtype(np.uint64),
}


def _mix_scalar(x: int) -> int:
    """splitmix64 finaliser on a Python int, for the seed."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


def _mix_inplace(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wraps mod 2**64)."""
    tmp = np.empty_like(x)
    np.right_shift(x, _S30, out=tmp)
    np.bitwise_xor(x, tmp, out=x)
    np.multiply(x, _M1, out=x)
    np.right_shift(x, _S27, out=tmp)
    np.bitwise_xor(x, tmp, out=x)
    np.multiply(x, _M2, out=x)
    np.right_shift(x, _S31, out=tmp)
    np.bitwise_xor(x, tmp, out=x)
    return x


def _fold_inplace(h: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``h = mix(h * K + keys)``, in place on ``h``."""
    np.multiply(h, np.uint64(_K_COMBINE), out=h)
    np.add(h, keys, out=h)
    return _mix_inplace(h)


# -- power tables for the string polynomial ------------------------------------------------

_powers_lock = threading.Lock()
_powers: tuple[np.ndarray, np.ndarray] | None = None


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**k`` and ``P**-k`` mod 2**64 for k in [0, length)."""
    global _powers
    cached = _powers
    if cached is not None and len(cached[0]) >= length:
        return cached
    size = max(length, _STRING_CHUNK_BYTES + 1)
    pows = np.full(size, _P_STRING, dtype=np.uint64)
    pows[0] = 1
    np.cumprod(pows, out=pows)
    inv = np.full(size, _P_STRING_INV, dtype=np.uint64)
    inv[0] = 1
    np.cumprod(inv, out=inv)
    if size == _STRING_CHUNK_BYTES + 1:
        # Only the standard size is kept; a table for one giant string is used and dropped.
        with _powers_lock:
            _powers = (pows, inv)
    return pows, inv


# -- per-type keys ---------------------------------------------------------------------------


def _null_mask(arr: pa.Array) -> np.ndarray | None:
    if arr.null_count == 0:
        return None
    return arr.is_null().to_numpy(zero_copy_only=False)


def _fixed_width_values(arr: pa.Array, dtype: np.dtype) -> np.ndarray:
    buf = arr.buffers()[1]
    return np.frombuffer(buf, dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _integer_keys(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint64:
        return values.copy()
    # Sign-extend to int64 first so equal values of different widths give equal keys.
    return values.astype(np.int64).view(np.uint64)


def _bool_keys(arr: pa.Array) -> np.ndarray:
    bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    unpacked = np.unpackbits(bits, bitorder="little", count=arr.offset + len(arr))
    return unpacked[arr.offset :].astype(np.uint64)


def _float_keys(values: np.ndarray) -> np.ndarray:
    # Widening to float64 is exact; adding 0.0 turns -0.0 into 0.0 (IEEE round-to-nearest).
    v = np.add(values, 0.0, dtype=np.float64)
    nan = np.isnan(v)
    if nan.any():
        v[nan] = np.nan  # one canonical NaN bit pattern
    return v.view(np.uint64)


def _decimal_keys(arr: pa.Array, words: int) -> np.ndarray:
    raw = np.frombuffer(
        arr.buffers()[1], dtype=np.uint64, count=len(arr) * words, offset=arr.offset * words * 8
    ).reshape(len(arr), words)
    keys = raw[:, 0].copy()
    for w in range(1, words):
        _fold_inplace(keys, raw[:, w])
    return keys


def _bytes_keys(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Key of each variable-length value; ``offsets`` has n+1 entries indexing ``data``.

    The polynomial ``sum(b[j] * P**j)`` is computed for all rows at once: multiply each byte
    by ``P**k`` (k its position in the slice), take a running sum, difference it at the row
    bounds, and multiply by ``P**-start`` so the result does not depend on where the value
    sits. Everything wraps mod 2**64 and P is odd, so the inverse exists and the result is
    exact. Empty values give a difference of 0.
    """
    n = len(offsets) - 1
    keys = np.empty(n, dtype=np.uint64)
    # Row ranges whose bytes span about _STRING_CHUNK_BYTES each (always at least one row).
    targets = offsets[0] + np.arange(_STRING_CHUNK_BYTES, offsets[-1] - offsets[0],
                                     _STRING_CHUNK_BYTES, dtype=np.int64)
    cuts = np.unique(np.concatenate(
        [[0], np.searchsorted(offsets, targets, side="right"), [n]]
    ))
    for r0, r1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        if r1 <= r0:
            continue
        base = int(offsets[r0])
        span = int(offsets[r1]) - base
        pows, inv = _power_tables(span + 1)
        running = np.empty(span + 1, dtype=np.uint64)
        running[0] = 0
        np.multiply(data[base : base + span], pows[:span], out=running[1:])
        np.cumsum(running[1:], out=running[1:])
        starts = offsets[r0:r1] - base
        ends = offsets[r0 + 1 : r1 + 1] - base
        poly = running[ends] - running[starts]
        np.multiply(poly, inv[starts], out=poly)
        lengths = (ends - starts).astype(np.uint64)
        np.multiply(lengths, np.uint64(_K_LENGTH), out=lengths)
        np.add(poly, lengths, out=poly)
        keys[r0:r1] = _mix_inplace(poly)
    return keys


def _binary_keys(arr: pa.Array) -> np.ndarray:
    offset_dtype = np.int64 if (pat.is_large_string(arr.type) or pat.is_large_binary(arr.type)) \
        else np.int32
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_dtype, count=len(arr) + 1,
                            offset=arr.offset * np.dtype(offset_dtype).itemsize)
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and \
        data_buf.size else np.zeros(0, dtype=np.uint8)
    return _bytes_keys(offsets, data)


def _fixed_binary_keys(arr: pa.Array) -> np.ndarray:
    width = arr.type.byte_width
    data = np.frombuffer(arr.buffers()[1], dtype=np.uint8, count=len(arr) * width,
                         offset=arr.offset * width)
    offsets = np.arange(len(arr) + 1, dtype=np.int64) * width
    return _bytes_keys(offsets, data)


def _dictionary_keys(arr: pa.DictionaryArray) -> np.ndarray:
    value_keys = _array_keys(arr.dictionary)
    indices = arr.indices
    idx = indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.intp)
    keys = value_keys[idx] if len(value_keys) else np.full(len(arr), NULL_KEY, np.uint64)
    mask = _null_mask(indices)
    if mask is not None:
        keys[mask] = NULL_KEY
    return keys


def _struct_keys(arr: pa.StructArray) -> np.ndarray:
    keys = np.full(len(arr), _mix_scalar(len(arr.type)), dtype=np.uint64)
    for field in arr.flatten():
        _fold_inplace(keys, _array_keys(field))
    return keys


def _unsupported(arr: pa.Array) -> TypeError:
    msg = (
        f"cannot hash a column of type {arr.type}\n\n"
        "hash partitioning supports integers, bool, floats, decimals, dates, times, "
        "timestamps, durations, strings, binaries, dictionaries and structs of those; "
        "cast the key column to one of them"
    )
    return TypeError(msg)


def _array_keys(arr: pa.Array) -> np.ndarray:
    """The 64-bit key of each row of one (non-chunked) array."""
    t = arr.type
    n = len(arr)
    if pat.is_null(t) or n == 0:
        return np.full(n, NULL_KEY, dtype=np.uint64)
    if isinstance(arr, pa.ExtensionArray):
        return _array_keys(arr.storage)
    if pat.is_dictionary(t):
        return _dictionary_keys(arr)  # nulls handled inside
    if pat.is_struct(t):
        keys = _struct_keys(arr)
    elif t in _INTEGER_DTYPES:
        keys = _integer_keys(_fixed_width_values(arr, _INTEGER_DTYPES[t]))
    elif pat.is_boolean(t):
        keys = _bool_keys(arr)
    elif pat.is_float32(t):
        keys = _float_keys(_fixed_width_values(arr, np.dtype(np.float32)))
    elif pat.is_float64(t):
        keys = _float_keys(_fixed_width_values(arr, np.dtype(np.float64)))
    elif pat.is_float16(t):
        keys = _float_keys(_fixed_width_values(arr, np.dtype(np.float16)))
    elif pat.is_date32(t) or pat.is_time32(t):
        keys = _integer_keys(_fixed_width_values(arr, np.dtype(np.int32)))
    elif pat.is_date64(t) or pat.is_time64(t) or pat.is_timestamp(t) or pat.is_duration(t):
        keys = _integer_keys(_fixed_width_values(arr, np.dtype(np.int64)))
    elif pat.is_decimal128(t):
        keys = _decimal_keys(arr, 2)
    elif pat.is_decimal256(t):
        keys = _decimal_keys(arr, 4)
    elif pat.is_string(t) or pat.is_binary(t) or pat.is_large_string(t) \
            or pat.is_large_binary(t):
        keys = _binary_keys(arr)
    elif pat.is_string_view(t):
        keys = _binary_keys(arr.cast(pa.large_string()))
    elif pat.is_binary_view(t):
        keys = _binary_keys(arr.cast(pa.large_binary()))
    elif pat.is_fixed_size_binary(t):
        keys = _fixed_binary_keys(arr)
    else:
        raise _unsupported(arr)
    mask = _null_mask(arr)
    if mask is not None:
        keys[mask] = NULL_KEY
    return keys


def _column_keys(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return _array_keys(column.chunk(0))
        if column.num_chunks == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate([_array_keys(c) for c in column.chunks])
    return _array_keys(column)


# -- public API --------------------------------------------------------------------------------


def hash_arrays(arrays: Sequence[pa.Array | pa.ChunkedArray], *, seed: int = 42) -> np.ndarray:
    """Hash each row of the given key columns to a ``uint64``.

    The result depends only on the values (and ``seed``): equal rows hash equal whatever the
    chunking, slicing or dictionary encoding, in every process.

    >>> import pyarrow as pa
    >>> h = hash_arrays([pa.array([1, 2, None]), pa.array(["a", "b", "c"])])
    >>> h.dtype, len(h)
    (dtype('uint64'), 3)
    >>> bool(hash_arrays([pa.array([7], pa.int8())])[0] == hash_arrays([pa.array([7])])[0])
    True
    """
    if len(arrays) == 0:
        msg = "hash_arrays needs at least one column"
        raise ValueError(msg)
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        msg = f"key columns have different lengths: {[len(a) for a in arrays]}"
        raise ValueError(msg)
    (n,) = lengths
    h = np.full(n, _mix_scalar(seed), dtype=np.uint64)
    for column in arrays:
        _fold_inplace(h, _column_keys(column))
    return h


def partition_ids(
    arrays: Sequence[pa.Array | pa.ChunkedArray], num_partitions: int, *, seed: int = 42
) -> np.ndarray:
    """The reduce partition (``int64`` in ``[0, num_partitions)``) of each row.

    >>> import pyarrow as pa
    >>> pids = partition_ids([pa.array(["x", "y", "x"])], 4)
    >>> bool(pids[0] == pids[2]), bool(pids.max() < 4)
    (True, True)
    """
    if num_partitions < 1:
        msg = f"num_partitions must be at least 1, got {num_partitions}"
        raise ValueError(msg)
    h = hash_arrays(arrays, seed=seed)
    if num_partitions == 1:
        return np.zeros(len(h), dtype=np.int64)
    return (h % np.uint64(num_partitions)).astype(np.int64)


def split_by_partition(
    data: pa.RecordBatch | pa.Table, pids: np.ndarray, num_partitions: int
) -> list[pa.RecordBatch | pa.Table | None]:
    """Group the rows of ``data`` by partition id, keeping their order within a partition.

    Returns one entry per partition: a zero-copy slice of the regrouped rows (same kind as
    ``data``), or ``None`` where no row goes. The regrouping is one stable argsort, one take
    and ``num_partitions`` slices.

    >>> import numpy as np, pyarrow as pa
    >>> parts = split_by_partition(pa.table({"v": [10, 11, 12]}), np.array([1, 0, 1]), 3)
    >>> [None if p is None else p["v"].to_pylist() for p in parts]
    [[11], [10, 12], None]
    """
    pids = np.asarray(pids)
    if len(pids) != data.num_rows:
        msg = f"got {len(pids)} partition ids for {data.num_rows} rows"
        raise ValueError(msg)
    out: list[pa.RecordBatch | pa.Table | None] = [None] * num_partitions
    if len(pids) == 0:
        return out
    counts = np.bincount(pids, minlength=num_partitions)
    if len(counts) > num_partitions or pids.min() < 0:
        msg = (
            f"partition ids must be in [0, {num_partitions}), "
            f"got values in [{pids.min()}, {pids.max()}]"
        )
        raise ValueError(msg)
    nonempty = np.flatnonzero(counts)
    if len(nonempty) == 1:
        out[int(nonempty[0])] = data
        return out
    # numpy uses a radix sort for stable sorts of 16-bit keys, several times faster.
    sort_keys = pids.astype(np.int16) if num_partitions <= np.iinfo(np.int16).max else pids
    order = np.argsort(sort_keys, kind="stable")
    grouped = data.take(pa.array(order))
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    for p in nonempty.tolist():
        out[p] = grouped.slice(bounds[p], bounds[p + 1] - bounds[p])
    return out
