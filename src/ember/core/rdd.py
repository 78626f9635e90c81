"""``RDD``: PySpark's resilient distributed datasets, run by ember's engine.

Transformations are lazy. Narrow ones (``map``, ``filter``, ``mapPartitions``, ...) compose
into one function per stage; wide ones (``reduceByKey``, ``groupByKey``, ``join``,
``sortByKey``, ``repartition``, ...) shuffle through the engine's exchange, routing each key by
``portable_hash``. Actions run one job on the executors and unpickle the result on the driver.

>>> sc = spark.sparkContext  # doctest: +SKIP
>>> words = sc.parallelize(["a b", "b c b"]).flatMap(str.split)  # doctest: +SKIP
>>> sorted(words.map(lambda w: (w, 1)).reduceByKey(lambda x, y: x + y).collect())  # doctest: +SKIP
[('a', 1), ('b', 3), ('c', 1)]

Functions passed to RDDs travel to the executors with cloudpickle: lambdas, local functions and
functions of the program's main module go by value, functions of importable modules by
reference (the executors must be able to import them).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.core import lineage
from ember.core import rdd_functions as fn
from ember.core.portable_hash import portable_hash
from ember.core.resultiterable import ResultIterable
from ember.core.statcounter import StatCounter
from ember.core.storagelevel import StorageLevel, checked
from ember.exec import python_rdd as prdd
from ember.exec.operators import PhysicalOp
from ember.plan.physical import (
    CheckpointScanExec,
    CheckpointWriteExec,
    checkpoint_files,
    explain_physical,
)

if TYPE_CHECKING:
    from ember.core.context import SparkContext
    from ember.sql.dataframe import DataFrame
    from ember.sql.session import SparkSession

__all__ = ["RDD", "Partitioner", "ResultIterable", "portable_hash"]

# Spark's spark.rdd.limit.scaleUpFactor: how much more of the RDD each round of take() scans.
_TAKE_SCALE_UP = 4


class Partitioner:
    """Where a key goes: ``partitionFunc(key) % numPartitions``."""

    def __init__(self, numPartitions: int, partitionFunc: Callable[[Any], int]) -> None:
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Partitioner) and other.numPartitions == self.numPartitions
                and other.partitionFunc == self.partitionFunc)

    def __hash__(self) -> int:
        return self.numPartitions

    def __call__(self, key: Any) -> int:
        return self.partitionFunc(key) % self.numPartitions


class RDD:
    """A lazily evaluated, partitioned collection of Python objects."""

    def __init__(self, ctx: SparkContext, source: lineage.Source,
                 func: lineage.PartitionFunc | None = None, *,
                 partitioner: Partitioner | None = None) -> None:
        self.ctx = ctx
        self._source = source
        self._func = func
        self.partitioner = partitioner
        self.id = ctx._new_rdd_id()
        self._name: str | None = None
        self._storage: StorageLevel | None = None
        self._checkpointed: str | None = None  # "reliable" or "local"
        self._checkpoint_path: str | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def _physical(self) -> Any:
        plan = lineage.pipeline_plan(self._source, self._func, self._name or "")
        if self._storage is None:
            return plan
        return self.ctx._runtime().cached_rdd_scan(self.id, self._storage, plan, plan.output)

    def _base(self) -> RDD:
        """What derived RDDs start from: this RDD itself when it is persisted, so that they
        read its cached blocks; otherwise its source, with its functions composed."""
        if self._storage is None:
            return self
        return RDD(self.ctx, _PersistedSource(self), partitioner=self.partitioner)

    def _source_partitions(self) -> int | None:
        return self._source.num_partitions()

    def _derive(self, func: lineage.PartitionFunc, preserves: bool = False) -> RDD:
        base = self._base()
        return RDD(self.ctx, base._source, lineage.compose(base._func, func),
                   partitioner=self.partitioner if preserves else None)

    def _partition_records(self, parts: tuple[int, ...] | None = None) -> list[list[Any]]:
        """Run a job; the records of every partition (or of ``parts``), in partition order."""
        if (parts is not None and not parts) or self._source_partitions() == 0:
            return []
        root = self._physical()
        if parts is not None:
            root = prdd.PartitionSubsetExec(parts, root)
        return [prdd.records_of_table(t) for t in self.ctx._run_job(root)]

    def _collect_one_each(self, func: lineage.PartitionFunc) -> list[Any]:
        """Run ``func`` (yielding one value) on every partition; the values in order."""
        return [v for part in self._derive(func)._partition_records() for v in part]

    def _default_partitions(self) -> int:
        conf = self.ctx._session._conf.get("spark.default.parallelism")
        if conf:
            return int(conf)
        n = self._source_partitions()
        return n if n else self.ctx.defaultParallelism

    def _shuffle(self, num_partitions: int, assign: lineage.PartitionFunc, *,
                 partitioner: Partitioner | None = None) -> RDD:
        if num_partitions < 1:
            msg = f"number of partitions ({num_partitions}) must be positive"
            raise ValueError(msg)
        source = lineage.ShuffleSource(self._base(), num_partitions, assign,
                                       self.ctx._new_shuffle_id(), self.ctx)
        return RDD(self.ctx, source, partitioner=partitioner)

    def __reduce__(self) -> Any:
        msg = ("an RDD cannot be used inside a function passed to another RDD's transformation "
               "or action (SPARK-5063)\n\ncollect the values you need on the driver first, or "
               "join the two RDDs")
        raise RuntimeError(msg)

    def __repr__(self) -> str:
        return f"{self._name or self._source.describe()} (RDD {self.id})"

    def __add__(self, other: RDD) -> RDD:
        return self.union(other)

    # -- about the RDD -------------------------------------------------------------------------

    @property
    def context(self) -> SparkContext:
        return self.ctx

    def name(self) -> str | None:
        return self._name

    def setName(self, name: str) -> RDD:
        self._name = name
        return self

    def getNumPartitions(self) -> int:
        """The number of partitions; a job counts them when adaptive execution decides it."""
        n = self._source_partitions()
        if n is None:
            return len(self._derive(fn.one_per_partition)._partition_records())
        return n

    def toDebugString(self) -> bytes:
        return explain_physical(self._physical()).encode()

    @property
    def is_cached(self) -> bool:
        return self._storage is not None

    def cache(self) -> RDD:
        """Persist at MEMORY_ONLY (as PySpark): the first action stores each partition in the
        block manager of the executor that computed it, and later actions read it from there.
        Returns this RDD."""
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> RDD:
        """Keep the partitions at ``storageLevel`` once computed; see `StorageLevel`.

        Transformations applied after this read the stored partitions. A partition lost with
        its executor, or evicted from memory at MEMORY_ONLY, is recomputed from lineage."""
        level = checked(storageLevel, setting="storageLevel of RDD.persist")
        if self._storage is not None and self._storage != level:
            msg = (f"cannot change the storage level of RDD {self.id} from {self._storage} to "
                   f"{level}\n\ncall unpersist() first")
            raise ValueError(msg)
        self._storage = level
        return self

    def unpersist(self, blocking: bool = False) -> RDD:
        """Stop caching, and remove the stored partitions from the executors."""
        if self._storage is not None:
            self._storage = None
            self.ctx._runtime().remove_cached_blocks(self.id)
        return self

    def getStorageLevel(self) -> StorageLevel:
        return self._storage if self._storage is not None else StorageLevel.NONE

    def checkpoint(self) -> None:
        """Write the partitions to the checkpoint directory (``sc.setCheckpointDir``) and cut
        the lineage: later jobs read the files. ember writes them at once, with a job, rather
        than after the next action."""
        runtime = self.ctx._runtime()
        directory = runtime.new_checkpoint_path(f"rdd-{self.id}")
        plan = self._physical()
        self.ctx._run_job(CheckpointWriteExec(directory, plan))
        n = self._source_partitions()
        if n is None:
            n = len([p for p in Path(directory).glob("part-*.arrow")])
        paths = checkpoint_files(directory, n)
        self._cut_lineage(lineage.ArrowSource(
            CheckpointScanExec((prdd.chunk_attr(),), paths), None,
            f"ReliableCheckpointRDD[{self.id}]"))
        self._checkpointed, self._checkpoint_path = "reliable", directory

    def localCheckpoint(self) -> None:
        """Store the partitions in the executors' block managers (MEMORY_AND_DISK) and cut the
        lineage: faster than ``checkpoint()``, but a partition lost with its executor cannot
        be recomputed. ember stores them at once, with a job."""
        if self._storage is None:
            self._storage = StorageLevel.MEMORY_AND_DISK
        self.count()
        level = self._storage
        runtime = self.ctx._runtime()
        attrs = [prdd.chunk_attr()]
        self._storage = None
        stored = runtime.block_master.snapshot(self.id, level).num_partitions
        self._cut_lineage(_LocalCheckpointSource(self.id, level, runtime, attrs,
                                                 self._source_partitions() or stored or 0))
        self._checkpointed = "local"

    def _cut_lineage(self, source: lineage.Source) -> None:
        self._source = source
        self._func = None

    def isCheckpointed(self) -> bool:
        return self._checkpointed is not None

    def isLocallyCheckpointed(self) -> bool:
        return self._checkpointed == "local"

    def getCheckpointFile(self) -> str | None:
        return self._checkpoint_path

    # -- narrow transformations ----------------------------------------------------------------

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD:
        return self._derive(partial(fn.map_records, f), preservesPartitioning)

    def flatMap(self, f: Callable[[Any], Iterable[Any]],
                preservesPartitioning: bool = False) -> RDD:
        return self._derive(partial(fn.flat_map_records, f), preservesPartitioning)

    def filter(self, f: Callable[[Any], bool]) -> RDD:
        return self._derive(partial(fn.filter_records, f), True)

    def mapPartitions(self, f: Callable[[Iterator[Any]], Iterable[Any]],
                      preservesPartitioning: bool = False) -> RDD:
        return self._derive(partial(fn.without_split, f), preservesPartitioning)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator[Any]], Iterable[Any]],
                               preservesPartitioning: bool = False) -> RDD:
        return self._derive(f, preservesPartitioning)

    mapPartitionsWithSplit = mapPartitionsWithIndex

    def mapValues(self, f: Callable[[Any], Any]) -> RDD:
        return self._derive(partial(fn.map_values, f), True)

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> RDD:
        return self._derive(partial(fn.flat_map_values, f), True)

    def keys(self) -> RDD:
        return self._derive(fn.keys)

    def values(self) -> RDD:
        return self._derive(fn.values)

    def keyBy(self, f: Callable[[Any], Any]) -> RDD:
        return self._derive(partial(fn.key_by, f))

    def glom(self) -> RDD:
        """Each partition as one list."""
        return self._derive(fn.glom)

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> RDD:
        """About ``fraction`` of the records: each kept with that probability, or (with
        replacement) repeated a Poisson(``fraction``) number of times. The same seed gives the
        same sample."""
        if fraction < 0:
            msg = f"fraction must be nonnegative, got {fraction}"
            raise ValueError(msg)
        seed = random.randrange(1 << 32) if seed is None else int(seed)
        return self._derive(partial(fn.sample, withReplacement, float(fraction), seed), True)

    def randomSplit(self, weights: list[float], seed: int | None = None) -> list[RDD]:
        """Disjoint random splits of the records, sized in proportion to ``weights``."""
        if any(w < 0 for w in weights) or not sum(weights):
            msg = f"weights must be nonnegative with a positive sum, got {weights}"
            raise ValueError(msg)
        total = float(sum(weights))
        seed = random.randrange(1 << 32) if seed is None else int(seed)
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        return [self._derive(partial(fn.sample_range, lo, hi, seed), True)
                for lo, hi in zip(bounds, bounds[1:], strict=False)]

    def zipWithIndex(self) -> RDD:
        """Pairs ``(record, index)`` numbered in partition order; runs a job to count the
        partitions first when there is more than one, as Spark does."""
        n = self.getNumPartitions()
        starts = [0]
        if n > 1:
            counts = self._collect_one_each(fn.count_records)
            for c in counts[:-1]:
                starts.append(starts[-1] + c)
        return self._derive(partial(fn.zip_with_index, tuple(starts)))

    def zipWithUniqueId(self) -> RDD:
        """Pairs ``(record, id)``: the k-th record of partition p gets ``k * n + p``."""
        return self._derive(partial(fn.zip_with_unique_id, self.getNumPartitions()))

    def union(self, other: RDD) -> RDD:
        return self.ctx.union([self, other])

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> RDD:
        """At most ``numPartitions`` partitions: neighbours merged, or a shuffle with ``shuffle``."""
        if shuffle:
            return self._shuffle(numPartitions, partial(fn.assign_round_robin, numPartitions))
        if numPartitions < 1:
            msg = f"number of partitions ({numPartitions}) must be positive"
            raise ValueError(msg)
        return RDD(self.ctx, lineage.CoalesceSource(self, numPartitions))

    def repartition(self, numPartitions: int) -> RDD:
        """Exactly ``numPartitions`` partitions, records spread round robin through a shuffle."""
        return self.coalesce(numPartitions, shuffle=True)

    # -- shuffles ------------------------------------------------------------------------------

    def partitionBy(self, numPartitions: int | None,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        """Pairs sent to partition ``partitionFunc(key) % numPartitions``."""
        n = self._default_partitions() if numPartitions is None else numPartitions
        partitioner = Partitioner(n, partitionFunc)
        if self.partitioner == partitioner:
            return self
        return self._shuffle(n, partial(fn.assign_by_key, partitioner), partitioner=partitioner)

    def combineByKey(self, createCombiner: Callable[[Any], Any],
                     mergeValue: Callable[[Any, Any], Any],
                     mergeCombiners: Callable[[Any, Any], Any],
                     numPartitions: int | None = None,
                     partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        """Per key, combine values map-side, shuffle the combiners, and merge them."""
        n = self._default_partitions() if numPartitions is None else numPartitions
        local = self._derive(partial(fn.combine_values, createCombiner, mergeValue))
        shuffled = local.partitionBy(n, partitionFunc)
        return shuffled._derive(partial(fn.merge_combiners, mergeCombiners), True)

    def reduceByKey(self, func: Callable[[Any, Any], Any], numPartitions: int | None = None,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        return self.combineByKey(fn.identity, func, func, numPartitions, partitionFunc)

    def aggregateByKey(self, zeroValue: Any, seqFunc: Callable[[Any, Any], Any],
                       combFunc: Callable[[Any, Any], Any], numPartitions: int | None = None,
                       partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        """Per key, fold values into a copy of ``zeroValue`` with ``seqFunc``, then merge the
        partial results with ``combFunc``."""
        create = partial(fn.seq_on_zero, zeroValue, seqFunc)
        return self.combineByKey(create, seqFunc, combFunc, numPartitions, partitionFunc)

    def foldByKey(self, zeroValue: Any, func: Callable[[Any, Any], Any],
                  numPartitions: int | None = None,
                  partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        return self.aggregateByKey(zeroValue, func, func, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions: int | None = None,
                   partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        """Pairs ``(key, ResultIterable of values)``; values are not combined map-side."""
        shuffled = self.partitionBy(numPartitions, partitionFunc)
        return shuffled._derive(fn.group_values, True)

    def _cogroup_lists(self, others: tuple[RDD, ...], numPartitions: int | None) -> RDD:
        """``(key, (values of self, values of others[0], ...))`` as lists."""
        sides = (self, *others)
        tagged = self.ctx.union([r._derive(partial(fn.tag_values, i), True)
                                 for i, r in enumerate(sides)])
        shuffled = tagged.partitionBy(numPartitions)
        return shuffled._derive(partial(fn.cogroup_values, len(sides)), True)

    def cogroup(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Pairs ``(key, (values in self, values in other))`` for every key of either."""
        return self.groupWith(other, numPartitions=numPartitions)

    def groupWith(self, other: RDD, *others: RDD, numPartitions: int | None = None) -> RDD:
        grouped = self._cogroup_lists((other, *others), numPartitions)
        return grouped._derive(fn.result_iterables, True)

    def join(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Pairs ``(key, (v, w))`` for every match of a key in both RDDs."""
        return self._join(other, numPartitions, "inner")

    def leftOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self._join(other, numPartitions, "left")

    def rightOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self._join(other, numPartitions, "right")

    def fullOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self._join(other, numPartitions, "full")

    def _join(self, other: RDD, numPartitions: int | None, how: str) -> RDD:
        grouped = self._cogroup_lists((other,), numPartitions)
        return grouped._derive(partial(fn.join_groups, how), True)

    def subtractByKey(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Pairs of this RDD whose key is not in ``other``."""
        grouped = self._cogroup_lists((other,), numPartitions)
        return grouped._derive(fn.subtract_groups, True)

    def subtract(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Records of this RDD that are not in ``other`` (duplicates kept)."""
        mine = self.map(fn.pair_with_none)
        return mine.subtractByKey(other.map(fn.pair_with_none), numPartitions).keys()

    def intersection(self, other: RDD) -> RDD:
        """Distinct records present in both RDDs."""
        grouped = self.map(fn.pair_with_none)._cogroup_lists(
            (other.map(fn.pair_with_none),), None)
        return grouped._derive(fn.keys_in_all)

    def distinct(self, numPartitions: int | None = None) -> RDD:
        return self.map(fn.pair_with_none).reduceByKey(fn.first_arg, numPartitions).keys()

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable[[Any], Any] = fn.identity) -> RDD:
        """Pairs sorted by ``keyfunc(key)``: range-partitioned on sampled keys, then sorted
        within each partition, so that the partitions in order hold the sorted records.

        As in Spark, this runs a job at once to sample the keys.
        """
        n = self._default_partitions() if numPartitions is None else numPartitions
        sort = partial(fn.sort_partition, keyfunc, ascending)
        if n == 1:
            return self.coalesce(1)._derive(sort, True)
        parts = self.getNumPartitions()
        per_partition = math.ceil(3.0 * min(20 * n, 1_000_000) / max(1, parts))
        sketches = self._collect_one_each(partial(fn.sample_keys, per_partition))
        bounds = fn.range_bounds(sketches, n, keyfunc)
        assign = partial(fn.assign_by_range, tuple(bounds), ascending, keyfunc, n)
        return self._shuffle(n, assign)._derive(sort, True)

    def sortBy(self, keyfunc: Callable[[Any], Any], ascending: bool = True,
               numPartitions: int | None = None) -> RDD:
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    # -- actions -------------------------------------------------------------------------------

    def collect(self) -> list[Any]:
        return [r for part in self._partition_records() for r in part]

    def collectAsMap(self) -> dict[Any, Any]:
        return dict(self.collect())

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator[Any]:
        """The records, one partition's job at a time."""
        n = self._source_partitions()
        if n is None:
            yield from self.collect()
            return
        for p in range(n):
            for part in self._partition_records((p,)):
                yield from part

    def count(self) -> int:
        return sum(self._collect_one_each(fn.count_records))

    def countByValue(self) -> dict[Any, int]:
        counts: defaultdict[Any, int] = defaultdict(int)
        for partial_counts in self._collect_one_each(fn.count_values):
            for k, v in partial_counts.items():
                counts[k] += v
        return counts

    def countByKey(self) -> dict[Any, int]:
        return self.keys().countByValue()

    def lookup(self, key: Any) -> list[Any]:
        return self.filter(partial(fn.has_key, key)).values().collect()

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        """``f`` over all records; ``ValueError`` on an empty RDD."""
        partials = [v for vs in self._collect_one_each(partial(fn.reduce_partition, f))
                    for v in vs]
        if not partials:
            msg = "Can not reduce() empty RDD"
            raise ValueError(msg)
        return reduce(f, partials)

    treeReduce = reduce  # no tree: partial results are few enough to merge on the driver

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        """Fold each partition from a copy of ``zeroValue``, then the results from it too."""
        partials = self._collect_one_each(partial(fn.fold_partition, zeroValue, op))
        return reduce(op, partials, zeroValue)

    def aggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any],
                  combOp: Callable[[Any, Any], Any]) -> Any:
        partials = self._collect_one_each(partial(fn.fold_partition, zeroValue, seqOp))
        return reduce(combOp, partials, zeroValue)

    def treeAggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any],
                      combOp: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        return self.aggregate(zeroValue, seqOp, combOp)

    def sum(self) -> Any:
        return sum(self._collect_one_each(fn.sum_partition))

    def stats(self) -> StatCounter:
        counters = self._collect_one_each(fn.stat_partition)
        return reduce(StatCounter.mergeStats, counters, StatCounter())

    def mean(self) -> float:
        return self.stats().mean()

    def variance(self) -> float:
        return self.stats().variance()

    def stdev(self) -> float:
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        return self.stats().sampleStdev()

    def max(self, key: Callable[[Any], Any] | None = None) -> Any:
        return self.reduce(max if key is None else partial(fn.max_by, key))

    def min(self, key: Callable[[Any], Any] | None = None) -> Any:
        return self.reduce(min if key is None else partial(fn.min_by, key))

    def take(self, num: int) -> list[Any]:
        """The first ``num`` records, scanning one partition, then more each round (up to 4x
        as many as scanned so far) until there are enough."""
        if num <= 0:
            return []
        total = self._source_partitions()
        if total is None:  # adaptive plans: one job over every partition, each cut to num
            limited = self._derive(partial(fn.first_records, num))
            return list(islice(limited.collect(), num))
        items: list[Any] = []
        scanned = 0
        while len(items) < num and scanned < total:
            if scanned == 0:
                count = 1
            elif not items:
                count = scanned * _TAKE_SCALE_UP
            else:
                # Guess from the records found so far, 50% over, within the scale-up factor.
                guess = int(1.5 * num * scanned / len(items)) - scanned
                count = max(1, min(guess, scanned * _TAKE_SCALE_UP))
            parts = tuple(range(scanned, min(scanned + count, total)))
            limited = self._derive(partial(fn.first_records, num - len(items)))
            for records in limited._partition_records(parts):
                items.extend(records)
            scanned += len(parts)
        return items[:num]

    def first(self) -> Any:
        rows = self.take(1)
        if not rows:
            msg = "RDD is empty"
            raise ValueError(msg)
        return rows[0]

    def isEmpty(self) -> bool:
        return self.getNumPartitions() == 0 or not self.take(1)

    def top(self, num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` largest records, largest first."""
        tops = self._collect_one_each(partial(fn.largest, num, key))
        return heapq.nlargest(num, chain.from_iterable(tops), key=key)

    def takeOrdered(self, num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` smallest records (by ``key``), smallest first."""
        bottoms = self._collect_one_each(partial(fn.smallest, num, key))
        return heapq.nsmallest(num, chain.from_iterable(bottoms), key=key)

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list[Any]:
        """``num`` records drawn at random (a job to count, then sampling jobs)."""
        if num < 0:
            msg = f"sample size cannot be negative, got {num}"
            raise ValueError(msg)
        total = self.count()
        if num == 0 or total == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= total:
            data = self.collect()
            rng.shuffle(data)
            return data
        fraction = fn.sample_fraction(num, total, withReplacement)
        while True:
            data = self.sample(withReplacement, fraction, rng.randrange(1 << 32)).collect()
            if len(data) >= num:
                rng.shuffle(data)
                return data[:num]

    def foreach(self, f: Callable[[Any], Any]) -> None:
        self._collect_one_each(partial(fn.for_each, f))

    def foreachPartition(self, f: Callable[[Iterator[Any]], Any]) -> None:
        self._collect_one_each(partial(fn.for_each_partition, f))

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """One text file per partition, ``part-00000`` onwards, a record's ``str`` per line,
        then an empty ``_SUCCESS`` file. ``compressionCodecClass`` may name gzip
        (``org.apache.hadoop.io.compress.GzipCodec``), which writes ``part-00000.gz``."""
        codec = None
        if compressionCodecClass is not None:
            if "gzip" not in compressionCodecClass.lower():
                msg = (f"unsupported compression codec {compressionCodecClass}\n\n"
                       "use org.apache.hadoop.io.compress.GzipCodec or none")
                raise ValueError(msg)
            codec = "gzip"
        target = Path(path[len("file://"):] if path.startswith("file://") else path).absolute()
        if target.exists():
            msg = (f"output directory {target} already exists\n\n"
                   "remove it or write to another path")
            raise FileExistsError(msg)
        target.mkdir(parents=True)
        self._collect_one_each(partial(fn.write_text_part, str(target), codec))
        (target / "_SUCCESS").touch()

    # -- DataFrames ----------------------------------------------------------------------------

    def toDF(self, schema: Any = None, sampleRatio: float | None = None) -> DataFrame:
        """A DataFrame of this RDD's rows (tuples, lists, Rows, dicts); ``schema`` as for
        ``createDataFrame``: a StructType, a DDL string or column names."""
        return to_dataframe(self.ctx._session, self, schema, sampleRatio)


class _PersistedSource(lineage.Source):
    """A persisted RDD as the start of another pipeline: its cached blocks (or its lineage)."""

    def __init__(self, rdd: RDD) -> None:
        self.rdd = rdd

    def plan(self) -> PhysicalOp:
        return self.rdd._physical()

    def num_partitions(self) -> int | None:
        return self.rdd._source_partitions()

    def describe(self) -> str:
        return f"{self.rdd!r} [{self.rdd.getStorageLevel()}]"


class _LocalCheckpointSource(lineage.Source):
    """A locally checkpointed RDD: its blocks only, without lineage."""

    def __init__(self, cache_id: int, level: StorageLevel, runtime: Any, attrs: list[Any],
                 partitions: int | None) -> None:
        self.cache_id, self.level, self.runtime = cache_id, level, runtime
        self.attrs, self.partitions = attrs, partitions

    def plan(self) -> PhysicalOp:
        return self.runtime.cached_rdd_scan(self.cache_id, self.level, None, self.attrs)

    def num_partitions(self) -> int | None:
        return self.partitions

    def describe(self) -> str:
        return f"LocalCheckpointRDD[{self.cache_id}]"


def to_dataframe(session: SparkSession, rdd: RDD, schema: Any,
                 samplingRatio: float | None) -> DataFrame:
    """``createDataFrame(rdd, schema)``: rows become Arrow in the executors, one table per
    partition, which the DataFrame then holds as local data (so it lives in driver memory).

    Without a schema, the types are inferred from the first 100 rows (or a ``samplingRatio``
    sample), as PySpark infers them.
    """
    from ember.plan.expressions import AttributeReference
    from ember.plan.logical import LocalRelation
    from ember.sql import types as T
    from ember.sql.conversion import infer_schema
    from ember.sql.dataframe import DataFrame

    names = list(schema) if isinstance(schema, list | tuple) else None
    struct: T.StructType | None = None
    if isinstance(schema, str):
        parsed = T.parse_ddl(schema)
        struct = parsed if isinstance(parsed, T.StructType) else T.StructType(
            [T.StructField("value", parsed, True)])
    elif isinstance(schema, T.StructType):
        struct = schema
    elif isinstance(schema, T.DataType):
        struct = T.StructType([T.StructField("value", schema, True)])
    inferred = struct is None
    if struct is None:
        sample = (rdd.sample(False, samplingRatio, 0).collect() if samplingRatio
                  else rdd.take(100))
        struct = infer_schema(sample, names=names)
    arrow_schema = T.to_arrow_schema(struct)
    blobs = rdd._collect_one_each(partial(fn.rows_to_ipc, struct, not inferred))
    tables = [pa.ipc.open_stream(b).read_all() for b in blobs]
    tables = [t for t in tables if t.num_rows] or [arrow_schema.empty_table()]
    if names is not None:
        if len(names) != len(arrow_schema):
            msg = f"{len(names)} column names were given for {len(arrow_schema)} columns"
            raise ValueError(msg)
        tables = [t.rename_columns(names) for t in tables]
    attrs = tuple(AttributeReference(f.name, f.type, f.nullable) for f in tables[0].schema)
    return DataFrame(LocalRelation(attrs, tuple(tables)), session)


def from_dataframe(df: DataFrame) -> RDD:
    """``df.rdd``: the DataFrame's plan, its rows turned into ``Row`` objects in the executors."""
    session = df.sparkSession
    runtime = session._runtime()
    root = runtime.physical_plan(runtime.optimize(df._plan))
    source = lineage.ArrowSource(root, partial(lineage.rows_of_batch, list(df.columns)),
                                 "DataFrame")
    return RDD(session.sparkContext, source)

