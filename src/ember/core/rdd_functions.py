"""The partition functions RDD transformations and actions run in the executors.

Each has the shape ``f(*bound, split, records) -> records`` and is bound with
``functools.partial``: being module-level, these travel by reference and only the user's
functions inside the partial are pickled by value.
"""

from __future__ import annotations

import copy
import gzip
import heapq
import math
import os
import random
import uuid
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

import pyarrow as pa

from ember.core.resultiterable import ResultIterable
from ember.core.statcounter import StatCounter

Records = Iterator[Any]


def identity(x: Any) -> Any:
    return x


def first_arg(a: Any, _: Any) -> Any:
    return a


def pair_with_none(x: Any) -> tuple[Any, None]:
    return (x, None)


def has_key(key: Any, kv: Any) -> bool:
    return kv[0] == key


def max_by(key: Callable[[Any], Any], a: Any, b: Any) -> Any:
    return max(a, b, key=key)


def min_by(key: Callable[[Any], Any], a: Any, b: Any) -> Any:
    return min(a, b, key=key)


def seq_on_zero(zero: Any, seq: Callable[[Any, Any], Any], value: Any) -> Any:
    return seq(copy.deepcopy(zero), value)


# -- narrow transformations ----------------------------------------------------------------------


def map_records(f: Callable[[Any], Any], split: int, it: Records) -> Iterable[Any]:
    return map(f, it)


def flat_map_records(f: Callable[[Any], Iterable[Any]], split: int, it: Records) -> Iterable[Any]:
    return chain.from_iterable(map(f, it))


def filter_records(f: Callable[[Any], bool], split: int, it: Records) -> Iterable[Any]:
    return filter(f, it)


def without_split(f: Callable[[Records], Iterable[Any]], split: int, it: Records) -> Iterable[Any]:
    return f(it)


def map_values(f: Callable[[Any], Any], split: int, it: Records) -> Iterable[Any]:
    return ((k, f(v)) for k, v in it)


def flat_map_values(f: Callable[[Any], Iterable[Any]], split: int,
                    it: Records) -> Iterable[Any]:
    return ((k, x) for k, v in it for x in f(v))


def keys(split: int, it: Records) -> Iterable[Any]:
    return (kv[0] for kv in it)


def values(split: int, it: Records) -> Iterable[Any]:
    return (kv[1] for kv in it)


def key_by(f: Callable[[Any], Any], split: int, it: Records) -> Iterable[Any]:
    return ((f(x), x) for x in it)


def glom(split: int, it: Records) -> Iterable[Any]:
    return [list(it)]


def one_per_partition(split: int, it: Records) -> Iterable[Any]:
    return [split]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # the normal approximation is close, and the product method too slow
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _rng(seed: int, split: int) -> random.Random:
    # Each partition draws its own sequence, fixed by the seed and the partition.
    return random.Random(f"{seed}:{split}")


def sample(with_replacement: bool, fraction: float, seed: int, split: int,
           it: Records) -> Iterable[Any]:
    rng = _rng(seed, split)
    if with_replacement:
        for x in it:
            for _ in range(_poisson(rng, fraction)):
                yield x
    else:
        for x in it:
            if rng.random() < fraction:
                yield x


def sample_range(lo: float, hi: float, seed: int, split: int, it: Records) -> Iterable[Any]:
    rng = _rng(seed, split)
    for x in it:
        if lo <= rng.random() < hi:
            yield x


def sample_fraction(num: int, total: int, with_replacement: bool) -> float:
    """A sampling fraction that yields at least ``num`` of ``total`` records nearly always."""
    if with_replacement:
        # Poisson counts: mean plus a margin of standard deviations.
        return (num + 12.0 * math.sqrt(max(num, 1))) / total
    q = num / total
    margin = math.sqrt(-2.0 * math.log(1e-4) * q / total) + (-math.log(1e-4) / total)
    return min(1.0, q + margin * 2)


def zip_with_index(starts: tuple[int, ...], split: int, it: Records) -> Iterable[Any]:
    return ((x, i) for i, x in enumerate(it, starts[split]))


def zip_with_unique_id(n: int, split: int, it: Records) -> Iterable[Any]:
    return ((x, k * n + split) for k, x in enumerate(it))


def first_records(n: int, split: int, it: Records) -> Iterable[Any]:
    return islice(it, n)


# -- shuffles ------------------------------------------------------------------------------------


def assign_by_key(partitioner: Callable[[Any], int], split: int, it: Records) -> Iterable[Any]:
    for kv in it:
        yield partitioner(kv[0]), kv


def assign_round_robin(n: int, split: int, it: Records) -> Iterable[Any]:
    # As Spark, each map partition starts at its own position, so reducers fill evenly.
    start = random.Random(split).randrange(n)
    for i, x in enumerate(it):
        yield (start + i) % n, x


def assign_by_range(bounds: tuple[Any, ...], ascending: bool, keyfunc: Callable[[Any], Any],
                    n: int, split: int, it: Records) -> Iterable[Any]:
    for kv in it:
        p = bisect_left(bounds, keyfunc(kv[0]))
        yield (p if ascending else n - 1 - p), kv


def combine_values(create: Callable[[Any], Any], merge: Callable[[Any, Any], Any], split: int,
                   it: Records) -> Iterable[Any]:
    combiners: dict[Any, Any] = {}
    for k, v in it:
        combiners[k] = merge(combiners[k], v) if k in combiners else create(v)
    return combiners.items()


def merge_combiners(merge: Callable[[Any, Any], Any], split: int, it: Records) -> Iterable[Any]:
    combined: dict[Any, Any] = {}
    for k, c in it:
        combined[k] = merge(combined[k], c) if k in combined else c
    return combined.items()


def group_values(split: int, it: Records) -> Iterable[Any]:
    groups: dict[Any, list[Any]] = {}
    for k, v in it:
        groups.setdefault(k, []).append(v)
    return ((k, ResultIterable(vs)) for k, vs in groups.items())


def tag_values(tag: int, split: int, it: Records) -> Iterable[Any]:
    return ((k, (tag, v)) for k, v in it)


def cogroup_values(sides: int, split: int, it: Records) -> Iterable[Any]:
    groups: dict[Any, tuple[list[Any], ...]] = {}
    for k, (tag, v) in it:
        lists = groups.get(k)
        if lists is None:
            lists = groups[k] = tuple([] for _ in range(sides))
        lists[tag].append(v)
    return groups.items()


def result_iterables(split: int, it: Records) -> Iterable[Any]:
    return ((k, tuple(ResultIterable(vs) for vs in lists)) for k, lists in it)


def join_groups(how: str, split: int, it: Records) -> Iterable[Any]:
    for k, (vs, ws) in it:
        if not ws:
            if how in ("left", "full"):
                for v in vs:
                    yield k, (v, None)
            continue
        if not vs:
            if how in ("right", "full"):
                for w in ws:
                    yield k, (None, w)
            continue
        for v in vs:
            for w in ws:
                yield k, (v, w)


def subtract_groups(split: int, it: Records) -> Iterable[Any]:
    return ((k, v) for k, (vs, ws) in it if not ws for v in vs)


def keys_in_all(split: int, it: Records) -> Iterable[Any]:
    return (k for k, lists in it if all(lists))


def sort_partition(keyfunc: Callable[[Any], Any], ascending: bool, split: int,
                   it: Records) -> Iterable[Any]:
    return sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)


def sample_keys(k: int, split: int, it: Records) -> Iterable[Any]:
    """A reservoir sample of up to ``k`` keys, with how many records it stands for."""
    rng = random.Random(split)
    reservoir: list[Any] = []
    count = 0
    for kv in it:
        if count < k:
            reservoir.append(kv[0])
        else:
            j = rng.randrange(count + 1)
            if j < k:
                reservoir[j] = kv[0]
        count += 1
    return [(count, reservoir)]


def range_bounds(sketches: list[tuple[int, list[Any]]], n: int,
                 keyfunc: Callable[[Any], Any]) -> list[Any]:
    """Up to ``n - 1`` increasing bounds (of ``keyfunc(key)``) that cut the sampled keys into
    ranges of about equal weight; each sample weighs what its partition's count over its sample
    size says it stands for."""
    candidates = [(keyfunc(key), count / len(sample))
                  for count, sample in sketches if sample for key in sample]
    if not candidates:
        return []
    candidates.sort(key=lambda c: c[0])
    step = sum(w for _, w in candidates) / n
    bounds: list[Any] = []
    cumulative, target = 0.0, step
    for key, weight in candidates:
        cumulative += weight
        if cumulative >= target and (not bounds or bounds[-1] < key):
            bounds.append(key)
            target += step
            if len(bounds) == n - 1:
                break
    return bounds


# -- actions -------------------------------------------------------------------------------------


def count_records(split: int, it: Records) -> Iterable[Any]:
    return [sum(1 for _ in it)]


def count_values(split: int, it: Records) -> Iterable[Any]:
    return [Counter(it)]


def sum_partition(split: int, it: Records) -> Iterable[Any]:
    return [sum(it)]


def stat_partition(split: int, it: Records) -> Iterable[Any]:
    return [StatCounter(it)]


def reduce_partition(f: Callable[[Any, Any], Any], split: int, it: Records) -> Iterable[Any]:
    """One list per partition: empty, or the partition reduced by ``f``."""
    acc: list[Any] = []
    for x in it:
        acc = [f(acc[0], x)] if acc else [x]
    return [acc]


def fold_partition(zero: Any, op: Callable[[Any, Any], Any], split: int,
                   it: Records) -> Iterable[Any]:
    acc = copy.deepcopy(zero)
    for x in it:
        acc = op(acc, x)
    return [acc]


def largest(num: int, key: Callable[[Any], Any] | None, split: int, it: Records) -> Iterable[Any]:
    return [heapq.nlargest(num, it, key=key)]


def smallest(num: int, key: Callable[[Any], Any] | None, split: int,
             it: Records) -> Iterable[Any]:
    return [heapq.nsmallest(num, it, key=key)]


def for_each(f: Callable[[Any], Any], split: int, it: Records) -> Iterable[Any]:
    for x in it:
        f(x)
    return [None]


def for_each_partition(f: Callable[[Records], Any], split: int, it: Records) -> Iterable[Any]:
    f(it)
    return [None]


def _text_line(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x + b"\n"
    return (x if isinstance(x, str) else str(x)).encode("utf-8") + b"\n"


def write_text_part(directory: str, codec: str | None, split: int,
                    it: Records) -> Iterable[Any]:
    """Write a partition as ``part-NNNNN``: to a temporary name first, renamed when complete,
    so a retried or speculative attempt never leaves half a file under the final name."""
    name = f"part-{split:05d}" + (".gz" if codec == "gzip" else "")
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as raw:
        out: Any = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if codec == "gzip" else raw
        try:
            lines: list[bytes] = []
            for x in it:
                lines.append(_text_line(x))
                if len(lines) >= 4096:
                    out.write(b"".join(lines))
                    lines = []
            out.write(b"".join(lines))
        finally:
            if out is not raw:
                out.close()
    os.replace(tmp, os.path.join(directory, name))
    return [name]


def rows_to_ipc(struct: Any, verify: bool, split: int, it: Records) -> Iterable[Any]:
    """A partition's rows as one Arrow IPC stream of ``struct`` (``createDataFrame(rdd)``)."""
    from ember.sql import types as T
    from ember.sql.conversion import rows_to_arrow

    rows = list(it)
    table = rows_to_arrow(rows, struct, verify_schema=verify) if rows else \
        T.to_arrow_schema(struct).empty_table()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return [sink.getvalue().to_pybytes()]
