"""Rewrite ``count(DISTINCT x)`` into two plain aggregations, as Spark's rule of that name.

``GROUP BY k: count(DISTINCT x), sum(y)`` becomes an inner aggregation grouped by ``k, x``
computing partial sums of ``y``, and an outer one grouped by ``k`` counting ``x`` and summing
the partial sums. Both steps shuffle by their keys, so it scales with no per-group sets.
Supported when every distinct aggregate uses the same arguments (Spark's common case).
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan.expressions import (
    AggregateCall,
    Alias,
    And,
    AttributeReference,
    BinaryOp,
    Call,
    Cast,
    Expression,
    Literal,
    replace_top_down,
    strip_alias,
    to_attribute,
)
from ember.plan.logical import Aggregate, Join, LogicalPlan, Project

# How an outer aggregation combines the inner one's partial result.
_MERGE = {"sum": "sum", "min": "min", "max": "max", "count": "sum"}


def rewrite_distinct_aggregates(plan: LogicalPlan) -> LogicalPlan:
    def rule(node: LogicalPlan) -> LogicalPlan:
        if not isinstance(node, Aggregate):
            return node
        calls = [e for a in node.aggs for e in a.walk() if isinstance(e, AggregateCall)]
        distinct = [c for c in calls if c.distinct]
        if not distinct:
            return node
        arg_sets = {c.args for c in distinct}
        if len(arg_sets) > 1:
            return _split_by_distinct_arguments(node, calls, rule)
        dargs = next(iter(arg_sets))
        named_keys = [_named(k, k.sql()) for k in node.keys]
        key_by_expr = {strip_alias(k): k for k in named_keys}
        # A distinct argument that is also a grouping key is grouped by once, not twice.
        named_dargs = [key_by_expr[a] if a in key_by_expr else _named(a, f"_distinct{i}")
                       for i, a in enumerate(dargs)]
        inner_named = list(dict.fromkeys(named_keys + named_dargs))
        dattrs = tuple(to_attribute(a) for a in named_dargs)
        partials: list[Alias] = []
        replacements: dict[AggregateCall, Expression] = {}
        for c in calls:
            if c in replacements:
                continue
            if c.distinct:
                replacements[c] = AggregateCall(c.name, dattrs, False)
            elif c.name in {"avg", "mean"}:
                s = Alias(AggregateCall("sum", c.args), "_sum")
                n = Alias(AggregateCall("count", c.args), "_cnt")
                partials += [s, n]
                total = Cast(AggregateCall("sum", (to_attribute(s),)), pa.float64())
                count = Cast(AggregateCall("sum", (to_attribute(n),)), pa.float64())
                replacements[c] = Cast(BinaryOp("/", total, count), c.dtype)
            elif c.name in _MERGE:
                part = Alias(c, f"_partial_{c.name}")
                partials.append(part)
                merged: Expression = AggregateCall(_MERGE[c.name], (to_attribute(part),))
                if c.name == "count":
                    merged = Call("coalesce", (merged, Literal(0, pa.int64())))
                replacements[c] = merged
            else:
                msg = (f"{c.name} cannot be combined with a DISTINCT aggregate yet\n\n"
                       "compute it in a separate aggregation and join the results")
                raise AnalysisException(msg)
        inner_keys = tuple(strip_alias(k) for k in inner_named)
        inner = Aggregate(inner_keys, tuple(inner_named + partials), node.child)
        outer_keys = tuple(to_attribute(k) for k in named_keys)
        key_swap = {strip_alias(k): a for k, a in zip(named_keys, outer_keys, strict=True)}

        def swap(e: Expression) -> Expression:
            if isinstance(e, AggregateCall):
                return replacements.get(e, e)
            if not isinstance(e, Alias | AttributeReference) and e in key_swap:
                return key_swap[e]
            return e

        outer_aggs = tuple(replace_top_down(a, swap) for a in node.aggs)
        return Aggregate(outer_keys, outer_aggs, inner)

    return plan.transform_up(rule)


def _split_by_distinct_arguments(node: Aggregate, calls: list[AggregateCall],
                                 rewrite: Callable[[LogicalPlan], LogicalPlan]) -> LogicalPlan:
    """Several DISTINCT argument sets: one aggregation per set (and one for the plain
    aggregates), each rewritten as above, joined on the grouping keys (nulls equal)."""
    groups: dict[tuple, list[AggregateCall]] = {}
    for c in dict.fromkeys(calls):
        groups.setdefault(c.args if c.distinct else (), []).append(c)
    parts: list[LogicalPlan] = []
    key_attrs: list[list[AttributeReference]] = []
    replacements: dict[AggregateCall, Expression] = {}
    for n, group in enumerate(groups.values()):
        keys = [Alias(strip_alias(k), f"_k{i}") for i, k in enumerate(node.keys)]
        aggs = [Alias(c, f"_a{n}_{j}") for j, c in enumerate(group)]
        parts.append(rewrite(Aggregate(node.keys, tuple(keys) + tuple(aggs), node.child)))
        key_attrs.append([to_attribute(k) for k in keys])
        replacements.update((c, to_attribute(a)) for c, a in zip(group, aggs, strict=True))
    joined = parts[0]
    for attrs, part in zip(key_attrs[1:], parts[1:], strict=True):
        cond = None
        for a, b in zip(key_attrs[0], attrs, strict=True):
            eq = BinaryOp("<=>", a, b)
            cond = eq if cond is None else And(cond, eq)
        joined = Join(joined, part, "inner" if cond is not None else "cross", cond)
    key_swap = {strip_alias(k): a for k, a in zip(node.keys, key_attrs[0], strict=True)}

    def swap(e: Expression) -> Expression:
        if isinstance(e, AggregateCall):
            return replacements.get(e, e)
        if not isinstance(e, Alias | AttributeReference) and e in key_swap:
            return key_swap[e]
        if isinstance(e, AttributeReference) and e in key_swap:
            return key_swap[e]
        return e

    outputs = tuple(_named_output(a, replace_top_down(a, swap)) for a in node.aggs)
    return Project(outputs, joined)


def _named_output(original: Expression, new: Expression) -> Expression:
    """Keep the output id and name of each original column."""
    if isinstance(original, Alias):
        return Alias(strip_alias(new), original.name, original.expr_id)
    if isinstance(original, AttributeReference):
        return Alias(new, original.name, original.expr_id) if new is not original else new
    return new



def _named(e: Expression, name: str) -> Expression:
    return e if isinstance(e, Alias | AttributeReference) else Alias(e, name)
