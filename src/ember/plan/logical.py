"""Logical plan nodes: frozen dataclasses whose output attributes are computed, not stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pyarrow as pa

from ember.plan.expressions import (
    AttributeReference,
    Expression,
    SortOrder,
    new_expr_id,
    to_attribute,
)


def attr_string(a: AttributeReference) -> str:
    suffix = "L" if pa.types.is_int64(a.dtype) else ""
    return f"{a.name}#{a.expr_id}{suffix}"


def expr_string(e: Expression) -> str:
    """An expression as Spark prints it inside plans: attributes carry their ids, and
    unresolved names and functions are marked with a quote (``'x``)."""
    from ember.plan.expressions import Alias, UnresolvedAttribute, UnresolvedFunction

    if not e.resolved and not isinstance(e, Alias):  # an alias marks its child itself
        def mark(x: Expression) -> Expression:
            if isinstance(x, UnresolvedAttribute):
                return UnresolvedAttribute(("'" + x.parts[0], *x.parts[1:]))
            if isinstance(x, UnresolvedFunction):
                return UnresolvedFunction("'" + x.name, x.args, x.distinct)
            return x

        e = e.transform_up(mark)
    if isinstance(e, AttributeReference):
        return attr_string(e)
    if isinstance(e, Alias):
        # Spark marks a bigint alias like a bigint attribute (``AS n#3L``); the parsed plan's
        # aliases have no type yet.
        suffix = "L" if e.resolved and pa.types.is_int64(e.dtype) else ""
        return f"{expr_string(e.child)} AS {e.name}#{e.expr_id}{suffix}"
    # Rename each attribute to its printed form, so that two columns of the same name (a
    # self-join) keep their own ids, and a string literal equal to a column name stays as it is.
    # The stand-in gets an id of its own: attributes compare by id, and a tuple of arguments
    # whose members all compare equal would keep the old names.
    def printed(x: Expression) -> Expression:
        if isinstance(x, AttributeReference):
            return AttributeReference(attr_string(x), x.dtype, x.nullable, -x.expr_id)
        return x

    return e.transform_up(printed).sql()


class LogicalPlan:
    @property
    def children(self) -> tuple[LogicalPlan, ...]:
        out: list[LogicalPlan] = []
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, LogicalPlan):
                out.append(v)
            elif isinstance(v, tuple) and v and isinstance(v[0], LogicalPlan):
                out.extend(v)
        return tuple(out)

    def with_children(self, children: list[LogicalPlan]) -> LogicalPlan:
        it = iter(children)
        changes: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, LogicalPlan):
                changes[f.name] = next(it)
            elif isinstance(v, tuple) and v and isinstance(v[0], LogicalPlan):
                changes[f.name] = tuple(next(it) for _ in v)
        return replace(self, **changes)  # type: ignore[type-var]

    @property
    def output(self) -> list[AttributeReference]:
        raise NotImplementedError

    def expressions(self) -> list[Expression]:
        out: list[Expression] = []
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, Expression):
                out.append(v)
            elif isinstance(v, tuple) and v and isinstance(v[0], Expression):
                out.extend(v)
        return out

    def map_expressions(self, fn: Callable[[Expression], Expression]) -> LogicalPlan:
        changes: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, Expression):
                changes[f.name] = fn(v)
            elif isinstance(v, tuple) and v and isinstance(v[0], Expression):
                changes[f.name] = tuple(fn(e) for e in v)
        return replace(self, **changes) if changes else self  # type: ignore[type-var]

    def transform_up(self, fn: Callable[[LogicalPlan], LogicalPlan]) -> LogicalPlan:
        kids = [c.transform_up(fn) for c in self.children]
        node = self.with_children(kids) if kids else self
        return fn(node)

    def transform_down(self, fn: Callable[[LogicalPlan], LogicalPlan]) -> LogicalPlan:
        node = fn(self)
        kids = [c.transform_down(fn) for c in node.children]
        return node.with_children(kids) if kids else node

    def walk(self) -> Iterator[LogicalPlan]:
        yield self
        for c in self.children:
            yield from c.walk()

    def output_set(self) -> set[int]:
        return {a.expr_id for a in self.output}

    def simple_string(self) -> str:
        return type(self).__name__

    def tree_string(self, *, unresolved: bool = False) -> str:
        lines: list[str] = []
        self._tree_lines(lines, "", "")
        return "\n".join(lines)

    def _tree_lines(self, lines: list[str], first: str, rest: str) -> None:
        unresolved = any(not e.resolved for e in self.expressions())
        lines.append(first + ("'" if unresolved else "") + self.simple_string())
        kids = self.children
        for i, c in enumerate(kids):
            last = i == len(kids) - 1
            c._tree_lines(lines, rest + "+- " if last else rest + ":- ",
                          rest + "   " if last else rest + ":  ")


def _attrs(attrs: tuple[AttributeReference, ...]) -> str:
    return "[" + ", ".join(attr_string(a) for a in attrs) + "]"


# ---------------------------------------------------------------------------------------------
# Leaves


@dataclass(frozen=True, eq=False)
class LocalRelation(LogicalPlan):
    """Data held by the driver, split into partitions. Columns are positional."""

    attrs: tuple[AttributeReference, ...]
    partitions: tuple[pa.Table, ...]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    @property
    def num_rows(self) -> int:
        return sum(t.num_rows for t in self.partitions)

    @property
    def size_in_bytes(self) -> int:
        return sum(t.nbytes for t in self.partitions)

    def simple_string(self) -> str:
        return f"LocalRelation {_attrs(self.attrs)}"


@dataclass(frozen=True, eq=False)
class Range(LogicalPlan):
    start: int
    end: int
    step: int
    num_partitions: int
    attr: AttributeReference

    @property
    def output(self) -> list[AttributeReference]:
        return [self.attr]

    @property
    def num_rows(self) -> int:
        return max(0, -(-(self.end - self.start) // self.step))

    def simple_string(self) -> str:
        return (f"Range ({self.start}, {self.end}, step={self.step}, "
                f"splits={self.num_partitions})")


@dataclass(frozen=True, eq=False)
class FileRelation(LogicalPlan):
    """Files read through pyarrow: parquet, csv or json lines.

    ``attrs`` is the full schema: the files' columns, then ``partition_names``, the columns of
    ``col=value`` directories; ``required`` (after column pruning) the columns read;
    ``pushed_filters`` the predicates handed to the pyarrow dataset scanner.
    """

    fmt: str
    paths: tuple[str, ...]
    attrs: tuple[AttributeReference, ...]
    options: tuple[tuple[str, str], ...] = ()
    required: tuple[int, ...] | None = None
    pushed_filters: tuple[Expression, ...] = ()
    size_in_bytes: int = 0
    partition_names: tuple[str, ...] = ()

    @property
    def output(self) -> list[AttributeReference]:
        if self.required is None:
            return list(self.attrs)
        return [a for a in self.attrs if a.expr_id in self.required]

    def simple_string(self) -> str:
        out = f"Relation [{', '.join(attr_string(a) for a in self.output)}] {self.fmt}"
        if self.pushed_filters:
            out += f", PushedFilters: [{', '.join(expr_string(f) for f in self.pushed_filters)}]"
        return out


@dataclass(frozen=True)
class CacheData:
    """What a `CachedRelation` reads: a cached dataset's blocks, and its lineage to recompute
    missing ones (None after ``localCheckpoint``, which cuts the lineage).

    Not a plan node, so optimizer rules never rewrite inside the cached plan."""

    cache_id: int
    level: Any  # StorageLevel
    lineage: LogicalPlan | None
    # Filled in when a job is planned: partitions and who holds each (executor id, address).
    num_partitions: int | None = None
    locations: tuple[tuple[tuple[str, str], ...], ...] = ()

    @property
    def complete(self) -> bool:
        return self.num_partitions is not None and len(self.locations) == self.num_partitions \
            and all(self.locations)


@dataclass(frozen=True, eq=False)
class CachedRelation(LogicalPlan):
    """A persisted dataset (Spark's InMemoryRelation): read from the executors' block managers,
    computed (and stored) from its lineage for partitions that no executor holds."""

    attrs: tuple[AttributeReference, ...]
    data: CacheData
    # The expr_ids of the columns read (column pruning); None reads them all. The blocks hold
    # every column, so the scan selects these right after reading, before anything carries the
    # others along.
    required: tuple[int, ...] | None = None

    @property
    def output(self) -> list[AttributeReference]:
        if self.required is None:
            return list(self.attrs)
        return [a for a in self.attrs if a.expr_id in self.required]

    def simple_string(self) -> str:
        return f"InMemoryRelation {_attrs(tuple(self.output))}, {self.data.level}"


@dataclass(frozen=True, eq=False)
class CheckpointRelation(LogicalPlan):
    """A checkpointed dataset: one Arrow IPC file per partition, written by ``checkpoint()``."""

    attrs: tuple[AttributeReference, ...]
    paths: tuple[str, ...]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def simple_string(self) -> str:
        return f"CheckpointRelation {_attrs(self.attrs)}, {len(self.paths)} partitions"


# ---------------------------------------------------------------------------------------------
# Unary


@dataclass(frozen=True, eq=False)
class Project(LogicalPlan):
    exprs: tuple[Expression, ...]
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return [to_attribute(e) for e in self.exprs]

    def simple_string(self) -> str:
        return f"Project [{', '.join(expr_string(e) for e in self.exprs)}]"


@dataclass(frozen=True, eq=False)
class Filter(LogicalPlan):
    condition: Expression
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        return f"Filter {expr_string(self.condition)}"


@dataclass(frozen=True, eq=False)
class Aggregate(LogicalPlan):
    """Group by ``keys``; ``aggs`` are the named output expressions (keys and aggregates)."""

    keys: tuple[Expression, ...]
    aggs: tuple[Expression, ...]
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return [to_attribute(e) for e in self.aggs]

    def simple_string(self) -> str:
        keys = ", ".join(expr_string(k) for k in self.keys)
        aggs = ", ".join(expr_string(a) for a in self.aggs)
        return f"Aggregate [{keys}], [{aggs}]"


@dataclass(frozen=True, eq=False)
class Sort(LogicalPlan):
    orders: tuple[SortOrder, ...]
    is_global: bool
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        return f"Sort [{', '.join(expr_string(o) for o in self.orders)}], {str(self.is_global).lower()}"


@dataclass(frozen=True, eq=False)
class Limit(LogicalPlan):
    n: int
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        return f"GlobalLimit {self.n}"


@dataclass(frozen=True, eq=False)
class SubqueryAlias(LogicalPlan):
    alias: str
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return [a.with_qualifier(self.alias) for a in self.child.output]

    def simple_string(self) -> str:
        return f"SubqueryAlias {self.alias}"


@dataclass(frozen=True, eq=False)
class Repartition(LogicalPlan):
    """``repartition(n)`` (round robin) or ``repartition(n, cols)`` (hash); ``coalesce(n)``."""

    num_partitions: int
    keys: tuple[Expression, ...]
    shuffle: bool
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        if self.keys:
            keys = ", ".join(expr_string(k) for k in self.keys)
            return f"RepartitionByExpression [{keys}], {self.num_partitions}"
        return f"Repartition {self.num_partitions}, {str(self.shuffle).lower()}"


# ---------------------------------------------------------------------------------------------
# Binary and n-ary


JOIN_TYPES = {
    "inner": "inner", "cross": "cross",
    "outer": "full", "full": "full", "fullouter": "full", "full_outer": "full",
    "left": "left", "leftouter": "left", "left_outer": "left",
    "right": "right", "rightouter": "right", "right_outer": "right",
    "semi": "left_semi", "leftsemi": "left_semi", "left_semi": "left_semi",
    "anti": "left_anti", "leftanti": "left_anti", "left_anti": "left_anti",
}

_JOIN_DISPLAY = {
    "inner": "Inner", "cross": "Cross", "full": "FullOuter", "left": "LeftOuter",
    "right": "RightOuter", "left_semi": "LeftSemi", "left_anti": "LeftAnti",
}


@dataclass(frozen=True, eq=False)
class Join(LogicalPlan):
    left: LogicalPlan
    right: LogicalPlan
    how: str
    condition: Expression | None = None

    @property
    def output(self) -> list[AttributeReference]:
        from dataclasses import replace as dc_replace

        left, right = self.left.output, self.right.output
        if self.how in {"left_semi", "left_anti"}:
            return left
        if self.how in {"right", "full"}:
            left = [dc_replace(a, is_nullable=True) for a in left]
        if self.how in {"left", "full"}:
            right = [dc_replace(a, is_nullable=True) for a in right]
        return left + right

    def simple_string(self) -> str:
        cond = f", {expr_string(self.condition)}" if self.condition is not None else ""
        return f"Join {_JOIN_DISPLAY[self.how]}{cond}"


@dataclass(frozen=True, eq=False)
class Union(LogicalPlan):
    """Positional union of children with the same number of columns (UNION ALL)."""

    inputs: tuple[LogicalPlan, ...]
    out_ids: tuple[int, ...] = field(default=())

    @property
    def output(self) -> list[AttributeReference]:
        first = self.inputs[0].output
        ids = self.out_ids or tuple(a.expr_id for a in first)
        out = []
        for i, a in enumerate(first):
            nullable = any(c.output[i].nullable for c in self.inputs)
            out.append(AttributeReference(a.name, a.dtype, nullable, ids[i]))
        return out

    def simple_string(self) -> str:
        return "Union"


def fresh_union(inputs: tuple[LogicalPlan, ...]) -> Union:
    return Union(inputs, tuple(new_expr_id() for _ in inputs[0].output))
