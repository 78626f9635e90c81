"""The analyzer: resolves names, functions and types, and inserts Spark's implicit casts.

DataFrame methods call :func:`analyze` on every new node, so an unknown column fails at the
call that names it, as in PySpark.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan import aggregates, functions
from ember.plan.expressions import (
    COMPARISON,
    AggregateCall,
    Alias,
    And,
    AttributeReference,
    BinaryOp,
    Call,
    CaseWhen,
    Cast,
    Expression,
    In,
    Literal,
    Negative,
    Not,
    Or,
    SortOrder,
    UnresolvedAttribute,
    UnresolvedFunction,
    UnresolvedStar,
    output_name,
    strip_alias,
)
from ember.plan.logical import (
    Aggregate,
    Filter,
    Join,
    LogicalPlan,
    Project,
    Repartition,
    Sort,
)
from ember.plan.typesys import (
    arithmetic_type,
    common_type,
    comparison_type,
    is_numeric,
    type_sql,
)


def analyze(plan: LogicalPlan) -> LogicalPlan:
    """Resolve every expression of ``plan`` whose children are already resolved."""
    return plan.transform_up(_resolve_node)


def _resolve_node(node: LogicalPlan) -> LogicalPlan:
    if isinstance(node, Project):
        inputs = node.child.output
        exprs = _expand_stars(node.exprs, inputs)
        resolved = tuple(_resolve_named(e, inputs) for e in exprs)
        return Project(resolved, node.child)
    if isinstance(node, Filter):
        _refuse_windows(node.condition, "filter()", "filter on the new column")
        return _with_missing_references(node, [node.condition], _build_filter)
    if isinstance(node, Aggregate):
        for e in node.aggs:
            _refuse_windows(e, "groupBy().agg()", "aggregate the new column")
        return _resolve_aggregate(node)
    if isinstance(node, Sort):
        return _with_missing_references(
            node, list(node.orders),
            lambda orders, child: Sort(tuple(orders), node.is_global, child))  # type: ignore[arg-type]
    if isinstance(node, Join):
        if node.condition is None:
            return node
        cond = resolve(node.condition, node.left.output + node.right.output)
        _require_boolean(cond, "join condition")
        return Join(node.left, node.right, node.how, cond)
    if isinstance(node, Repartition):
        keys = tuple(resolve(k, node.child.output) for k in node.keys)
        return Repartition(node.num_partitions, keys, node.shuffle, node.child)
    return node


def _build_filter(exprs: list[Expression], child: LogicalPlan) -> LogicalPlan:
    _require_boolean(exprs[0], "filter condition")
    return Filter(exprs[0], child)


def _with_missing_references(
        node: LogicalPlan, exprs: list[Expression],
        build: Callable[[list[Expression], LogicalPlan], LogicalPlan]) -> LogicalPlan:
    """Resolve a filter's or sort's expressions against its child; failing that, as Spark's
    ResolveMissingReferences, against the input of a projection below, carrying the columns
    the projection dropped through it and projecting them away again above."""
    child = node.children[0]
    try:
        return build([resolve(e, child.output) for e in exprs], child)
    except AnalysisException as error:
        if not isinstance(child, Project):
            raise
        unresolved = error
    shown = {a.name.lower() for a in child.output}
    hidden = [a for a in child.child.output
              if a.expr_id not in child.output_set() and a.name.lower() not in shown]
    try:
        resolved = [resolve(e, child.output + hidden) for e in exprs]
    except AnalysisException:
        raise unresolved from None
    used = set().union(*(e.references() for e in resolved))
    carried = Project(child.exprs + tuple(a for a in hidden if a.expr_id in used), child.child)
    return Project(tuple(child.output), build(resolved, carried))


def _refuse_windows(expr: Expression, where: str, then: str) -> None:
    from ember.plan.window import WindowExpression

    if any(isinstance(e, WindowExpression) for e in expr.walk()):
        msg = (f"a window function cannot be used inside {where}: {expr.sql()}\n\n"
               f"compute it with withColumn() or select() first, then {then}")
        raise AnalysisException(msg)


def _require_boolean(expr: Expression, what: str) -> None:
    if not pa.types.is_boolean(expr.dtype) and not pa.types.is_null(expr.dtype):
        msg = (f"the {what} {expr.sql()} has type {type_sql(expr.dtype)}, not boolean\n\n"
               "compare it with something, e.g. col('x') > 0")
        raise AnalysisException(msg)


def _named(expr: Expression) -> Expression:
    if isinstance(expr, AttributeReference | Alias):
        return expr
    return Alias(expr, output_name(expr))


def _resolve_named(expr: Expression, inputs: list[AttributeReference]) -> Expression:
    """Resolve a projected expression and name it, as Spark does, after what the user wrote:
    ``(age + score)``, not the implicit casts the analyzer adds."""
    resolved = resolve(expr, inputs)
    if isinstance(resolved, AttributeReference | Alias):
        return resolved
    names_only = expr.transform_up(lambda e: _resolve_leaf(e, inputs)
                                   if isinstance(e, UnresolvedAttribute) else e)
    return Alias(resolved, output_name(names_only))


def _expand_stars(exprs: Sequence[Expression], inputs: list[AttributeReference]) -> list[Expression]:
    out: list[Expression] = []
    for e in exprs:
        if isinstance(e, UnresolvedStar):
            if e.qualifier is None:
                out.extend(inputs)
            else:
                matched = [a for a in inputs if (a.qualifier or "").lower() == e.qualifier.lower()]
                if not matched:
                    msg = f"cannot resolve '{e.qualifier}.*': no input is called {e.qualifier}"
                    raise AnalysisException(msg)
                out.extend(matched)
        else:
            out.append(e)
    return out


def _resolve_aggregate(node: Aggregate) -> Aggregate:
    inputs = node.child.output
    keys = tuple(resolve(k, inputs) for k in node.keys)
    aggs = tuple(_resolve_named(e, inputs) for e in _expand_stars(node.aggs, inputs))
    key_set = {strip_alias(k) for k in keys}
    key_ids = set().union(*(k.references() for k in keys)) if keys else set()
    for agg in aggs:
        _check_grouped(agg, key_set, key_ids)
    return Aggregate(keys, aggs, node.child)



def _check_grouped(expr: Expression, keys: set[Expression], key_ids: set[int]) -> None:
    e = strip_alias(expr)
    if e in keys or isinstance(e, AggregateCall | Literal):
        return
    if isinstance(e, AttributeReference):
        if e.expr_id not in key_ids:
            msg = (f"column {e.name} is neither in the group by nor inside an aggregate function"
                   f"\n\nadd it to groupBy(...) or wrap it in an aggregate such as first({e.name})")
            raise AnalysisException(msg)
        return
    for c in e.children:
        _check_grouped(c, keys, key_ids)


# ---------------------------------------------------------------------------------------------
# Expressions


def resolve(expr: Expression, inputs: list[AttributeReference]) -> Expression:
    """Resolve ``expr`` against ``inputs`` and apply implicit casts, bottom up."""
    return expr.transform_up(lambda e: _coerce(_resolve_leaf(e, inputs)))


def _resolve_leaf(e: Expression, inputs: list[AttributeReference]) -> Expression:
    if isinstance(e, UnresolvedAttribute):
        return resolve_name(e.parts, inputs)
    if isinstance(e, AttributeReference):
        if any(a.expr_id == e.expr_id for a in inputs):
            # Keep the input's current name and qualifier (e.g. after an alias).
            return next(a for a in inputs if a.expr_id == e.expr_id)
        msg = (f"column {e.name}#{e.expr_id} does not belong to this DataFrame's input "
               f"{_column_list(inputs)}\n\nrefer to it through the DataFrame it came from, "
               "or by name with col()")
        raise AnalysisException(msg)
    if isinstance(e, UnresolvedFunction):
        if aggregates.exists(e.name):
            return AggregateCall(e.name.lower(), e.args, e.distinct)
        spec = functions.lookup(e.name)
        n = len(e.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            msg = f"function {e.name} takes {spec.min_args}..{spec.max_args} arguments, got {n}"
            raise AnalysisException(msg)
        return Call(spec.name, e.args)
    return e


def _column_list(inputs: list[AttributeReference]) -> str:
    return "[" + ", ".join(f"`{a.name}`" for a in inputs) + "]"


def resolve_name(parts: tuple[str, ...], inputs: list[AttributeReference]) -> AttributeReference:
    name = ".".join(parts)
    candidates: list[AttributeReference] = []
    if len(parts) >= 2:
        qual, col = ".".join(parts[:-1]).lower(), parts[-1].lower()
        candidates = [a for a in inputs
                      if (a.qualifier or "").lower() == qual and a.name.lower() == col]
    if not candidates:
        candidates = [a for a in inputs if a.name.lower() == name.lower()]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        if len({a.expr_id for a in candidates}) == 1:
            return candidates[0]
        msg = (f"[AMBIGUOUS_REFERENCE] reference `{name}` is ambiguous, it could be: "
               f"{_qualified(candidates)}\n\nqualify it with the DataFrame it comes from, "
               "e.g. df1['x'], or alias the inputs and use col('a.x')")
        raise AnalysisException(msg)
    names = sorted({a.name for a in inputs})
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    lowered = [n for n in names if parts[-1].lower() in n.lower() and n not in close]
    suggestions = (close + lowered)[:5] or names[:5]
    msg = (f"[UNRESOLVED_COLUMN.WITH_SUGGESTION] a column or function parameter with name "
           f"`{name}` cannot be resolved. Did you mean one of the following? "
           f"[{', '.join(f'`{s}`' for s in suggestions)}]\n\n"
           f"the input columns are {_column_list(inputs)}")
    raise AnalysisException(msg)


def _qualified(attrs: list[AttributeReference]) -> str:
    return "[" + ", ".join(
        f"`{a.qualifier}`.`{a.name}`" if a.qualifier else f"`{a.name}`" for a in attrs) + "]"


def cast_to(e: Expression, t: pa.DataType) -> Expression:
    if e.dtype == t:
        return e
    if isinstance(e, Literal) and e.value is None:
        return Literal(None, t)
    return Cast(e, t)


def _coerce(e: Expression) -> Expression:
    if not e.resolved:
        return e
    if isinstance(e, BinaryOp):
        lt, rt = e.left.dtype, e.right.dtype
        if e.op in COMPARISON:
            t = comparison_type(lt, rt)
            if t is None:
                msg = (f"cannot compare {e.left.sql()} ({type_sql(lt)}) with {e.right.sql()} "
                       f"({type_sql(rt)}) in {e.sql()}\n\ncast one side with .cast(...)")
                raise AnalysisException(msg)
        else:
            t = arithmetic_type(e.op, lt, rt)
            if t is None:
                msg = (f"[DATATYPE_MISMATCH] cannot apply {e.op} to {e.left.sql()} "
                       f"({type_sql(lt)}) and {e.right.sql()} ({type_sql(rt)})\n\n"
                       "arithmetic needs numeric operands; cast them with .cast('double')")
                raise AnalysisException(msg)
            if e.op == "/" and not pa.types.is_decimal(t):
                t = pa.float64()
        return BinaryOp(e.op, cast_to(e.left, t), cast_to(e.right, t))
    if isinstance(e, And | Or):
        return type(e)(_as_bool(e.left, e), _as_bool(e.right, e))
    if isinstance(e, Not):
        return Not(_as_bool(e.child, e))
    if isinstance(e, Negative):
        if not is_numeric(e.child.dtype):
            msg = f"cannot negate {e.child.sql()} of type {type_sql(e.child.dtype)}"
            raise AnalysisException(msg)
        return e
    if isinstance(e, In):
        t = e.child.dtype
        for v in e.values:
            c = comparison_type(t, v.dtype)
            if c is None:
                msg = f"cannot compare {e.child.sql()} with {v.sql()} in {e.sql()}"
                raise AnalysisException(msg)
            t = c
        return In(cast_to(e.child, t), tuple(cast_to(v, t) for v in e.values))
    if isinstance(e, CaseWhen):
        values = [v for _, v in e.branches] + ([e.otherwise] if e.otherwise is not None else [])
        t = values[0].dtype
        for v in values[1:]:
            c = common_type(t, v.dtype)
            if c is None:
                msg = (f"the branches of {e.sql()} have incompatible types "
                       f"{type_sql(t)} and {type_sql(v.dtype)}\n\ncast them to one type")
                raise AnalysisException(msg)
            t = c
        branches = tuple((_as_bool(c, e), cast_to(v, t)) for c, v in e.branches)
        other = cast_to(e.otherwise, t) if e.otherwise is not None else None
        return CaseWhen(branches, other)
    if isinstance(e, Call):
        spec = functions.lookup(e.name)
        if spec.coerce is not None:
            targets = spec.coerce([a.dtype for a in e.args])
            return Call(e.name, tuple(cast_to(a, t) for a, t in zip(e.args, targets, strict=True)))
        return e
    if isinstance(e, AggregateCall):
        spec = aggregates.lookup(e.name)
        spec.result_type([a.dtype for a in e.args] or [pa.int64()])  # type check
        return e
    if isinstance(e, SortOrder | Alias | Cast):
        return e
    return e


def _as_bool(e: Expression, parent: Expression) -> Expression:
    if pa.types.is_boolean(e.dtype):
        return e
    if pa.types.is_null(e.dtype):
        return Literal(None, pa.bool_())
    msg = (f"{e.sql()} in {parent.sql()} has type {type_sql(e.dtype)}, not boolean\n\n"
           "logical operators need boolean operands")
    raise AnalysisException(msg)
