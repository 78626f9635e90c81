"""Combine adjacent filters: ``Filter(a, Filter(b, x))`` becomes ``Filter(b AND a, x)``.

One predicate evaluation per batch instead of two, and pushdown sees every conjunct at once.
The rule runs bottom-up so that a whole stack of filters collapses in one pass.
"""

from __future__ import annotations

from ember.plan.expressions import And
from ember.plan.logical import Filter, LogicalPlan


def combine_filters(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        if isinstance(node, Filter) and isinstance(node.child, Filter):
            inner = node.child
            return Filter(And(inner.condition, node.condition), inner.child)
        return node

    return plan.transform_up(rule)
