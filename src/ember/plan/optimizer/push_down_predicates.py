"""Push filters towards the data: through projections, sorts, aggregates and joins, into scans.

- Through a projection, by substituting the projected expressions for their names.
- Through an aggregate, for conjuncts that only use grouping keys.
- Into the sides of a join: for an inner join every single-side conjunct moves down (also from
  the join condition); for outer joins only onto the side whose rows are preserved.
- Into parquet scans, as pyarrow dataset filters; the filter above stays, since the dataset
  filter only has to be a superset.
"""

from __future__ import annotations

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
        return _push_into_join(conjuncts, child, node)
    if isinstance(child, FileRelation) and child.fmt == "parquet":
        known = {id(f) for f in child.pushed_filters}
        new = [c for c in conjuncts if id(c) not in known and c.deterministic
               and c.references() <= child.output_set()]
        existing = {f.sql() for f in child.pushed_filters}
        new = [c for c in new if c.sql() not in existing]
        if new:
            scan = FileRelation(child.fmt, child.paths, child.attrs, child.options,
                                child.required, child.pushed_filters + tuple(new),
                                child.size_in_bytes)
            return Filter(node.condition, scan)
    return node


def _same_key(attr: AttributeReference, key: Expression) -> bool:
    return isinstance(key, AttributeReference) and key.expr_id == attr.expr_id


def _push_into_join(conjuncts: list[Expression], join: Join, node: Filter) -> LogicalPlan:
    left_ids, right_ids = join.left.output_set(), join.right.output_set()
    push_left = join.how in {"inner", "cross", "left", "left_semi", "left_anti"}
    push_right = join.how in {"inner", "cross", "right"}
    to_left, to_right, stay = [], [], []
    for c in conjuncts:
        refs = c.references()
        if c.deterministic and refs and refs <= left_ids and push_left:
            to_left.append(c)
        elif c.deterministic and refs and refs <= right_ids and push_right:
            to_right.append(c)
        else:
            stay.append(c)
    cond = join.condition
    if join.how in {"inner", "cross"} and cond is not None:
        # Single-side conjuncts of an inner join's condition are filters too.
        kept = []
        for c in split_conjuncts(cond):
            refs = c.references()
            if c.deterministic and refs and refs <= left_ids:
                to_left.append(c)
            elif c.deterministic and refs and refs <= right_ids:
                to_right.append(c)
            else:
                kept.append(c)
        cond = conjoin(kept)
    elif join.how in {"left", "left_semi", "left_anti"} and cond is not None:
        # A condition on the right side only restricts which right rows can match.
        kept = []
        for c in split_conjuncts(cond):
            refs = c.references()
            if c.deterministic and refs and refs <= right_ids:
                to_right.append(c)
            else:
                kept.append(c)
        cond = conjoin(kept)
    if not to_left and not to_right and cond is join.condition:
        return node
    new_join = Join(_wrap(to_left, join.left), _wrap(to_right, join.right), join.how, cond)
    return _wrap(stay, new_join)


def push_down_predicates(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        if isinstance(node, Filter):
            return _push_filter(node)
        if isinstance(node, Join) and node.how in {"inner", "cross"} and node.condition is not None:
            return _push_into_join([], node, node)  # type: ignore[arg-type]
        return node

    return plan.transform_down(rule)
