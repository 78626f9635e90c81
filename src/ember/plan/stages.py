"""Cutting a physical plan into stages at every exchange, and coalescing shuffle partitions.

Every ``ExchangeExec`` becomes a shuffle: the subtree below it is a map stage that writes the
shuffle, and the operator above it reads it through a ``ShuffleReadExec``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ember.exec.operators import PhysicalOp, ShuffleReadExec
from ember.exec.task import ShuffleSink, Sink
from ember.plan.physical import ExchangeExec


@dataclass
class Stage:
    stage_id: int
    root: PhysicalOp
    sink: Sink
    parents: tuple[int, ...]
    shuffle_id: int | None
    # Number of reduce partitions of each shuffle this stage reads.
    reads: dict[int, int] = field(default_factory=dict)
    # Decided when the stage first runs (adaptive coalescing), then fixed.
    reduce_ranges: tuple[tuple[int, int], ...] = ()
    num_tasks: int = 0


@dataclass
class JobPlan:
    stages: dict[int, Stage]
    result_stage: int


def split_stages(root: PhysicalOp, sink: Sink, *, next_stage_id: Callable[[], int],
                 next_shuffle_id: Callable[[], int]) -> JobPlan:
    stages: dict[int, Stage] = {}
    # An exchange with a fixed shuffle id may occur more than once (an RDD on both sides of a
    # join): it is one map stage, read by every stage above an occurrence.
    writers: dict[int, int] = {}

    def cut(op: PhysicalOp, parents: list[int], reads: dict[int, int]) -> PhysicalOp:
        if isinstance(op, ExchangeExec):
            shuffle_id = op.shuffle_id if op.shuffle_id is not None else next_shuffle_id()
            if shuffle_id in writers:
                stage_id = writers[shuffle_id]
            else:
                child_parents: list[int] = []
                child_reads: dict[int, int] = {}
                child_root = cut(op.child, child_parents, child_reads)
                stage_id = writers[shuffle_id] = next_stage_id()
                stages[stage_id] = Stage(stage_id, child_root,
                                         ShuffleSink(shuffle_id, op.partitioning),
                                         tuple(child_parents), shuffle_id, child_reads)
            if stage_id not in parents:
                parents.append(stage_id)
            reads[shuffle_id] = op.partitioning.num_partitions
            return ShuffleReadExec(shuffle_id, tuple(op.output),
                                   f", {op.partitioning.describe()}")
        kids = [cut(c, parents, reads) for c in op.children]
        return op.with_children(kids) if kids else op

    parents: list[int] = []
    reads: dict[int, int] = {}
    result_root = cut(root, parents, reads)
    result_id = next_stage_id()
    stages[result_id] = Stage(result_id, result_root, sink, tuple(parents), None, reads)
    return JobPlan(stages, result_id)


def counter(start: int = 0) -> Callable[[], int]:
    it = itertools.count(start)
    return lambda: next(it)


def coalesce_ranges(sizes: Sequence[Sequence[int]], num_reduce: int, *, target_bytes: int,
                    min_bytes: int, parallelism: int) -> tuple[tuple[int, int], ...]:
    """Pack contiguous reduce partitions into ranges of about the target size.

    As Spark's CoalesceShufflePartitions with ``parallelismFirst``: the target is the smaller of
    the advisory size and total/parallelism, but never under ``min_bytes``. ``sizes`` holds, for
    each shuffle the stage reads, the bytes of each reduce partition; they are coalesced alike.
    """
    if num_reduce <= 0:
        return ()
    totals = [sum(s[i] for s in sizes) for i in range(num_reduce)] if sizes else [0] * num_reduce
    total = sum(totals)
    target = max(min_bytes, min(target_bytes, total // max(1, parallelism)))
    ranges: list[list[int]] = []  # [start, end, bytes]
    start, acc = 0, 0
    for i, size in enumerate(totals):
        if i > start and acc + size > target:
            ranges.append([start, i, acc])
            start, acc = i, 0
        acc += size
    ranges.append([start, num_reduce, acc])
    # As Spark, fold a range under a fifth of the target into its smaller neighbour.
    merged: list[list[int]] = []
    for r in ranges:
        if merged and (r[2] < target * 0.2 or merged[-1][2] < target * 0.2):
            merged[-1][1], merged[-1][2] = r[1], merged[-1][2] + r[2]
        else:
            merged.append(r)
    return tuple((a, b) for a, b, _ in merged)
