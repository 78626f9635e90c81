"""Window functions: ``row_number().over(w)``, ``sum(x).over(w)``, ``lag(x).over(w)``...

As in Spark, a projection that holds window expressions becomes a ``Window`` node below the
projection. The node computes the window columns next to its child's columns, and the projection
refers to them by attribute, so a window expression can sit inside any other expression
(``sum(x).over(w) / 2``). Window expressions with the same partitioning and ordering share one
``Window`` node; each node shuffles its input on the partition keys.

Frames follow Spark's defaults: ranking functions use ``ROWS BETWEEN UNBOUNDED PRECEDING AND
CURRENT ROW`` (``cume_dist`` the same with ``RANGE``), ``lag``/``lead`` a one-row frame at their
offset, and aggregates ``RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` when the window is
ordered (ties share the running value) or the whole partition when it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan import aggregates
from ember.plan.expressions import (
    AggregateCall,
    Alias,
    AttributeReference,
    Expression,
    Literal,
    SortOrder,
    UnresolvedFunction,
    to_attribute,
)
from ember.plan.logical import LogicalPlan, Project, expr_string
from ember.plan.typesys import is_numeric, type_sql

# Ranking functions: no arguments but ntile's bucket count, and an ordered window.
RANKING = ("row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile")
OFFSET = ("lag", "lead")
WINDOW_FUNCTIONS = RANKING + OFFSET

# Aggregates the window operator computes over any frame; every other aggregate is computed
# once per window partition, so it needs a frame covering the whole partition.
FRAME_AGGREGATES = frozenset({"count", "sum", "avg", "min", "max", "first", "last",
                              "first_ignore_nulls", "last_ignore_nulls"})

_UPPER_CASE_SQL = {"rank", "dense_rank", "percent_rank"}


# ---------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class WindowFrame:
    """``ROWS`` or ``RANGE`` between two bounds.

    A bound is ``None`` for unbounded (preceding for ``lower``, following for ``upper``), ``0``
    for the current row (its peers, for ``RANGE``), or an offset: negative values precede.
    """

    kind: str  # "rows" or "range"
    lower: int | float | None
    upper: int | float | None

    @property
    def is_rows(self) -> bool:
        return self.kind == "rows"

    def covers_partition(self, *, ordered: bool) -> bool:
        """True if every row's frame is its whole window partition."""
        if self.lower is None and self.upper is None:
            return True
        # Without an ORDER BY every row of the partition is a peer of every other.
        return (not self.is_rows and not ordered and self.lower in (None, 0)
                and self.upper in (None, 0))

    def sql(self) -> str:
        def bound(value: int | float | None, unbounded: str) -> str:
            if value is None:
                return unbounded
            if value == 0:
                return "CURRENT ROW"
            # Spark prints an offset literal as it is: rowsBetween(-1, 1) reads
            # "-1 FOLLOWING AND 1 FOLLOWING".
            return f"{value} FOLLOWING"

        lower = bound(self.lower, "UNBOUNDED PRECEDING")
        upper = bound(self.upper, "UNBOUNDED FOLLOWING")
        return f"{'ROWS' if self.is_rows else 'RANGE'} BETWEEN {lower} AND {upper}"


ROWS_TO_CURRENT = WindowFrame("rows", None, 0)
RANGE_TO_CURRENT = WindowFrame("range", None, 0)
WHOLE_PARTITION = WindowFrame("rows", None, None)


@dataclass(frozen=True)
class WindowSpecDefinition(Expression):
    """``PARTITION BY ... ORDER BY ... frame``; ``frame`` is None until the analyzer picks the
    function's default."""

    partition: tuple[Expression, ...]
    orders: tuple[SortOrder, ...]
    frame: WindowFrame | None = None

    @property
    def foldable(self) -> bool:
        return False

    @property
    def dtype(self) -> pa.DataType:
        return pa.null()

    def sql(self) -> str:
        parts = []
        if self.partition:
            parts.append("PARTITION BY " + ", ".join(p.sql() for p in self.partition))
        if self.orders:
            parts.append("ORDER BY " + ", ".join(o.sql() for o in self.orders))
        if self.frame is not None:
            parts.append(self.frame.sql())
        return "(" + " ".join(parts) + ")"


@dataclass(frozen=True)
class WindowFunction(Expression):
    """A function that only has a meaning over a window: ranking functions and ``lag``/``lead``
    (arguments ``(input, offset, default)``). Before analysis it also stands for an aggregate
    used with ``over()``, which the analyzer turns into an ``AggregateCall``."""

    name: str
    args: tuple[Expression, ...] = ()

    @property
    def dtype(self) -> pa.DataType:
        if self.name in ("percent_rank", "cume_dist"):
            return pa.float64()
        if self.name in RANKING:
            return pa.int32()
        if self.name in OFFSET:
            return self.args[0].dtype
        return aggregates.lookup(self.name).result_type([a.dtype for a in self.args])

    @property
    def nullable(self) -> bool:
        return self.name not in RANKING

    @property
    def foldable(self) -> bool:
        return False

    @property
    def deterministic(self) -> bool:
        return False

    def sql(self) -> str:
        if self.name in _UPPER_CASE_SQL:
            return f"{self.name.upper()}()"
        texts = [a.sql() for a in self.args]
        if self.name not in WINDOW_FUNCTIONS and aggregates.exists(self.name):
            return aggregates.lookup(self.name).call_sql(texts)
        return f"{self.name}({', '.join(texts)})"


@dataclass(frozen=True)
class WindowExpression(Expression):
    """``function OVER (spec)``."""

    function: Expression
    spec: WindowSpecDefinition

    @property
    def dtype(self) -> pa.DataType:
        return self.function.dtype

    @property
    def nullable(self) -> bool:
        return self.function.nullable

    @property
    def foldable(self) -> bool:
        return False

    @property
    def deterministic(self) -> bool:
        return False

    def sql(self) -> str:
        return f"{self.function.sql()} OVER {self.spec.sql()}"


def over(function: Expression, spec: WindowSpecDefinition) -> WindowExpression:
    """``function OVER spec``: ``function`` is a window function or an aggregate."""
    if isinstance(function, WindowFunction):
        return WindowExpression(function, spec)
    if isinstance(function, UnresolvedFunction) and function.name.lower() in WINDOW_FUNCTIONS:
        # SQL's ``row_number() OVER (...)`` names the function instead of building it.
        name, args = function.name.lower(), function.args
        if name in OFFSET:  # lag(x[, offset[, default]])
            defaults = (Literal(1, pa.int32()), Literal(None, pa.null()))
            args = args + defaults[len(args) - 1:] if 1 <= len(args) <= 3 else args
        return WindowExpression(WindowFunction(name, args), spec)
    if isinstance(function, UnresolvedFunction | AggregateCall) and aggregates.exists(function.name):
        if function.distinct:
            msg = (f"distinct window functions are not supported: {function.sql()}\n\n"
                   "aggregate the distinct values with groupBy() and join them back")
            raise AnalysisException(msg)
        return WindowExpression(WindowFunction(function.name.lower(), function.args), spec)
    msg = (f"over() applies to a window function or an aggregate, not to {function.sql()}\n\n"
           "use a window function such as row_number(), rank() or lag(), or an aggregate "
           "such as sum() or count(), e.g. F.sum('x').over(w)")
    raise AnalysisException(msg)


# ---------------------------------------------------------------------------------------------
# The logical node


@dataclass(frozen=True, eq=False)
class Window(LogicalPlan):
    """The child's rows plus one column per window expression (``Alias`` of a resolved
    ``WindowExpression``), all with the same partition keys and ordering."""

    window_exprs: tuple[Expression, ...]
    partition: tuple[Expression, ...]
    orders: tuple[SortOrder, ...]
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output + [to_attribute(e) for e in self.window_exprs]

    def simple_string(self) -> str:
        return window_string(self.window_exprs, self.partition, self.orders)


def window_string(window_exprs: Sequence[Expression], partition: Sequence[Expression],
                  orders: Sequence[SortOrder]) -> str:
    """How plans print a window node, logical or physical, in Spark's shape."""
    def listed(exprs: Sequence[Expression]) -> str:
        return "[" + ", ".join(expr_string(e) for e in exprs) + "]"

    return f"Window {listed(window_exprs)}, {listed(partition)}, {listed(orders)}"


# ---------------------------------------------------------------------------------------------
# Projections with window expressions


def plan_project(exprs: Sequence[Expression], child: LogicalPlan) -> LogicalPlan:
    """A projection of ``exprs`` over ``child``: ``Project(Window(child))`` when some expressions
    are window expressions, a plain ``Project`` otherwise."""
    exprs = tuple(exprs)
    _reject_bare_window_functions(exprs)
    if not any(isinstance(x, WindowExpression) for e in exprs for x in e.walk()):
        return Project(exprs, child)
    if not _plan_resolved(child):
        # The parsed plan: as in Spark, the Window node appears with analysis.
        return Project(exprs, child)
    inputs = child.output
    named: list[Alias] = []

    def window_attr(expr: WindowExpression, alias: Alias | None = None) -> AttributeReference:
        resolved = resolve_window_expression(expr, inputs)
        if alias is None:
            for existing in named:
                if existing.child == resolved:
                    return existing.to_attribute()
            new = Alias(resolved, resolved.sql())
        else:
            new = Alias(resolved, alias.name, alias.expr_id)
        named.append(new)
        return new.to_attribute()

    projected: list[Expression] = []
    for e in exprs:
        if isinstance(e, Alias) and isinstance(e.child, WindowExpression):
            projected.append(window_attr(e.child, e))
        else:
            projected.append(_replace_windows(e, window_attr))
    plan = child
    for (partition, orders), members in _group_by_spec(named):
        plan = Window(tuple(members), partition, orders, plan)
    return Project(tuple(projected), plan)


def _plan_resolved(plan: LogicalPlan) -> bool:
    return all(e.resolved for node in plan.walk() for e in node.expressions())


def _replace_windows(e: Expression,
                     fn: Callable[[WindowExpression], Expression]) -> Expression:
    if isinstance(e, WindowExpression):
        return fn(e)
    return e.map_children(lambda c: _replace_windows(c, fn))


def _reject_bare_window_functions(exprs: Sequence[Expression]) -> None:
    def check(e: Expression) -> None:
        if isinstance(e, WindowExpression):
            return
        if isinstance(e, WindowFunction):
            msg = (f"{e.sql()} is a window function and needs a window\n\n"
                   f"call it with .over(...), e.g. F.{e.name}().over(Window.partitionBy('k')"
                   ".orderBy('v'))")
            raise AnalysisException(msg)
        for c in e.children:
            check(c)

    for e in exprs:
        check(e)


SpecKey = tuple[tuple[Expression, ...], tuple[SortOrder, ...]]


def _group_by_spec(named: list[Alias]) -> list[tuple[SpecKey, list[Alias]]]:
    groups: list[tuple[SpecKey, list[Alias]]] = []
    for alias in named:
        spec = alias.child.spec  # type: ignore[attr-defined]
        key = (spec.partition, spec.orders)
        for existing, members in groups:
            if existing == key:
                members.append(alias)
                break
        else:
            groups.append((key, [alias]))
    return groups


# ---------------------------------------------------------------------------------------------
# Resolution


def resolve_window_expression(expr: WindowExpression,
                              inputs: list[AttributeReference]) -> WindowExpression:
    """Resolve the function, partition keys and ordering of ``expr`` against ``inputs``, and fill
    in the frame Spark gives the function by default."""
    from ember.plan.analyzer import resolve

    spec = expr.spec
    partition = tuple(resolve(p, inputs) for p in spec.partition)
    orders = tuple(resolve(o, inputs) for o in spec.orders)
    for e in partition + orders:
        _reject_nested(e, expr)
    function = _resolve_function(expr.function, inputs)
    frame = _frame_for(function, spec.frame, orders)
    return WindowExpression(function, WindowSpecDefinition(partition, orders, frame))  # type: ignore[arg-type]


def _reject_nested(e: Expression, outer: WindowExpression) -> None:
    for x in e.walk():
        if isinstance(x, WindowExpression | WindowFunction):
            msg = (f"a window function cannot be used inside another window expression: "
                   f"{x.sql()} in {outer.sql()}\n\ncompute the inner one in a select() first")
            raise AnalysisException(msg)
        if isinstance(x, AggregateCall | UnresolvedFunction) and aggregates.exists(x.name):
            msg = (f"an aggregate cannot be used inside a window expression: {x.sql()} in "
                   f"{outer.sql()}\n\naggregate with groupBy() first, then apply the window")
            raise AnalysisException(msg)


def _resolve_function(fn: Expression, inputs: list[AttributeReference]) -> Expression:
    from ember.plan.analyzer import cast_to, resolve

    assert isinstance(fn, WindowFunction)
    name = fn.name
    if name in RANKING:
        if name == "ntile":
            buckets = fn.args[0] if fn.args else None
            if not (isinstance(buckets, Literal) and isinstance(buckets.value, int)
                    and not isinstance(buckets.value, bool) and buckets.value > 0):
                shown = buckets.sql() if buckets is not None else "nothing"
                msg = (f"ntile() needs a positive integer number of buckets, got {shown}\n\n"
                       "pass a number, e.g. F.ntile(4)")
                raise AnalysisException(msg)
        return fn
    if name in OFFSET:
        value, offset, default = fn.args
        value = resolve(value, inputs)
        default = resolve(default, inputs)
        for e in (value, default):
            _reject_nested(e, WindowExpression(fn, WindowSpecDefinition((), ())))
        return WindowFunction(name, (value, offset, cast_to(default, value.dtype)))
    if aggregates.exists(name):
        call = resolve(UnresolvedFunction(name, fn.args), inputs)
        assert isinstance(call, AggregateCall)
        for a in call.args:
            _reject_nested(a, WindowExpression(fn, WindowSpecDefinition((), ())))
        return call
    msg = (f"{name}() is neither a window function nor an aggregate\n\n"
           f"window functions are {', '.join(WINDOW_FUNCTIONS)}")
    raise AnalysisException(msg)


def _frame_for(fn: Expression, frame: WindowFrame | None,
               orders: tuple[SortOrder, ...]) -> WindowFrame:
    if isinstance(fn, WindowFunction):
        if not orders:
            msg = (f"window function {fn.sql()} requires the window to be ordered\n\n"
                   "add an ordering, e.g. Window.partitionBy('k').orderBy('v')")
            raise AnalysisException(msg)
        required = _required_frame(fn)
        if frame is not None and frame != required:
            msg = (f"{fn.sql()} has a fixed window frame, {required.sql()}, but the window "
                   f"specifies {frame.sql()}\n\ndrop rowsBetween()/rangeBetween() from this "
                   "window")
            raise AnalysisException(msg)
        return required
    assert isinstance(fn, AggregateCall)
    if frame is None:
        frame = RANGE_TO_CURRENT if orders else WHOLE_PARTITION
    if not frame.is_rows and _has_offset(frame):
        _check_range_offsets(frame, orders)
    base = aggregates.lookup(fn.name).name
    if base not in FRAME_AGGREGATES and not frame.covers_partition(ordered=bool(orders)):
        msg = (f"{fn.sql()} over a window is computed once per window partition, so its frame "
               f"must cover the whole partition, not {frame.sql()}\n\n"
               "drop the orderBy() or use rowsBetween(Window.unboundedPreceding, "
               "Window.unboundedFollowing)")
        raise AnalysisException(msg)
    return frame


def _required_frame(fn: WindowFunction) -> WindowFrame:
    if fn.name == "cume_dist":
        return RANGE_TO_CURRENT
    if fn.name in OFFSET:
        offset = fn.args[1]
        assert isinstance(offset, Literal)
        k = -offset.value if fn.name == "lag" else offset.value
        return WindowFrame("rows", k, k)
    return ROWS_TO_CURRENT


def _has_offset(frame: WindowFrame) -> bool:
    return frame.lower not in (None, 0) or frame.upper not in (None, 0)


def _check_range_offsets(frame: WindowFrame, orders: tuple[SortOrder, ...]) -> None:
    if len(orders) != 1:
        msg = (f"a range frame with offsets ({frame.sql()}) needs exactly one ordering "
               f"expression, got {len(orders)}\n\norder the window by one numeric column, or "
               "use rowsBetween()")
        raise AnalysisException(msg)
    t = orders[0].child.dtype
    if not is_numeric(t):
        msg = (f"a range frame with offsets ({frame.sql()}) needs a numeric ordering, but "
               f"{orders[0].child.sql()} is {type_sql(t)}\n\norder by a number, or use "
               "rowsBetween()")
        raise AnalysisException(msg)
