"""Push filters towards the data: through projections, sorts, aggregates and joins, into scans.

- Through a projection, by substituting the projected expressions for their names.
- Through an aggregate, for conjuncts that only use grouping keys.
- Into the sides of a join: for an inner join every single-side conjunct moves down (also from
  the join condition), and conjuncts over both sides join the condition; for outer, semi and anti
  joins a filter only moves onto a side whose rows are preserved, and a condition conjunct only
  onto a side whose unmatched rows are dropped.
- Into parquet scans, as pyarrow dataset filters; the filter above stays, since the dataset
  filter only has to be a superset.
"""

from __future__ import annotations

from dataclasses import replace

from ember.plan.expressions import (
    Alias,
    AttributeReference,
    Expression,
    conjoin,
    split_conjuncts,
)
from ember.plan.logical import (
    Aggregate,
    FileRelation,
    Filter,
    Join,
    LogicalPlan,
    Project,
    Repartition,
    Sort,
    SubqueryAlias,
)


def _wrap(conjuncts: list[Expression], child: LogicalPlan) -> LogicalPlan:
    cond = conjoin(conjuncts)
    return Filter(cond, child) if cond is not None else child


def _push_filter(node: Filter) -> LogicalPlan:
    child = node.child
    conjuncts = split_conjuncts(node.condition)
    if isinstance(child, Project):
        if not all(e.deterministic for e in child.exprs):
            return node
        aliases = {e.expr_id: e.child for e in child.exprs if isinstance(e, Alias)}

        def substitute(e: Expression) -> Expression:
            if isinstance(e, AttributeReference) and e.expr_id in aliases:
                return aliases[e.expr_id]
            return e

        pushed = [c.transform_up(substitute) for c in conjuncts]
        return Project(child.exprs, Filter(conjoin(pushed), child.child))  # type: ignore[arg-type]
    if isinstance(child, Sort | SubqueryAlias | Repartition) and node.condition.deterministic:
        inner = child.children[0]
        return child.with_children([Filter(node.condition, inner)])
    if isinstance(child, Aggregate):
        key_ids = {a.expr_id for a in child.output
                   if any(_same_key(a, k) for k in child.keys)}
        down = [c for c in conjuncts if c.deterministic and c.references() and
                c.references() <= key_ids]
        stay = [c for c in conjuncts if c not in down]
        if not down:
            return node
        agg = Aggregate(child.keys, child.aggs, Filter(conjoin(down), child.child))  # type: ignore[arg-type]
        return _wrap(stay, agg)
    if isinstance(child, Join):
        return _push_into_join(conjuncts, child) or node
    if isinstance(child, FileRelation) and child.fmt == "parquet":
        known = {id(f) for f in child.pushed_filters}
        # Partition columns are not in the files, so only file columns go to the scanner.
        file_ids = {a.expr_id for a in child.attrs if a.name not in child.partition_names}
        new = [c for c in conjuncts if id(c) not in known and c.deterministic
               and c.references() <= child.output_set() & file_ids]
        existing = {f.sql() for f in child.pushed_filters}
        new = [c for c in new if c.sql() not in existing]
        if new:
            scan = replace(child, pushed_filters=child.pushed_filters + tuple(new))
            return Filter(node.condition, scan)
    return node


def _same_key(attr: AttributeReference, key: Expression) -> bool:
    return isinstance(key, AttributeReference) and key.expr_id == attr.expr_id


# Which sides of a join a single-side conjunct may move into. A filter *above* the join may reach a
# side whose rows the join never null-extends; a conjunct of the join's *condition* may reach a side
# whose unmatched rows the join drops anyway.
_FILTER_TO_LEFT = {"inner", "cross", "left", "left_semi", "left_anti"}
_FILTER_TO_RIGHT = {"inner", "cross", "right"}
_CONDITION_TO_LEFT = {"inner", "cross", "right", "left_semi"}
_CONDITION_TO_RIGHT = {"inner", "cross", "left", "left_semi", "left_anti"}


def _side(c: Expression, left_ids: set[int], right_ids: set[int]) -> str | None:
    refs = c.references()
    if not c.deterministic or not refs:
        return None
    if refs <= left_ids:
        return "left"
    if refs <= right_ids:
        return "right"
    return "both" if refs <= left_ids | right_ids else None


def _push_into_join(conjuncts: list[Expression], join: Join) -> LogicalPlan | None:
    """Move the filter ``conjuncts`` above ``join``, and the single-side conjuncts of its
    condition, as far down as the join type allows; None if nothing moves."""
    left_ids, right_ids = join.left.output_set(), join.right.output_set()
    how = join.how
    to_left: list[Expression] = []
    to_right: list[Expression] = []
    to_condition: list[Expression] = []
    stay: list[Expression] = []
    for c in conjuncts:
        side = _side(c, left_ids, right_ids)
        if side == "left" and how in _FILTER_TO_LEFT:
            to_left.append(c)
        elif side == "right" and how in _FILTER_TO_RIGHT:
            to_right.append(c)
        elif side == "both" and how in {"inner", "cross"}:
            # For an inner join a filter over both sides is a join condition, which lets the
            # planner use a hash join instead of a cartesian product.
            to_condition.append(c)
        else:
            stay.append(c)
    kept: list[Expression] = []
    for c in split_conjuncts(join.condition) if join.condition is not None else []:
        side = _side(c, left_ids, right_ids)
        if side == "left" and how in _CONDITION_TO_LEFT:
            to_left.append(c)
        elif side == "right" and how in _CONDITION_TO_RIGHT:
            to_right.append(c)
        else:
            kept.append(c)
    if not (to_left or to_right or to_condition):
        return None
    new_join = Join(_wrap(to_left, join.left), _wrap(to_right, join.right), how,
                    conjoin(kept + to_condition))
    return _wrap(stay, new_join)


def push_down_predicates(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        if isinstance(node, Filter):
            return _push_filter(node)
        if isinstance(node, Join) and node.condition is not None:
            return _push_into_join([], node) or node
        return node

    return plan.transform_down(rule)
