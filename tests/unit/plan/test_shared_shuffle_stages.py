"""An exchange reached twice with one shuffle id (an RDD on both sides of a join) is one map
stage, which every stage reading it lists once as a parent."""

from __future__ import annotations

import pyarrow as pa

from ember.exec.operators import RangeExec, ShuffleReadExec, UnionExec
from ember.exec.task import ResultSink, SinglePartition
from ember.plan.expressions import AttributeReference
from ember.plan.physical import ExchangeExec
from ember.plan.stages import counter, split_stages

ID = AttributeReference("id", pa.int64(), False)


def test_one_shuffle_reached_twice_in_one_stage_is_one_map_stage() -> None:
    shared = ExchangeExec(SinglePartition(), RangeExec(0, 10, 1, 2, ID), shuffle_id=7)
    root = UnionExec((shared, shared), (ID,))
    plan = split_stages(root, ResultSink(), next_stage_id=counter(), next_shuffle_id=counter())
    assert sorted(plan.stages) == [0, 1]
    result = plan.stages[plan.result_stage]
    assert result.parents == (0,)
    assert result.reads == {7: 1}
    assert all(isinstance(c, ShuffleReadExec) and c.shuffle_id == 7 for c in result.root.children)


def test_one_shuffle_read_by_two_stages_is_their_common_parent() -> None:
    shared = ExchangeExec(SinglePartition(), RangeExec(0, 10, 1, 2, ID), shuffle_id=7)
    above = ExchangeExec(SinglePartition(), shared, shuffle_id=8)
    root = UnionExec((shared, above), (ID,))
    plan = split_stages(root, ResultSink(), next_stage_id=counter(), next_shuffle_id=counter())
    writers = {s.shuffle_id: s.stage_id for s in plan.stages.values()}
    assert sorted(writers, key=str) == [7, 8, None]
    result = plan.stages[plan.result_stage]
    assert set(result.parents) == {writers[7], writers[8]}
    assert plan.stages[writers[8]].parents == (writers[7],)
