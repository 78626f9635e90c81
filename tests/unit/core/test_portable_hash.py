"""``portable_hash``: the same value hashes alike in every process, keys equal in Python hash
alike, and hashes spread evenly over partitions."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import subprocess
import sys
from collections import Counter, namedtuple
from decimal import Decimal

import pytest

from ember.core.portable_hash import portable_hash

SAMPLES = [
    None, True, False, 0, 1, -1, 2**63 - 1, -(2**63), 2**64 + 5, -(2**100), 1.5, -0.25,
    float("inf"), float("-inf"), float("nan"), "", "spark", "naïve ☃", b"", b"\x00\xff",
    ("a", 1), ("a", (1, None)), (), frozenset(), frozenset({"x", 2}),
    dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 12, 30, 1, 5), dt.timedelta(days=3),
    Decimal("2.5"), Decimal("1.1"),
]

_SCRIPT = """
import json, pickle, sys
from ember.core.portable_hash import portable_hash
samples = pickle.loads(sys.stdin.buffer.read())
print(json.dumps([hash("spark"), [portable_hash(v) for v in samples]]))
"""


def _hashes_in_subprocess(seed: str) -> tuple[int, list[int]]:
    """Python's own hash of a string, then the portable hashes of SAMPLES, in a new process."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], input=pickle.dumps(SAMPLES), env=env,
                         capture_output=True, check=True, timeout=60)
    builtin, portable = json.loads(out.stdout)
    return builtin, portable


def test_hashes_are_the_same_in_processes_with_other_hash_seeds() -> None:
    here = [portable_hash(v) for v in SAMPLES]
    builtin_1, portable_1 = _hashes_in_subprocess("1")
    builtin_2, portable_2 = _hashes_in_subprocess("4242")
    assert builtin_1 != builtin_2  # the seeds do change Python's own hash
    assert portable_1 == here
    assert portable_2 == here


@pytest.mark.parametrize(("a", "b"), [
    (1, True), (0, False), (1, 1.0), (0, -0.0), (2**70, float(2**70)), (Decimal("3"), 3),
    (Decimal("2.5"), 2.5), (float("nan"), float("nan")),
    (("a", 1), ("a", 1.0)), (frozenset({1, 2, 3}), frozenset({3, 2, 1})),
    (namedtuple("P", "x y")(1, 2), (1, 2)),
    (dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
     dt.datetime(2024, 1, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
])
def test_keys_equal_in_python_hash_alike(a: object, b: object) -> None:
    assert portable_hash(a) == portable_hash(b)


@pytest.mark.parametrize(("a", "b"), [
    ("a", b"a"), ((1, 2), (2, 1)), ((1,), 1), (None, 0), ("ab", "ba"), (1.5, 2.5),
])
def test_different_keys_hash_apart(a: object, b: object) -> None:
    assert portable_hash(a) != portable_hash(b)


def test_hashes_are_non_negative_63_bit_ints() -> None:
    for v in SAMPLES:
        h = portable_hash(v)
        assert isinstance(h, int)
        assert 0 <= h < 2**63


@pytest.mark.parametrize("keys", [
    [f"word{i}" for i in range(20_000)],
    list(range(20_000)),
    [i * 1024 for i in range(20_000)],
    [(i % 100, str(i)) for i in range(20_000)],
], ids=["strings", "ints", "strided-ints", "tuples"])
def test_keys_spread_evenly_over_partitions(keys: list[object]) -> None:
    n = 16
    counts = Counter(portable_hash(k) % n for k in keys)
    expected = len(keys) / n
    assert len(counts) == n
    assert max(counts.values()) < expected * 1.15
    assert min(counts.values()) > expected * 0.85


def test_unhashable_kinds_are_refused_with_a_hint() -> None:
    class Key:
        pass

    with pytest.raises(TypeError, match="(?s)cannot hash a key of type Key.*partitionFunc"):
        portable_hash(Key())
