"""Hash functions that give Spark's values: ``hash`` (Murmur3 x86_32, seed 42), ``xxhash64``
(XXH64, seed 42), ``md5``, ``sha1``, ``sha2`` and ``crc32``.

``hash`` and ``xxhash64`` fold the columns left to right, each column's hash being the seed of
the next, and skip nulls. Values are hashed as Spark encodes them: booleans, bytes, shorts,
ints and dates as a 4-byte int; longs and timestamps as 8 bytes; floats and doubles by their IEEE
bits after turning -0.0 into 0.0 (NaN has Java's one canonical bit pattern); decimals up to 18
digits by their unscaled long; strings and binaries by their bytes; arrays, maps and structs
element by element. Spark's Murmur3 differs from the reference algorithm in one way that matters
for strings: it mixes each of the last 1-3 bytes as a whole (sign-extended) block.

All of it is numpy over the Arrow buffers: strings are processed one 4-byte (8-byte, 32-byte)
block position at a time across all rows, and arrays one element position at a time.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.arguments import constant
from ember.plan.functions import FunctionSpec, register

U32 = np.uint32
U64 = np.uint64


def _rotl32(x: np.ndarray, r: int) -> np.ndarray:
    return (x << U32(r)) | (x >> U32(32 - r))


def _rotl64(x: np.ndarray, r: int) -> np.ndarray:
    return (x << U64(r)) | (x >> U64(64 - r))


# ---------------------------------------------------------------------------------------------
# Murmur3 x86_32


def _mix_k1(k: np.ndarray) -> np.ndarray:
    k = k * U32(0xCC9E2D51)
    return _rotl32(k, 15) * U32(0x1B873593)


def _mix_h1(h: np.ndarray, k: np.ndarray) -> np.ndarray:
    h = _rotl32(h ^ k, 13)
    return h * U32(5) + U32(0xE6546B64)


def _fmix32(h: np.ndarray, length: np.ndarray | int) -> np.ndarray:
    h = h ^ np.asarray(length).astype(U32)
    h ^= h >> U32(16)
    h *= U32(0x85EBCA6B)
    h ^= h >> U32(13)
    h *= U32(0xC2B2AE35)
    return h ^ (h >> U32(16))


class _Murmur3:
    @staticmethod
    def int32(v: np.ndarray, seed: np.ndarray) -> np.ndarray:
        return _fmix32(_mix_h1(seed, _mix_k1(v.astype(np.int32).view(U32))), 4)

    @staticmethod
    def int64(v: np.ndarray, seed: np.ndarray) -> np.ndarray:
        bits = v.astype(np.int64).view(U64)
        low = (bits & U64(0xFFFFFFFF)).astype(U32)
        high = (bits >> U64(32)).astype(U32)
        h = _mix_h1(seed, _mix_k1(low))
        return _fmix32(_mix_h1(h, _mix_k1(high)), 8)

    @staticmethod
    def bytes(offsets: np.ndarray, data: np.ndarray, seed: np.ndarray) -> np.ndarray:
        lengths = np.diff(offsets)
        starts = offsets[:-1]
        h = seed.copy()
        blocks = lengths // 4
        for j in range(int(blocks.max(initial=0))):
            rows = np.flatnonzero(blocks > j)
            at = starts[rows] + 4 * j
            k = (data[at].astype(U32) | (data[at + 1].astype(U32) << U32(8))
                 | (data[at + 2].astype(U32) << U32(16)) | (data[at + 3].astype(U32) << U32(24)))
            h[rows] = _mix_h1(h[rows], _mix_k1(k))
        for t in range(3):
            rows = np.flatnonzero(lengths % 4 > t)
            at = starts[rows] + 4 * blocks[rows] + t
            k = data[at].view(np.int8).astype(np.int32).view(U32)
            h[rows] = _mix_h1(h[rows], _mix_k1(k))
        return _fmix32(h, lengths)


# ---------------------------------------------------------------------------------------------
# XXH64

P1, P2, P3 = U64(0x9E3779B185EBCA87), U64(0xC2B2AE3D27D4EB4F), U64(0x165667B19E3779F9)
P4, P5 = U64(0x85EBCA77C2B2AE63), U64(0x27D4EB2F165667C5)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U64(33))
    h = h * P2
    h = h ^ (h >> U64(29))
    h = h * P3
    return h ^ (h >> U64(32))


def _round64(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl64(acc + lane * P2, 31) * P1


def _words(data: np.ndarray, at: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(len(at), dtype=U64)
    for b in range(size):
        out |= data[at + b].astype(U64) << U64(8 * b)
    return out


class _XXH64:
    @staticmethod
    def int32(v: np.ndarray, seed: np.ndarray) -> np.ndarray:
        h = seed + P5 + U64(4)
        h ^= v.astype(np.int32).view(U32).astype(U64) * P1
        return _fmix64(_rotl64(h, 23) * P2 + P3)

    @staticmethod
    def int64(v: np.ndarray, seed: np.ndarray) -> np.ndarray:
        h = seed + P5 + U64(8)
        h ^= _round64(U64(0), v.astype(np.int64).view(U64))
        return _fmix64(_rotl64(h, 27) * P1 + P4)

    @staticmethod
    def bytes(offsets: np.ndarray, data: np.ndarray, seed: np.ndarray) -> np.ndarray:
        lengths = np.diff(offsets)
        pos = offsets[:-1].copy()
        end = offsets[1:]
        h = seed + P5
        long_rows = np.flatnonzero(lengths >= 32)
        if len(long_rows):
            s = seed[long_rows]
            v = [s + P1 + P2, s + P2, s.copy(), s - P1]
            stripes = lengths[long_rows] // 32
            for j in range(int(stripes.max())):
                active = np.flatnonzero(stripes > j)
                at = pos[long_rows[active]] + 32 * j
                for lane in range(4):
                    v[lane][active] = _round64(v[lane][active], _words(data, at + 8 * lane, 8))
            acc = _rotl64(v[0], 1) + _rotl64(v[1], 7) + _rotl64(v[2], 12) + _rotl64(v[3], 18)
            for lane in range(4):
                acc = (acc ^ _round64(U64(0), v[lane])) * P1 + P4
            h[long_rows] = acc
            pos[long_rows] += 32 * stripes
        h = h + lengths.astype(U64)
        remaining = end - pos
        for j in range(int((remaining // 8).max(initial=0))):
            rows = np.flatnonzero(remaining // 8 > j)
            k = _round64(U64(0), _words(data, pos[rows] + 8 * j, 8))
            h[rows] = _rotl64(h[rows] ^ k, 27) * P1 + P4
        pos += 8 * (remaining // 8)
        rows = np.flatnonzero(end - pos >= 4)
        h[rows] = _rotl64(h[rows] ^ (_words(data, pos[rows], 4) * P1), 23) * P2 + P3
        pos[rows] += 4
        for _ in range(3):
            rows = np.flatnonzero(end - pos > 0)
            if not len(rows):
                break
            byte = data[pos[rows]].astype(U64)
            h[rows] = _rotl64(h[rows] ^ (byte * P5), 11) * P1
            pos[rows] += 1
        return _fmix64(h)


# ---------------------------------------------------------------------------------------------
# Spark's value encodings, column by column


def _valid(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _hash_column(algo: type, arr: pa.Array, seed: np.ndarray) -> np.ndarray:
    """``seed`` updated by the non-null values of ``arr`` (a new array)."""
    t = arr.type
    out = seed.copy()
    valid = _valid(arr)
    if not valid.any() or pa.types.is_null(t):
        return out
    rows = np.flatnonzero(valid)
    if pa.types.is_dictionary(t):
        return _hash_column(algo, arr.dictionary_decode(), seed)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) and t.bit_width <= 32 or \
            pa.types.is_date32(t):
        values = pc.fill_null(arr.cast(pa.int32()) if not pa.types.is_date32(t)
                              else arr.view(pa.int32()), 0).to_numpy(zero_copy_only=False)
        out[rows] = algo.int32(values[rows], seed[rows])
    elif pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date64(t):
        values = pc.fill_null(arr.view(pa.int64()) if not pa.types.is_integer(t)
                              else arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        out[rows] = algo.int64(values[rows], seed[rows])
    elif pa.types.is_float32(t):
        v = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float32) + \
            np.float32(0.0)
        bits = v.view(np.int32).copy()
        bits[np.isnan(v)] = 0x7FC00000
        out[rows] = algo.int32(bits[rows], seed[rows])
    elif pa.types.is_float64(t):
        v = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float64) + 0.0
        bits = v.view(np.int64).copy()
        bits[np.isnan(v)] = 0x7FF8000000000000
        out[rows] = algo.int64(bits[rows], seed[rows])
    elif pa.types.is_decimal(t):
        out[rows] = _hash_decimals(algo, arr, rows, seed)
    elif pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) \
            or pa.types.is_large_binary(t):
        out[rows] = _hash_bytes(algo, arr, rows, seed)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        out = _hash_elements(algo, arr, out)
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            out[rows] = _hash_column(algo, pc.struct_field(arr, [i]).take(pa.array(rows)),
                                     out[rows])
    else:
        msg = f"hash does not support values of type {t}"
        raise TypeError(msg)
    return out


def _hash_bytes(algo: type, arr: pa.Array, rows: np.ndarray, seed: np.ndarray) -> np.ndarray:
    taken = arr.take(pa.array(rows))
    binary = taken.cast(pa.large_binary())
    buffers = binary.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[binary.offset:binary.offset + len(binary)
                                                         + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else \
        np.zeros(0, np.uint8)
    return algo.bytes(offsets, data, seed[rows])


def _hash_decimals(algo: type, arr: pa.Array, rows: np.ndarray, seed: np.ndarray) -> np.ndarray:
    t = arr.type
    values = arr.take(pa.array(rows)).to_pylist()
    unscaled = [int(v.scaleb(t.scale)) for v in values]
    if t.precision <= 18:
        return algo.int64(np.array(unscaled, dtype=np.int64), seed[rows])
    # Wider decimals hash the bytes of Java's BigInteger.toByteArray (big-endian, minimal).
    encoded = [u.to_bytes((u.bit_length() + 8) // 8, "big", signed=True) for u in unscaled]
    return _hash_bytes(algo, pa.array(encoded, pa.binary()), np.arange(len(encoded)), seed[rows])


def _hash_elements(algo: type, arr: pa.Array, h: np.ndarray) -> np.ndarray:
    """Arrays element by element (maps key, value, key, value...), each seeding the next."""
    offsets = arr.offsets.to_numpy().astype(np.int64)
    lengths = np.where(_valid(arr), np.diff(offsets), 0)
    if pa.types.is_map(arr.type):
        children = [arr.keys, arr.items]
    else:
        children = [arr.values]
    for j in range(int(lengths.max(initial=0))):
        rows = np.flatnonzero(lengths > j)
        for child in children:
            h[rows] = _hash_column(algo, child.take(pa.array(offsets[rows] + j)), h[rows])
    return h


def _hash_all(algo: type, args: Sequence[pa.Array], seed: int, dtype: type) -> np.ndarray:
    n = len(args[0]) if args else 1
    h = np.full(n, seed, dtype=dtype)
    for a in args:
        h = _hash_column(algo, a, h)
    return h


def murmur3(args: Sequence[pa.Array], seed: int = 42) -> pa.Array:
    return pa.array(_hash_all(_Murmur3, args, seed, U32).view(np.int32))


def xxhash64(args: Sequence[pa.Array], seed: int = 42) -> pa.Array:
    return pa.array(_hash_all(_XXH64, args, seed, U64).view(np.int64))


def _any_types(name: str) -> Callable[[list[pa.DataType]], list[pa.DataType]]:
    def coerce(types: list[pa.DataType]) -> list[pa.DataType]:
        if not types:
            msg = f"function {name} requires at least one argument"
            raise AnalysisException(msg)
        return types

    return coerce


register(FunctionSpec("hash", lambda _: pa.int32(), murmur3, max_args=None,
                      coerce=_any_types("hash"), nullable=lambda _: False))
register(FunctionSpec("xxhash64", lambda _: pa.int64(), xxhash64, max_args=None,
                      coerce=_any_types("xxhash64"), nullable=lambda _: False))


# ---------------------------------------------------------------------------------------------
# Digests: per value, through hashlib and zlib


def _bytes_of(arr: pa.Array) -> list[bytes | None]:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary())
    return arr.to_pylist()


def _digest(algorithm: str) -> Callable[[Sequence[pa.Array]], pa.Array]:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        return pa.array([None if v is None else hashlib.new(algorithm, v).hexdigest()
                         for v in _bytes_of(args[0])], pa.string())

    return kernel


def _binary_input(types: list[pa.DataType]) -> list[pa.DataType]:
    t = types[0]
    return [t if pa.types.is_binary(t) else pa.string(), *types[1:]]


register(FunctionSpec("md5", lambda _: pa.string(), _digest("md5"), coerce=_binary_input))
for _name in ("sha1", "sha"):
    register(FunctionSpec(_name, lambda _: pa.string(), _digest("sha1"), coerce=_binary_input))

_SHA2 = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}


def _sha2(args: Sequence[pa.Array]) -> pa.Array:
    """sha2(x, bits): 224, 256 (or 0), 384 or 512; other lengths give null, as Spark."""
    bits = constant(args[1])
    algorithm = _SHA2.get(bits) if isinstance(bits, int) else None
    if algorithm is None:
        return pa.nulls(len(args[0]), pa.string())
    return _digest(algorithm)(args[:1])


register(FunctionSpec("sha2", lambda _: pa.string(), _sha2, min_args=2, max_args=2,
                      coerce=lambda ts: [_binary_input(ts[:1])[0], pa.int32()]))


def _crc32(args: Sequence[pa.Array]) -> pa.Array:
    return pa.array([None if v is None else zlib.crc32(v) for v in _bytes_of(args[0])],
                    pa.int64())


register(FunctionSpec("crc32", lambda _: pa.int64(), _crc32, coerce=_binary_input))
