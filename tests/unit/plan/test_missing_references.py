"""Sorting and filtering by a column that a projection below dropped, as Spark allows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ember.errors import AnalysisException
from ember.plan.analyzer import analyze
from ember.plan.expressions import (
    Alias,
    AttributeReference,
    BinaryOp,
    SortOrder,
    UnresolvedAttribute,
    literal,
)
from ember.plan.logical import Filter, LocalRelation, Project, Sort

A = AttributeReference("a", pa.int64())
B = AttributeReference("b", pa.int64())
RELATION = LocalRelation((A, B), (pa.table({A.key: [1, 2], B.key: [20, 10]}),))
ONLY_A = Project((A,), RELATION)


def test_sort_by_dropped_column_carries_it_through_the_projection_and_drops_it_after() -> None:
    plan = analyze(Sort((SortOrder(UnresolvedAttribute(("b",))),), True, ONLY_A))
    assert isinstance(plan, Project) and plan.output == [A]
    sort = plan.child
    assert isinstance(sort, Sort) and sort.orders[0].child == B
    assert isinstance(sort.child, Project) and sort.child.output == [A, B]


def test_filter_by_dropped_column_carries_it_through_the_projection() -> None:
    cond = BinaryOp(">", UnresolvedAttribute(("b",)), literal(15))
    plan = analyze(Filter(cond, ONLY_A))
    assert isinstance(plan, Project) and plan.output == [A]
    assert isinstance(plan.child, Filter) and plan.child.condition.references() == {B.expr_id}


def test_projected_name_wins_over_the_dropped_column_it_hides() -> None:
    renamed = Project((Alias(A, "b"),), RELATION)
    plan = analyze(Sort((SortOrder(UnresolvedAttribute(("b",))),), True, renamed))
    assert isinstance(plan, Sort) and plan.orders[0].child == renamed.output[0]


def test_unknown_column_still_reports_the_projection_output() -> None:
    with pytest.raises(AnalysisException, match="`c` cannot be resolved"):
        analyze(Sort((SortOrder(UnresolvedAttribute(("c",))),), True, ONLY_A))
