"""Cutting physical plans into stages, and adaptive coalescing of reduce partitions."""

from __future__ import annotations

import pyarrow as pa

from ember.exec.operators import FilterExec, RangeExec, ShuffleReadExec
from ember.exec.task import HashPartitioning, ResultSink, ShuffleSink, SinglePartition
from ember.plan.expressions import AttributeReference, BinaryOp, Literal
from ember.plan.physical import ExchangeExec
from ember.plan.stages import coalesce_ranges, counter, split_stages

ID = AttributeReference("id", pa.int64(), False)


def test_every_exchange_becomes_a_map_stage_read_by_its_parent() -> None:
    scan = RangeExec(0, 100, 1, 4, ID)
    inner = ExchangeExec(HashPartitioning((ID,), 8), FilterExec(
        BinaryOp(">", ID, Literal(5, pa.int64())), scan))
    root = ExchangeExec(SinglePartition(), inner)
    plan = split_stages(root, ResultSink(), next_stage_id=counter(), next_shuffle_id=counter(10))
    assert sorted(plan.stages) == [0, 1, 2]
    first, second, result = plan.stages[0], plan.stages[1], plan.stages[2]
    assert plan.result_stage == 2
    # shuffle ids are handed out from the top, stage ids from the bottom
    assert first.parents == () and first.shuffle_id == 11 and first.reads == {}
    assert isinstance(first.sink, ShuffleSink) and first.sink.partitioning.num_partitions == 8
    assert second.parents == (0,) and second.reads == {11: 8} and second.shuffle_id == 10
    assert isinstance(second.root, ShuffleReadExec) and second.root.shuffle_id == 11
    assert result.parents == (1,) and result.reads == {10: 1} and result.shuffle_id is None
    assert isinstance(result.sink, ResultSink)


def test_a_preassigned_shuffle_id_is_kept() -> None:
    root = ExchangeExec(SinglePartition(), RangeExec(0, 10, 1, 2, ID), shuffle_id=42)
    plan = split_stages(root, ResultSink(), next_stage_id=counter(), next_shuffle_id=counter())
    assert plan.stages[0].shuffle_id == 42


def test_coalescing_packs_contiguous_partitions_up_to_the_target() -> None:
    mb = 1 << 20
    sizes = [[10 * mb, 10 * mb, 50 * mb, 1 * mb, 1 * mb, 1 * mb, 70 * mb, 0]]
    ranges = coalesce_ranges(sizes, 8, target_bytes=64 * mb, min_bytes=mb, parallelism=1)
    # the empty last partition is folded into its neighbour rather than left alone
    assert ranges == ((0, 2), (2, 6), (6, 8))


def test_coalescing_sums_the_shuffles_a_join_reads_so_both_sides_agree() -> None:
    left, right = [5, 5, 5, 5], [0, 0, 30, 0]
    ranges = coalesce_ranges([left, right], 4, target_bytes=20, min_bytes=1, parallelism=1)
    assert ranges == ((0, 2), (2, 3), (3, 4))


def test_coalescing_keeps_parallelism_for_small_data() -> None:
    # 8 MB over 200 partitions with 2 cores: ranges of about 4 MB (total / parallelism),
    # not one 64 MB range.
    sizes = [[40_000] * 200]
    ranges = coalesce_ranges(sizes, 200, target_bytes=64 << 20, min_bytes=1, parallelism=2)
    assert len(ranges) == 2
    assert ranges[0][0] == 0 and ranges[-1][1] == 200


def test_coalescing_never_goes_below_the_minimum_partition_size() -> None:
    ranges = coalesce_ranges([[100] * 10], 10, target_bytes=64 << 20, min_bytes=1 << 20,
                             parallelism=100)
    assert ranges == ((0, 10),)
