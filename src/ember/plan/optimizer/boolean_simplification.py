"""Simplify boolean logic with literal operands, and drop filters that are always true.

``x AND true`` is ``x``, ``x OR true`` is ``true``, ``NOT NOT x`` is ``x``, ``x AND x`` is ``x``
when ``x`` is deterministic (two calls of ``rand()`` are two different values). A filter on
``true`` disappears. Null is treated as unknown, never as false, except at the top of a filter
condition, where Spark drops rows whose condition is null.
"""

from __future__ import annotations

import pyarrow as pa

from ember.plan.expressions import And, Expression, Literal, Not, Or
from ember.plan.logical import Filter, LocalRelation, LogicalPlan


def _is(e: Expression, value: bool) -> bool:
    return isinstance(e, Literal) and e.value is value


def simplify(expr: Expression) -> Expression:
    def rule(e: Expression) -> Expression:
        if isinstance(e, And):
            if _is(e.left, True):
                return e.right
            if _is(e.right, True):
                return e.left
            if _is(e.left, False) or _is(e.right, False):
                return Literal(False, pa.bool_())
            if e.left == e.right and e.left.deterministic:
                return e.left
        if isinstance(e, Or):
            if _is(e.left, False):
                return e.right
            if _is(e.right, False):
                return e.left
            if _is(e.left, True) or _is(e.right, True):
                return Literal(True, pa.bool_())
            if e.left == e.right and e.left.deterministic:
                return e.left
        if isinstance(e, Not):
            if isinstance(e.child, Not):
                return e.child.child
            if isinstance(e.child, Literal) and e.child.value is not None:
                return Literal(not e.child.value, pa.bool_())
        return e

    return expr.transform_up(rule)


def boolean_simplification(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        node = node.map_expressions(simplify)
        if isinstance(node, Filter) and isinstance(node.condition, Literal):
            if node.condition.value is True:
                return node.child
            empty = pa.table({a.key: pa.array([], a.dtype) for a in node.output})
            return LocalRelation(tuple(node.output), (empty,))
        return node

    return plan.transform_up(rule)
