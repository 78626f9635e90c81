"""Expression trees of the logical plan.

Expressions are frozen dataclasses. Resolved expressions carry Arrow types: the engine is Arrow
native and Spark types appear only at the API surface (``ember.sql.types``).

Every attribute has a unique ``expr_id``, as in Spark, so that two columns named ``id`` coming from
the two sides of a join stay distinct. In record batches a column is named ``name#id``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pyarrow as pa

_ids = itertools.count(1)


def new_expr_id() -> int:
    return next(_ids)


class Expression:
    """Base of all expressions. Subclasses are frozen dataclasses."""

    @property
    def children(self) -> tuple[Expression, ...]:
        out: list[Expression] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Expression):
                out.append(value)
            elif isinstance(value, tuple):
                out.extend(_flatten_exprs(value))
        return tuple(out)

    def map_children(self, fn: Callable[[Expression], Expression]) -> Expression:
        changes: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Expression):
                new = fn(value)
                if new is not value:
                    changes[f.name] = new
            elif isinstance(value, tuple) and _flatten_exprs(value):
                new_t = _map_tuple(value, fn)
                if new_t != value:
                    changes[f.name] = new_t
        return replace(self, **changes) if changes else self  # type: ignore[type-var]

    def transform_up(self, fn: Callable[[Expression], Expression]) -> Expression:
        return fn(self.map_children(lambda c: c.transform_up(fn)))

    def transform_down(self, fn: Callable[[Expression], Expression]) -> Expression:
        return fn(self).map_children(lambda c: c.transform_down(fn))

    def walk(self) -> Iterator[Expression]:
        yield self
        for c in self.children:
            yield from c.walk()

    def references(self) -> set[int]:
        return {e.expr_id for e in self.walk() if isinstance(e, AttributeReference)}

    @property
    def resolved(self) -> bool:
        return all(c.resolved for c in self.children)

    @property
    def dtype(self) -> pa.DataType:
        raise NotImplementedError(type(self).__name__)

    @property
    def nullable(self) -> bool:
        return any(c.nullable for c in self.children)

    @property
    def foldable(self) -> bool:
        return bool(self.children) and all(c.foldable for c in self.children)

    @property
    def deterministic(self) -> bool:
        return all(c.deterministic for c in self.children)

    def sql(self) -> str:
        """The text Spark uses for this expression in column names and plans."""
        raise NotImplementedError(type(self).__name__)

    def __str__(self) -> str:
        return self.sql()


def _flatten_exprs(value: tuple) -> list[Expression]:
    out: list[Expression] = []
    for item in value:
        if isinstance(item, Expression):
            out.append(item)
        elif isinstance(item, tuple):
            out.extend(_flatten_exprs(item))
    return out


def _map_tuple(value: tuple, fn: Callable[[Expression], Expression]) -> tuple:
    return tuple(
        fn(v) if isinstance(v, Expression) else _map_tuple(v, fn) if isinstance(v, tuple) else v
        for v in value
    )


# ---------------------------------------------------------------------------------------------
# Leaves


@dataclass(frozen=True)
class UnresolvedAttribute(Expression):
    """A column named by the user, resolved by the analyzer: ``col("a")`` or ``col("t.a")``."""

    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.parts)

    @property
    def resolved(self) -> bool:
        return False

    @property
    def nullable(self) -> bool:
        return True

    def sql(self) -> str:
        return self.name


@dataclass(frozen=True)
class UnresolvedStar(Expression):
    """``*`` or ``t.*`` in a projection."""

    qualifier: str | None = None

    @property
    def resolved(self) -> bool:
        return False

    def sql(self) -> str:
        return f"{self.qualifier}.*" if self.qualifier else "*"


@dataclass(frozen=True)
class AttributeReference(Expression):
    """A resolved column: a name, a type and a unique id."""

    name: str
    data_type: pa.DataType
    is_nullable: bool = True
    expr_id: int = field(default_factory=new_expr_id)
    qualifier: str | None = None

    @property
    def dtype(self) -> pa.DataType:
        return self.data_type

    @property
    def nullable(self) -> bool:
        return self.is_nullable

    @property
    def foldable(self) -> bool:
        return False

    @property
    def key(self) -> str:
        """The column's name inside record batches."""
        return f"{self.name}#{self.expr_id}"

    def with_qualifier(self, qualifier: str | None) -> AttributeReference:
        return replace(self, qualifier=qualifier)

    def with_name(self, name: str) -> AttributeReference:
        return replace(self, name=name)

    def sql(self) -> str:
        return self.name

    def __hash__(self) -> int:
        return hash(self.expr_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AttributeReference) and other.expr_id == self.expr_id


@dataclass(frozen=True)
class Literal(Expression):
    value: Any
    data_type: pa.DataType

    @property
    def dtype(self) -> pa.DataType:
        return self.data_type

    @property
    def nullable(self) -> bool:
        return self.value is None

    @property
    def foldable(self) -> bool:
        return True

    def sql(self) -> str:
        if self.value is None:
            return "NULL"
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, float):
            from ember.exec.java_format import format_double

            return format_double(self.value)
        return str(self.value)


def literal(value: Any) -> Literal:
    """A literal with Spark's inferred type (int -> int32 if it fits, as Spark's ``lit``)."""
    import datetime
    import decimal

    if value is None:
        return Literal(None, pa.null())
    if isinstance(value, bool):
        return Literal(value, pa.bool_())
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return Literal(value, pa.int32())
        return Literal(value, pa.int64())
    if isinstance(value, float):
        return Literal(value, pa.float64())
    if isinstance(value, str):
        return Literal(value, pa.string())
    if isinstance(value, datetime.datetime):
        return Literal(value, pa.timestamp("us"))
    if isinstance(value, datetime.date):
        return Literal(value, pa.date32())
    if isinstance(value, decimal.Decimal):
        t = pa.scalar(value).type
        return Literal(value, t)
    if isinstance(value, bytes | bytearray):
        return Literal(bytes(value), pa.binary())
    msg = f"unsupported literal {value!r} of type {type(value).__name__}"
    raise TypeError(msg)


# ---------------------------------------------------------------------------------------------
# Naming


@dataclass(frozen=True)
class Alias(Expression):
    child: Expression
    name: str
    expr_id: int = field(default_factory=new_expr_id)

    @property
    def dtype(self) -> pa.DataType:
        return self.child.dtype

    @property
    def nullable(self) -> bool:
        return self.child.nullable

    @property
    def foldable(self) -> bool:
        return False

    def to_attribute(self) -> AttributeReference:
        return AttributeReference(self.name, self.child.dtype, self.child.nullable, self.expr_id)

    def sql(self) -> str:
        return f"{self.child.sql()} AS {self.name}"


def output_name(expr: Expression) -> str:
    """The column name Spark gives to a projected expression."""
    if isinstance(expr, Alias | AttributeReference):
        return expr.name
    if isinstance(expr, UnresolvedAttribute):
        return expr.parts[-1]
    return expr.sql()


def to_attribute(expr: Expression) -> AttributeReference:
    if isinstance(expr, AttributeReference):
        return expr
    if isinstance(expr, Alias):
        return expr.to_attribute()
    msg = f"expression {expr.sql()} has no name; give it one with .alias()"
    raise TypeError(msg)


# ---------------------------------------------------------------------------------------------
# Operators

ARITHMETIC = {"+", "-", "*", "/", "%", "div"}
COMPARISON = {"=", "!=", "<", "<=", ">", ">=", "<=>"}


@dataclass(frozen=True)
class BinaryOp(Expression):
    """Arithmetic and comparison operators; the analyzer inserts casts so both sides agree."""

    op: str
    left: Expression
    right: Expression

    @property
    def dtype(self) -> pa.DataType:
        if self.op in COMPARISON:
            return pa.bool_()
        if self.op == "/":
            if pa.types.is_decimal(self.left.dtype):
                return self.left.dtype
            return pa.float64()
        if self.op == "div":
            return pa.int64()
        return self.left.dtype

    @property
    def nullable(self) -> bool:
        if self.op == "<=>":
            return False
        if self.op in {"/", "%", "div"}:
            return True
        return self.left.nullable or self.right.nullable

    def sql(self) -> str:
        return f"({self.left.sql()} {self.op} {self.right.sql()})"


@dataclass(frozen=True)
class And(Expression):
    left: Expression
    right: Expression

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    def sql(self) -> str:
        return f"({self.left.sql()} AND {self.right.sql()})"


@dataclass(frozen=True)
class Or(Expression):
    left: Expression
    right: Expression

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    def sql(self) -> str:
        return f"({self.left.sql()} OR {self.right.sql()})"


@dataclass(frozen=True)
class Not(Expression):
    child: Expression

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    def sql(self) -> str:
        return f"(NOT {self.child.sql()})"


@dataclass(frozen=True)
class Negative(Expression):
    child: Expression

    @property
    def dtype(self) -> pa.DataType:
        return self.child.dtype

    def sql(self) -> str:
        return f"(- {self.child.sql()})"


@dataclass(frozen=True)
class IsNull(Expression):
    child: Expression

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    @property
    def nullable(self) -> bool:
        return False

    def sql(self) -> str:
        return f"({self.child.sql()} IS NULL)"


@dataclass(frozen=True)
class IsNotNull(Expression):
    child: Expression

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    @property
    def nullable(self) -> bool:
        return False

    def sql(self) -> str:
        return f"({self.child.sql()} IS NOT NULL)"


@dataclass(frozen=True)
class Cast(Expression):
    child: Expression
    to: pa.DataType

    @property
    def dtype(self) -> pa.DataType:
        return self.to

    @property
    def nullable(self) -> bool:
        return True

    def sql(self) -> str:
        from ember.plan.typesys import type_sql

        return f"CAST({self.child.sql()} AS {type_sql(self.to).upper()})"


@dataclass(frozen=True)
class In(Expression):
    child: Expression
    values: tuple[Expression, ...]

    @property
    def dtype(self) -> pa.DataType:
        return pa.bool_()

    def sql(self) -> str:
        return f"({self.child.sql()} IN ({', '.join(v.sql() for v in self.values)}))"


@dataclass(frozen=True)
class CaseWhen(Expression):
    branches: tuple[tuple[Expression, Expression], ...]
    otherwise: Expression | None = None

    @property
    def dtype(self) -> pa.DataType:
        for _, value in self.branches:
            if not pa.types.is_null(value.dtype):
                return value.dtype
        return self.otherwise.dtype if self.otherwise is not None else pa.null()

    @property
    def nullable(self) -> bool:
        return True

    def sql(self) -> str:
        parts = ["CASE"]
        for cond, value in self.branches:
            parts.append(f"WHEN {cond.sql()} THEN {value.sql()}")
        if self.otherwise is not None:
            parts.append(f"ELSE {self.otherwise.sql()}")
        parts.append("END")
        return " ".join(parts)


@dataclass(frozen=True)
class Call(Expression):
    """A scalar function from the registry in ``ember.plan.functions``."""

    name: str
    args: tuple[Expression, ...]

    @property
    def dtype(self) -> pa.DataType:
        from ember.plan import functions

        return functions.lookup(self.name).result_type([a.dtype for a in self.args])

    @property
    def nullable(self) -> bool:
        from ember.plan import functions

        spec = functions.lookup(self.name)
        if spec.nullable is not None:
            return spec.nullable([a.nullable for a in self.args])
        return True

    @property
    def foldable(self) -> bool:
        from ember.plan import functions

        return functions.lookup(self.name).deterministic and super().foldable

    @property
    def deterministic(self) -> bool:
        from ember.plan import functions

        return functions.lookup(self.name).deterministic and super().deterministic

    def sql(self) -> str:
        return _call_sql(self.name, self.args, distinct=False)


@dataclass(frozen=True)
class UnresolvedFunction(Expression):
    """A function call by name, resolved to ``Call`` or ``AggregateCall`` by the analyzer."""

    name: str
    args: tuple[Expression, ...]
    distinct: bool = False

    @property
    def resolved(self) -> bool:
        return False

    def sql(self) -> str:
        return _call_sql(self.name, self.args, distinct=self.distinct)


def _call_sql(name: str, args: tuple[Expression, ...], *, distinct: bool) -> str:
    """A function call's text as Spark writes it: the registries know the functions whose text
    is not ``name(args)`` (``SQRT(x)``, ``first(x)`` without its ignore-nulls flag)."""
    from ember.plan import aggregates, functions

    texts = [a.sql() for a in args]
    if not distinct:
        if functions.exists(name):
            return functions.lookup(name).call_sql(texts)
        if aggregates.exists(name):
            return aggregates.lookup(name).call_sql(texts)
    d = "DISTINCT " if distinct else ""
    return f"{name}({d}{', '.join(texts)})"


@dataclass(frozen=True)
class AggregateCall(Expression):
    """An aggregate function: ``count``, ``sum``, ``avg``, ``min``, ``max``..."""

    name: str
    args: tuple[Expression, ...]
    distinct: bool = False

    @property
    def dtype(self) -> pa.DataType:
        from ember.plan import aggregates

        return aggregates.lookup(self.name).result_type([a.dtype for a in self.args])

    @property
    def nullable(self) -> bool:
        return self.name not in {"count"}

    @property
    def foldable(self) -> bool:
        return False

    def sql(self) -> str:
        return _call_sql(self.name, self.args, distinct=self.distinct)


@dataclass(frozen=True)
class SortOrder(Expression):
    child: Expression
    ascending: bool = True
    nulls_first: bool | None = None

    @property
    def effective_nulls_first(self) -> bool:
        # Spark: nulls first for ascending, last for descending, unless told otherwise.
        return self.ascending if self.nulls_first is None else self.nulls_first

    @property
    def dtype(self) -> pa.DataType:
        return self.child.dtype

    def sql(self) -> str:
        direction = "ASC" if self.ascending else "DESC"
        nulls = "NULLS FIRST" if self.effective_nulls_first else "NULLS LAST"
        return f"{self.child.sql()} {direction} {nulls}"


def split_conjuncts(expr: Expression) -> list[Expression]:
    if isinstance(expr, And):
        return split_conjuncts(expr.left) + split_conjuncts(expr.right)
    return [expr]


def conjoin(exprs: list[Expression]) -> Expression | None:
    if not exprs:
        return None
    out = exprs[0]
    for e in exprs[1:]:
        out = And(out, e)
    return out


def strip_alias(expr: Expression) -> Expression:
    return expr.child if isinstance(expr, Alias) else expr


def replace_top_down(expr: Expression, fn: Callable[[Expression], Expression]) -> Expression:
    """Apply ``fn`` from the root down; where it replaces a node, keep the replacement whole
    instead of descending into it."""
    new = fn(expr)
    if new is not expr:
        return new
    return expr.map_children(lambda c: replace_top_down(c, fn))
