"""Hash kernels against the values Spark's documentation and reference vectors give."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from ember.plan import functions
from ember.plan.hash_functions import _XXH64


def call(name: str, *columns: pa.Array) -> list[Any]:
    return functions.lookup(name).kernel(list(columns)).to_pylist()


SPARK_HASHES = [
    # hash(1): an int literal.
    ("hash", [pa.array([1], pa.int32())], -559580957),
    # Spark's documentation: SELECT hash('Spark', array(123), 2)
    ("hash", [pa.array(["Spark"]), pa.array([[123]], pa.list_(pa.int32())),
              pa.array([2], pa.int32())], -1321691492),
    # SELECT xxhash64('Spark', array(123), 2)
    ("xxhash64", [pa.array(["Spark"]), pa.array([[123]], pa.list_(pa.int32())),
                  pa.array([2], pa.int32())], 5602566077635097486),
    # A null column leaves the seed as it is.
    ("hash", [pa.array([None], pa.string())], 42),
    ("crc32", [pa.array(["Spark"])], 1557323817),
    ("md5", [pa.array(["Spark"])], "8cde774d6f7333752ed72cacddb05126"),
    ("sha1", [pa.array(["Spark"])], "85f5955f4b27a9a4c2aab6ffe5d7189fc298b92c"),
    ("sha2", [pa.array(["Spark"]), pa.array([256])],
     "529bc3b07127ecb7e53a4dcf1991d9152c24537d919178022b2c42657f79a26b"),
    ("sha2", [pa.array(["Spark"]), pa.array([100])], None),
]


@pytest.mark.parametrize(("name", "args", "expected"), SPARK_HASHES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(SPARK_HASHES)])
def test_hashes_equal_sparks(name: str, args: list[pa.Array], expected: Any) -> None:
    assert call(name, *args) == [expected]


def test_equal_numbers_hash_alike_whatever_their_encoding_quirks() -> None:
    doubles = call("hash", pa.array([0.0, -0.0, float("nan"), float("-nan")]))
    assert doubles[0] == doubles[1] and doubles[2] == doubles[3]
    # A byte, short and int of one value are all hashed as an int.
    values = [call("hash", pa.array([7], t))[0] for t in (pa.int8(), pa.int16(), pa.int32())]
    assert len(set(values)) == 1
    assert call("hash", pa.array([7], pa.int64())) != values[:1]


@pytest.mark.parametrize(("text", "expected"), [
    (b"", 0xEF46DB3751D8E999),
    (b"a", 0xD24EC4F1A98C6E5B),
    (b"abc", 0x44BC2CF5AD770999),
    (b"Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1),
])
def test_xxh64_of_bytes_matches_the_reference_vectors(text: bytes, expected: int) -> None:
    data = np.frombuffer(text, np.uint8) if text else np.zeros(0, np.uint8)
    out = _XXH64.bytes(np.array([0, len(text)], np.int64), data, np.zeros(1, np.uint64))
    assert int(out[0]) == expected


def test_strings_of_every_length_hash_as_one_at_a_time() -> None:
    texts = ["x" * n + "é" * (n % 3) for n in range(70)]
    together = call("hash", pa.array(texts))
    alone = [call("hash", pa.array([t]))[0] for t in texts]
    assert together == alone
    together64 = call("xxhash64", pa.array(texts))
    assert together64 == [call("xxhash64", pa.array([t]))[0] for t in texts]
