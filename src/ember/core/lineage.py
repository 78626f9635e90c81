"""How an RDD's lineage becomes a physical plan.

An RDD is a *source* plus the narrow transformations applied since it, composed into one
``func(split, records)`` (as PySpark's PipelinedRDD). A source is where a pipeline starts:

- local data (``parallelize``), a text file, an Arrow plan (``df.rdd``, ``sc.range``);
- the reduce side of a shuffle, whose map side is the parent RDD's pipeline ending in a
  ``PythonPartitionExec``, then an ``ExchangeExec`` the engine runs as any other shuffle;
- a union or a coalesce of other RDDs.

Each shuffle source holds a shuffle id for its whole life, so later jobs over the same RDD
reuse its map outputs, as Spark does; the id is released when the RDD is garbage-collected.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.exec import python_rdd as prdd
from ember.exec.operators import CoalesceExec, LocalScanExec, PhysicalOp, UnionExec
from ember.exec.task import PartitionIdPartitioning
from ember.plan.physical import ExchangeExec, walk

if TYPE_CHECKING:
    from ember.core.context import SparkContext

PartitionFunc = prdd.PartitionFunc


class Pipeline:
    """Partition functions applied one after another: ``funcs[-1](split, ...funcs[0](split, it))``.

    Kept flat (not nested closures) so long chains of ``map`` neither recurse deeply nor
    pickle deeply.
    """

    def __init__(self, funcs: Sequence[PartitionFunc]) -> None:
        self.funcs = tuple(funcs)

    def __call__(self, split: int, records: Iterator[Any]) -> Iterable[Any]:
        out: Iterable[Any] = records
        for f in self.funcs:
            out = f(split, iter(out))
        return out


def compose(first: PartitionFunc | None, then: PartitionFunc) -> PartitionFunc:
    if first is None:
        return then
    head = first.funcs if isinstance(first, Pipeline) else (first,)
    tail = then.funcs if isinstance(then, Pipeline) else (then,)
    return Pipeline(head + tail)


class Source:
    """Where an RDD's pipeline starts: an operator and how to read records from its batches."""

    #: Turns the operator's Arrow batches into records; None for batches of pickled chunks.
    convert: prdd.Convert | None = None

    def plan(self) -> PhysicalOp:
        raise NotImplementedError

    def num_partitions(self) -> int | None:
        """The partition count, or None when only running the plan can tell (adaptive plans)."""
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


@dataclass(eq=False)
class LocalSource(Source):
    """``parallelize``: each partition is a local table of pickled chunks."""

    tables: tuple[pa.Table, ...]

    def plan(self) -> PhysicalOp:
        return LocalScanExec((prdd.chunk_attr(),), self.tables)

    def num_partitions(self) -> int | None:
        return len(self.tables)


@dataclass(eq=False)
class ArrowSource(Source):
    """A plan of Arrow batches (a DataFrame, a range, text lines) and how to make records."""

    root: PhysicalOp
    convert: prdd.Convert | None  # type: ignore[assignment]
    label: str = "ArrowSource"

    def plan(self) -> PhysicalOp:
        return self.root

    def num_partitions(self) -> int | None:
        # A shuffle inside a DataFrame plan is coalesced adaptively once its map side has run.
        if any(isinstance(op, ExchangeExec) for op in walk(self.root)):
            return None
        return self.root.num_partitions(0)

    def describe(self) -> str:
        return self.label


@dataclass(eq=False)
class ShuffleSource(Source):
    """The reduce side of a shuffle of ``parent``, whose records ``assign`` routes to reducers."""

    parent: Any  # RDD
    partitions: int
    assign: PartitionFunc
    shuffle_id: int
    context: SparkContext

    def __post_init__(self) -> None:
        weakref.finalize(self, self.context._shuffle_released, self.shuffle_id)

    def plan(self) -> PhysicalOp:
        parent = self.parent
        pid, attr = prdd.partition_id_attr(), prdd.chunk_attr()
        map_side = prdd.PythonPartitionExec(
            compose(parent._func, self.assign), parent._source.convert, self.partitions, pid,
            attr, parent._source.plan())
        exchange = ExchangeExec(PartitionIdPartitioning(pid.key, self.partitions), map_side,
                                shuffle_id=self.shuffle_id)
        return prdd.PythonShuffleReadExec(self.partitions, prdd.chunk_attr(), exchange)

    def num_partitions(self) -> int | None:
        return self.partitions

    def describe(self) -> str:
        return f"ShuffledRDD[{self.shuffle_id}]"


@dataclass(eq=False)
class UnionSource(Source):
    rdds: tuple[Any, ...]  # RDDs

    def plan(self) -> PhysicalOp:
        attr = prdd.chunk_attr()
        return UnionExec(tuple(r._physical() for r in self.rdds), (attr,))

    def num_partitions(self) -> int | None:
        counts = [r._source_partitions() for r in self.rdds]
        return None if None in counts else sum(counts)  # type: ignore[arg-type]


@dataclass(eq=False)
class PartitionwiseUnionSource(Source):
    """A union of RDDs with one partitioner: partition ``i`` holds every RDD's partition ``i``."""

    rdds: tuple[Any, ...]  # RDDs

    def plan(self) -> PhysicalOp:
        return prdd.PartitionwiseUnionExec(tuple(r._physical() for r in self.rdds),
                                           prdd.chunk_attr())

    def num_partitions(self) -> int | None:
        return self.rdds[0]._source_partitions()


@dataclass(eq=False)
class CoalesceSource(Source):
    parent: Any  # RDD
    partitions: int

    def plan(self) -> PhysicalOp:
        return CoalesceExec(self.partitions, self.parent._physical())

    def num_partitions(self) -> int | None:
        n = self.parent._source_partitions()
        return None if n is None else max(1, min(self.partitions, n))


def pipeline_plan(source: Source, func: PartitionFunc | None, label: str = "") -> PhysicalOp:
    """The plan of an RDD: its source, then its composed narrow transformations."""
    op = source.plan()
    if func is None and source.convert is None:
        return op
    return prdd.PythonPipelineExec(func, source.convert, prdd.chunk_attr(), op, label)


def shuffle_ids(root: PhysicalOp) -> set[int]:
    return {op.shuffle_id for op in walk(root)
            if isinstance(op, ExchangeExec) and op.shuffle_id is not None}


def rows_of_batch(names: list[str], batch: pa.RecordBatch) -> list[Any]:
    """``convert`` for ``df.rdd``: a batch's rows as ``Row`` objects with the user's names."""
    from ember.sql.conversion import arrow_to_rows

    return arrow_to_rows(batch, names=names)

