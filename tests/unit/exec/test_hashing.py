from __future__ import annotations

import decimal
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ember.exec import hashing


def _h(*arrays: pa.Array | pa.ChunkedArray) -> list[int]:
    return hashing.hash_arrays(list(arrays)).tolist()


SAMPLE_COLUMNS = {
    "int64": pa.array([1, -2, None, 2**62, 0], pa.int64()),
    "int8": pa.array([1, -2, None, 127, 0], pa.int8()),
    "uint64": pa.array([1, 2**64 - 1, None, 7, 0], pa.uint64()),
    "bool": pa.array([True, False, None, True, False]),
    "float32": pa.array([1.5, -0.0, None, float("nan"), 3.25], pa.float32()),
    "float64": pa.array([1.5, -0.0, None, float("inf"), 1e300]),
    "date32": pa.array([0, 19000, None, -5, 1], pa.date32()),
    "date64": pa.array([0, 86_400_000, None, 5, 1], pa.date64()),
    "timestamp": pa.array([0, 10**15, None, -1, 5], pa.timestamp("us", tz="UTC")),
    "decimal": pa.array(
        [decimal.Decimal("1.25"), decimal.Decimal("-3.50"), None, decimal.Decimal("0"),
         decimal.Decimal("12345678901234567890.12")],
        pa.decimal128(24, 2),
    ),
    "string": pa.array(["a", "", None, "héllo wörld", "a much longer string value here"]),
    "large_string": pa.array(["a", "", None, "x", "yy"], pa.large_string()),
    "binary": pa.array([b"\x00", b"", None, b"\x00\x00", b"ab"]),
    "large_binary": pa.array([b"\x00", b"", None, b"\xff", b"ab"], pa.large_binary()),
    "fixed_binary": pa.array([b"ab", b"cd", None, b"\x00\x00", b"ab"], pa.binary(2)),
    "null": pa.nulls(5),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_COLUMNS))
def test_every_supported_type_hashes_with_equal_values_equal(name: str) -> None:
    column = SAMPLE_COLUMNS[name]
    doubled = pa.concat_arrays([column, column])
    h = hashing.hash_arrays([doubled])
    assert h.dtype == np.uint64 and len(h) == 10
    assert h[:5].tolist() == h[5:].tolist()


def test_hashes_are_identical_in_another_process() -> None:
    # A fresh interpreter has a different hash() salt; our hashes must not notice.
    script = textwrap.dedent(
        """
        import json, sys
        import pyarrow as pa
        from ember.exec import hashing
        cols = [pa.array([1, None, -7, 2**40]), pa.array(["x", "", None, "zzz"]),
                pa.array([0.5, float("nan"), -0.0, None])]
        print(json.dumps(hashing.hash_arrays(cols).tolist()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    cols = [
        pa.array([1, None, -7, 2**40]),
        pa.array(["x", "", None, "zzz"]),
        pa.array([0.5, float("nan"), -0.0, None]),
    ]
    assert json.loads(out.stdout) == _h(*cols)


def test_known_values_stay_pinned() -> None:
    # Executors of one application must agree; a change here moves rows between partitions,
    # so it has to be deliberate.
    assert _h(pa.array([0, 1, None])) == [
        16500364843430013734, 11442992838692955209, 10591283798905564702,
    ]
    assert _h(pa.array(["", "a", "hello"])) == [
        16500364843430013734, 16282754647784565530, 11229612970124533274,
    ]
    assert _h(pa.array([1, 2]), pa.array([0.5, -1.0])) == [
        15496994089624224729, 11555924952593379663,
    ]
    assert hashing.partition_ids([pa.array(["", "a", "hello", "x", "y"])], 7).tolist() == [
        6, 2, 3, 0, 0,
    ]


def test_seed_changes_the_hashes() -> None:
    one = hashing.hash_arrays([pa.array([1, 2, 3])], seed=1)
    two = hashing.hash_arrays([pa.array([1, 2, 3])], seed=2)
    assert not np.any(one == two)


def test_strings_hash_the_same_whatever_the_chunking_slicing_and_encoding() -> None:
    values = ["apple", "", None, "banana", "apple", "cherry pie", "", "b"] * 3
    plain = _h(pa.array(values))
    assert _h(pa.array(values, pa.large_string())) == plain
    assert _h(pa.array(values, pa.string_view())) == plain
    assert _h(pa.chunked_array([values[:5], values[5:11], values[11:]])) == plain
    assert _h(pa.array(values).dictionary_encode()) == plain
    # A dictionary with unused entries, in another order, and a null dictionary value.
    dictionary = pa.array(["zzz", "cherry pie", None, "b", "banana", "", "apple"])
    index_of = {"cherry pie": 1, "b": 3, "banana": 4, "": 5, "apple": 6}
    indices = pa.array([index_of.get(v) if v is not None else 2 for v in values], pa.int8())
    assert _h(pa.DictionaryArray.from_arrays(indices, dictionary)) == plain
    padded = pa.array(["junk", "more junk", *values, "tail"])
    assert _h(padded.slice(2, len(values))) == plain
    # Binary with the same bytes agrees with string.
    assert _h(pa.array([None if v is None else v.encode() for v in values])) == plain


def test_sliced_fixed_width_and_bool_columns_hash_like_fresh_ones() -> None:
    ints = pa.array(list(range(-50, 50)) + [None] * 3)
    bools = pa.array([i % 3 == 0 if i % 7 else None for i in range(103)])
    decimals = pa.array([decimal.Decimal(i) / 4 for i in range(103)], pa.decimal128(10, 2))
    for start in (0, 1, 9, 64):
        for arr in (ints, bools, decimals):
            sliced = arr.slice(start, 30)
            fresh = pa.array(sliced.to_pylist(), arr.type)
            assert _h(sliced) == _h(fresh)


def test_integers_of_every_width_agree_on_equal_values() -> None:
    values = [0, 1, 5, 100, None]
    expected = _h(pa.array(values, pa.int64()))
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32(),
              pa.uint64()):
        assert _h(pa.array(values, t)) == expected
    negatives = [-1, -128, None]
    assert _h(pa.array(negatives, pa.int8())) == _h(pa.array(negatives, pa.int64()))


def test_negative_zero_and_every_nan_hash_like_zero_and_nan() -> None:
    other_nan = np.frombuffer(np.uint64(0x7FF8DEADBEEF0001).tobytes(), np.float64)[0]
    negative_nan = -np.float64("nan")
    assert np.isnan(other_nan)
    h64 = _h(pa.array([0.0, -0.0, float("nan"), other_nan, negative_nan]))
    assert h64[0] == h64[1]
    assert h64[2] == h64[3] == h64[4]
    assert h64[0] != h64[2]
    h32 = _h(pa.array(np.array([0.0, -0.0, np.nan, -np.nan], np.float32)))
    assert h32[0] == h32[1] and h32[2] == h32[3]
    # float32 values widen exactly, so they match the same float64 values.
    assert _h(pa.array([1.5, 0.25], pa.float32())) == _h(pa.array([1.5, 0.25]))


def test_nulls_hash_to_one_constant_whatever_the_type() -> None:
    null_hashes = {
        _h(pa.array([None], t))[0]
        for t in (pa.int64(), pa.int8(), pa.string(), pa.float64(), pa.bool_(), pa.date32(),
                  pa.decimal128(5, 1), pa.binary(), pa.null())
    }
    assert len(null_hashes) == 1
    # ... while the values underneath a null slot do not matter.
    masked = pa.Array.from_buffers(
        pa.int64(), 2, [pa.py_buffer(np.packbits([1, 0], bitorder="little").tobytes()),
                        pa.py_buffer(np.array([3, 999], np.int64).tobytes())]
    )
    assert _h(masked) == _h(pa.array([3, None]))


def test_multi_column_hash_depends_on_every_column_and_their_order() -> None:
    a = pa.array([1, 1, 2])
    b = pa.array(["x", "y", "x"])
    h = _h(a, b)
    assert len(set(h)) == 3
    assert _h(b, a) != h
    assert _h(pa.chunked_array([[1], [1, 2]]), b) == h


def test_struct_columns_hash_their_fields() -> None:
    s = pa.array([{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"a": 2, "b": None}, None])
    h = _h(s)
    assert h[0] == h[1] and h[0] != h[2]
    assert _h(s.slice(1)) == h[1:]


def test_long_strings_spanning_several_chunks_hash_consistently() -> None:
    rng = np.random.default_rng(7)
    big = "".join(chr(c) for c in rng.integers(97, 123, 3 * 1024 * 1024))
    values = [big, "short", big[:-1], big, "", big[1:]]
    h = _h(pa.array(values))
    assert h[0] == h[3] and len({h[0], h[2], h[5]}) == 3
    many = [f"key-{j}-{'x' * (j % 37)}" for j in np.arange(200_000) % 5000]  # > 1 MiB
    hm = _h(pa.array(many))
    assert hm[:5000] == hm[5000:10000]
    assert _h(pa.array(many[123_457:123_460])) == hm[123_457:123_460]
    assert len(set(hm)) == len(set(many))


def test_partition_ids_spread_evenly() -> None:
    n, parts = 100_000, 8
    for values in (pa.array(np.arange(n)), pa.array(np.arange(n) * 1024),
                   pa.array([f"user{i}" for i in range(n)])):
        pids = hashing.partition_ids([values], parts)
        assert pids.dtype == np.int64 and pids.min() >= 0 and pids.max() < parts
        counts = np.bincount(pids, minlength=parts)
        expected = n / parts
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        # 7 degrees of freedom: chi2 > 30 has probability below 1e-4.
        assert chi2 < 30, counts


def test_unsupported_type_names_the_type() -> None:
    with pytest.raises(TypeError, match="list<item: int64>"):
        hashing.hash_arrays([pa.array([[1], [2]])])


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        hashing.hash_arrays([pa.array([1, 2]), pa.array([1])])


def test_empty_columns_hash_to_empty() -> None:
    assert hashing.hash_arrays([pa.array([], pa.string())]).shape == (0,)
    assert hashing.partition_ids([pa.chunked_array([], pa.int64())], 4).shape == (0,)


def test_split_by_partition_matches_a_pandas_groupby() -> None:
    rng = np.random.default_rng(3)
    n, parts = 5000, 7
    table = pa.table({
        "k": pa.array(rng.integers(0, 50, n)),
        "s": pa.array([None if i % 11 == 0 else f"s{i}" for i in range(n)]),
        "row": pa.array(np.arange(n)),
    })
    pids = hashing.partition_ids([table["k"]], parts)
    result = hashing.split_by_partition(table, pids, parts)
    assert len(result) == parts

    oracle = table.to_pandas().assign(pid=pids)
    groups = {pid: g.drop(columns="pid") for pid, g in oracle.groupby("pid", sort=True)}
    for p in range(parts):
        if p not in groups:
            assert result[p] is None
            continue
        got = result[p].to_pandas()
        pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                      groups[p].reset_index(drop=True))
    # Each key lands in exactly one partition.
    for p, part in enumerate(result):
        if part is not None:
            assert set(hashing.partition_ids([part["k"]], parts).tolist()) == {p}


def test_split_by_partition_keeps_batches_as_batches_and_marks_empty_partitions() -> None:
    batch = pa.record_batch({"v": [1, 2, 3, 4]})
    parts = hashing.split_by_partition(batch, np.array([3, 0, 3, 0]), 5)
    assert [None if p is None else p["v"].to_pylist() for p in parts] == [
        [2, 4], None, None, [1, 3], None,
    ]
    assert all(p is None or isinstance(p, pa.RecordBatch) for p in parts)
    single = hashing.split_by_partition(batch, np.array([2, 2, 2, 2]), 3)
    assert single[2] is batch and single[0] is None


def test_split_by_partition_rejects_ids_out_of_range() -> None:
    batch = pa.record_batch({"v": [1, 2]})
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        hashing.split_by_partition(batch, np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="3 partition ids for 2 rows"):
        hashing.split_by_partition(batch, np.array([0, 1, 1]), 2)
