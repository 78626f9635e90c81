"""Drop columns nobody above uses, down to the scan, which then reads fewer columns.

Walks the plan top-down with the set of attribute ids required by the parents. Projections
lose unused expressions, and a file scan reads only the required columns (parquet reads them
from disk; csv and json still parse the whole row, then drop).
"""

from __future__ import annotations

from dataclasses import replace

from ember.plan.expressions import Expression
from ember.plan.logical import (
    Aggregate,
    CachedRelation,
    FileRelation,
    Filter,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Repartition,
    Sort,
    SubqueryAlias,
)
from ember.plan.window import Window


def _refs(exprs: list[Expression] | tuple[Expression, ...]) -> set[int]:
    out: set[int] = set()
    for e in exprs:
        out |= e.references()
    return out


def _prune(node: LogicalPlan, required: set[int]) -> LogicalPlan:
    if isinstance(node, Project):
        kept = tuple(e for e in node.exprs if _output_id(e) in required) or node.exprs[:1]
        return Project(kept, _prune(node.child, _refs(kept)))
    if isinstance(node, Filter):
        return Filter(node.condition, _prune(node.child, required | node.condition.references()))
    if isinstance(node, Aggregate):
        return Aggregate(node.keys, node.aggs, _prune(node.child, _refs(node.keys + node.aggs)))
    if isinstance(node, Sort):
        return Sort(node.orders, node.is_global,
                    _prune(node.child, required | _refs(node.orders)))
    if isinstance(node, Limit | SubqueryAlias):
        return node.with_children([_prune(node.children[0], required)])
    if isinstance(node, Repartition):
        return node.with_children([_prune(node.child, required | _refs(node.keys))])
    if isinstance(node, Window):
        # A window passes its child's columns through; it needs only those asked for above
        # plus what its expressions, partition keys and ordering read.
        need = _refs(node.window_exprs + node.partition + tuple(node.orders))
        return node.with_children([_prune(node.child,
                                          (required & node.child.output_set()) | need)])
    if isinstance(node, Join):
        need = required | (node.condition.references() if node.condition is not None else set())
        return Join(_prune(node.left, need & node.left.output_set()),
                    _prune(node.right, need & node.right.output_set()), node.how, node.condition)
    if isinstance(node, FileRelation | CachedRelation):
        # A file scan reads only these columns; cached blocks hold every column and the cached
        # scan selects these right after reading them.
        ids = tuple(a.expr_id for a in node.attrs if a.expr_id in required) \
            or (node.attrs[0].expr_id,)
        if node.required == ids or (isinstance(node, CachedRelation)
                                    and len(ids) == len(node.attrs)):
            return node
        return replace(node, required=ids)
    # Unions, local data and ranges keep all their columns.
    return node.with_children([_prune(c, c.output_set()) for c in node.children]) \
        if node.children else node


def _output_id(e: Expression) -> int:
    from ember.plan.expressions import to_attribute

    return to_attribute(e).expr_id


def column_pruning(plan: LogicalPlan) -> LogicalPlan:
    return _prune(plan, plan.output_set())
