"""Evaluate expressions without column references once, at planning time.

``lit(1) + 2`` becomes ``3``, so that tasks do not recompute it per batch and later rules
(boolean simplification, pushdown) see literals.
"""

from __future__ import annotations

import pyarrow as pa

from ember.plan.expressions import Alias, Expression, Literal, SortOrder
from ember.plan.logical import LogicalPlan


def fold(expr: Expression) -> Expression:
    from ember.exec.expr_eval import evaluate

    def rule(e: Expression) -> Expression:
        # A sort order or an alias is not a value; only the expression inside it folds.
        if isinstance(e, Literal | Alias | SortOrder) or not e.foldable or not e.resolved:
            return e
        value = evaluate(e, pa.table({"_": pa.array([0])}))
        return Literal(value[0].as_py(), e.dtype)

    return expr.transform_up(rule)


def constant_folding(plan: LogicalPlan) -> LogicalPlan:
    return plan.transform_up(lambda node: node.map_expressions(fold))
