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
    AttributeReference,
    BinaryOp,
    Call,
    Cast,
    Expression,
    Literal,
    to_attribute,
)
from ember.plan.logical import Aggregate, LogicalPlan

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
            msg = ("aggregations with DISTINCT over different columns in one groupBy are not "
                   "supported yet\n\ncompute them in separate aggregations and join the results")
            raise AnalysisException(msg)
        dargs = next(iter(arg_sets))
        named_keys = [_named(k, k.sql()) for k in node.keys]
        key_by_expr = {_strip(k): k for k in named_keys}
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
        inner_keys = tuple(_strip(k) for k in inner_named)
        inner = Aggregate(inner_keys, tuple(inner_named + partials), node.child)
        outer_keys = tuple(to_attribute(k) for k in named_keys)
        key_swap = {_strip(k): a for k, a in zip(named_keys, outer_keys, strict=True)}

        def swap(e: Expression) -> Expression:
            if isinstance(e, AggregateCall):
                return replacements.get(e, e)
            if not isinstance(e, Alias | AttributeReference) and e in key_swap:
                return key_swap[e]
            return e

        outer_aggs = tuple(_swap_top_down(a, swap) for a in node.aggs)
        return Aggregate(outer_keys, outer_aggs, inner)

    return plan.transform_up(rule)


def _strip(e: Expression) -> Expression:
    return e.child if isinstance(e, Alias) else e


def _named(e: Expression, name: str) -> Expression:
    return e if isinstance(e, Alias | AttributeReference) else Alias(e, name)


def _swap_top_down(e: Expression, fn: Callable[[Expression], Expression]) -> Expression:
    new = fn(e)
    if new is not e:
        return new
    return e.map_children(lambda c: _swap_top_down(c, fn))
