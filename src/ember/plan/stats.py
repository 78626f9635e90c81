"""Size estimates of logical plans, as Spark's statistics without cost-based optimisation.

Only used to choose broadcast joins, so an estimate errs on the large side.
"""

from __future__ import annotations

import pyarrow as pa

from ember.plan.logical import (
    Aggregate,
    CachedRelation,
    FileRelation,
    Filter,
    Join,
    Limit,
    LocalRelation,
    LogicalPlan,
    Project,
    Range,
    Repartition,
    Sort,
    SubqueryAlias,
    Union,
)


def type_width(t: pa.DataType) -> int:
    """Spark's default size of a value of this type (strings count 20 bytes)."""
    if pa.types.is_boolean(t) or pa.types.is_int8(t):
        return 1
    if pa.types.is_int16(t):
        return 2
    if pa.types.is_int32(t) or pa.types.is_float32(t) or pa.types.is_date(t):
        return 4
    if pa.types.is_int64(t) or pa.types.is_float64(t) or pa.types.is_timestamp(t):
        return 8
    if pa.types.is_decimal(t):
        return 16
    return 20


def row_width(plan: LogicalPlan) -> int:
    return 8 + sum(type_width(a.dtype) for a in plan.output)


def size_in_bytes(plan: LogicalPlan) -> int:
    from ember.plan.generate import Generate

    if isinstance(plan, LocalRelation):
        return max(1, plan.size_in_bytes)
    if isinstance(plan, Range):
        return max(1, plan.num_rows * 8)
    if isinstance(plan, FileRelation):
        full = sum(type_width(a.dtype) for a in plan.attrs) or 1
        used = sum(type_width(a.dtype) for a in plan.output)
        return max(1, plan.size_in_bytes * used // full)
    if isinstance(plan, Project):
        child = plan.child
        return max(1, size_in_bytes(child) * row_width(plan) // row_width(child))
    from ember.plan.sample import Sample

    if isinstance(plan, Sample):
        return max(1, int(size_in_bytes(plan.child) * max(plan.upper - plan.lower, 0.0)))
    if isinstance(plan, Generate):
        return size_in_bytes(plan.child) * 10
    if isinstance(plan, Filter | Sort | SubqueryAlias | Repartition | Aggregate):
        return size_in_bytes(plan.children[0])
    if isinstance(plan, Limit):
        return min(size_in_bytes(plan.child), plan.n * row_width(plan))
    if isinstance(plan, Union):
        return sum(size_in_bytes(c) for c in plan.inputs)
    if isinstance(plan, CachedRelation):
        # What the cached plan was estimated at (Spark uses the stored size once it is known);
        # without lineage (a local checkpoint) the size is unknown.
        lineage = plan.data.lineage
        return 1 << 62 if lineage is None else size_in_bytes(lineage)
    if isinstance(plan, Join):
        if plan.how in {"left_semi", "left_anti"}:
            return size_in_bytes(plan.left)
        return size_in_bytes(plan.left) * size_in_bytes(plan.right)
    return 1 << 62
