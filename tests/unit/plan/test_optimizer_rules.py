"""Before/after plan pairs for every rule in ``ember.plan.optimizer``.

Each case builds a small resolved plan out of attributes it creates itself, so expression ids are
stable within the case, applies one rule, and compares ``tree_string()`` with the plan the rule
should produce. The tables are lists of case functions returning ``(before, expected)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest

from ember.plan.expressions import (
    AggregateCall,
    Alias,
    And,
    AttributeReference,
    BinaryOp,
    Call,
    Cast,
    Expression,
    IsNull,
    Literal,
    Not,
    Or,
    SortOrder,
    literal,
)
from ember.plan.logical import (
    Aggregate,
    FileRelation,
    Filter,
    Join,
    Limit,
    LocalRelation,
    LogicalPlan,
    Project,
    Sort,
    Union,
    expr_string,
)
from ember.plan.optimizer import BATCHES, optimize
from ember.plan.optimizer.boolean_simplification import boolean_simplification, simplify
from ember.plan.optimizer.column_pruning import column_pruning
from ember.plan.optimizer.combine_filters import combine_filters
from ember.plan.optimizer.combine_limits import combine_limits
from ember.plan.optimizer.constant_folding import constant_folding
from ember.plan.optimizer.push_down_predicates import push_down_predicates
from ember.plan.optimizer.rewrite_distinct_aggregates import rewrite_distinct_aggregates
from ember.plan.udf import PythonUDF

# ---------------------------------------------------------------------------------------------
# Building blocks

INT = pa.int32()
LONG = pa.int64()
TRUE = Literal(True, pa.bool_())
FALSE = Literal(False, pa.bool_())
NULL_BOOL = Literal(None, pa.bool_())


def _expr(value: Expression | object) -> Expression:
    return value if isinstance(value, Expression) else literal(value)


def cmp(left: Expression, op: str, right: Expression | object) -> BinaryOp:
    """``left <op> right``; plain Python values become literals."""
    return BinaryOp(op, left, _expr(right))


def add(left: Expression | object, right: Expression | object) -> BinaryOp:
    return BinaryOp("+", _expr(left), _expr(right))


def local(*attrs: AttributeReference) -> LocalRelation:
    empty = pa.table({a.key: pa.array([], a.dtype) for a in attrs})
    return LocalRelation(attrs, (empty,))


def random_udf() -> PythonUDF:
    """A nondeterministic expression: optimizer rules must not duplicate or move it freely."""
    return PythonUDF(lambda: 0.5, pa.float64(), (), "rand")


@dataclass
class Tables:
    """Fresh relations for one case: ``left(a, b)``, ``right(c, d)``, ``parquet(x, y, z)``
    and ``csv(u, v)``."""

    a: AttributeReference
    b: AttributeReference
    c: AttributeReference
    d: AttributeReference
    x: AttributeReference
    y: AttributeReference
    z: AttributeReference
    u: AttributeReference
    v: AttributeReference
    left: LocalRelation
    right: LocalRelation
    parquet: FileRelation
    csv: FileRelation


def tables() -> Tables:
    a, b, c, d = (AttributeReference(n, INT) for n in "abcd")
    x, y = AttributeReference("x", LONG), AttributeReference("y", pa.float64())
    z = AttributeReference("z", pa.string())
    u, v = AttributeReference("u", INT), AttributeReference("v", INT)
    parquet = FileRelation("parquet", ("/data/p",), (x, y, z), size_in_bytes=1000)
    csv = FileRelation("csv", ("/data/c.csv",), (u, v), size_in_bytes=100)
    return Tables(a, b, c, d, x, y, z, u, v, local(a, b), local(c, d), parquet, csv)


Case = Callable[[Tables], tuple[LogicalPlan, LogicalPlan]]


def table(rows: list[Case]) -> Callable[[Case], Case]:
    """Register a case function in a rule's table."""
    def register(case: Case) -> Case:
        rows.append(case)
        return case
    return register


def renumber_new_ids(text: str, known: str) -> str:
    """Replace the ids a rule made up (absent from ``known``) by ``#new1``, ``#new2``... in the
    order they appear, so that plans with fresh aliases compare by shape."""
    known_ids = set(re.findall(r"#(\d+)", known))
    fresh: dict[str, str] = {}

    def rename(m: re.Match[str]) -> str:
        if m.group(1) in known_ids:
            return m.group(0)
        return "#new" + fresh.setdefault(m.group(1), str(len(fresh) + 1))

    return re.sub(r"#(\d+)", rename, text)


def check(rule: Callable[[LogicalPlan], LogicalPlan], case: Case) -> None:
    before, expected = case(tables())
    known = before.tree_string()
    got = renumber_new_ids(rule(before).tree_string(), known)
    want = renumber_new_ids(expected.tree_string(), known)
    assert got == want, f"\nbefore:\n{known}\n\ngot:\n{got}\n\nexpected:\n{want}"


def case_id(case: Case) -> str:
    return case.__name__.replace("_", "-")


def scan_with(rel: FileRelation, *, required: tuple[AttributeReference, ...] | None = None,
              pushed: tuple[Expression, ...] = ()) -> FileRelation:
    ids = None if required is None else tuple(a.expr_id for a in required)
    return FileRelation(rel.fmt, rel.paths, rel.attrs, rel.options, ids,
                        rel.pushed_filters + pushed, rel.size_in_bytes)


# ---------------------------------------------------------------------------------------------
# combine_filters

COMBINE_FILTERS: list[Case] = []


@table(COMBINE_FILTERS)
def two_filters_become_one_inner_first(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    inner, outer = cmp(t.a, ">", 1), cmp(t.b, "<", 2)
    return (Filter(outer, Filter(inner, t.left)),
            Filter(And(inner, outer), t.left))


@table(COMBINE_FILTERS)
def three_filters_become_one(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    f1, f2, f3 = cmp(t.a, ">", 1), cmp(t.b, "<", 2), cmp(t.a, "!=", 5)
    return (Filter(f3, Filter(f2, Filter(f1, t.left))),
            Filter(And(And(f1, f2), f3), t.left))


@table(COMBINE_FILTERS)
def filters_separated_by_a_project_stay_apart(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Filter(cmp(t.a, ">", 1), Project((t.a,), Filter(cmp(t.b, "<", 2), t.left)))
    return plan, plan


@pytest.mark.parametrize("case", COMBINE_FILTERS, ids=case_id)
def test_combine_filters(case: Case) -> None:
    check(combine_filters, case)


# ---------------------------------------------------------------------------------------------
# constant_folding

CONSTANT_FOLDING: list[Case] = []


def _project_one(expr: Expression, child: LogicalPlan) -> tuple[Alias, Callable[[Expression], Alias]]:
    """An aliased projection, and a way to build the same alias (same id) over another child."""
    alias = Alias(expr, "out")
    return alias, lambda new: Alias(new, alias.name, alias.expr_id)


@table(CONSTANT_FOLDING)
def one_plus_two_is_three(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    alias, same = _project_one(add(1, 2), t.left)
    return Project((alias,), t.left), Project((same(Literal(3, INT)),), t.left)


@table(CONSTANT_FOLDING)
def literal_plus_column_is_untouched(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Project((Alias(add(1, t.a), "out"),), t.left)
    return plan, plan


@table(CONSTANT_FOLDING)
def constant_subtree_of_a_column_expression_folds(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    alias, same = _project_one(add(t.a, BinaryOp("*", literal(2), literal(3))), t.left)
    return Project((alias,), t.left), Project((same(add(t.a, Literal(6, INT))),), t.left)


@table(CONSTANT_FOLDING)
def folded_comparison_in_a_filter_is_a_boolean_literal(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(cmp(literal(1), "=", 1), t.left), Filter(TRUE, t.left)


@table(CONSTANT_FOLDING)
def division_by_zero_folds_to_null(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    division = BinaryOp("/", Cast(literal(1), pa.float64()), Cast(literal(0), pa.float64()))
    alias, same = _project_one(division, t.left)
    return Project((alias,), t.left), Project((same(Literal(None, pa.float64())),), t.left)


@table(CONSTANT_FOLDING)
def invalid_string_cast_folds_to_null(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    alias, same = _project_one(Cast(literal("abc"), INT), t.left)
    return Project((alias,), t.left), Project((same(Literal(None, INT)),), t.left)


@table(CONSTANT_FOLDING)
def is_null_of_a_literal_folds(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(IsNull(Literal(None, INT)), t.left), Filter(TRUE, t.left)


@table(CONSTANT_FOLDING)
def function_of_literals_folds(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    alias, same = _project_one(Call("upper", (literal("ab"),)), t.left)
    return Project((alias,), t.left), Project((same(Literal("AB", pa.string())),), t.left)


@table(CONSTANT_FOLDING)
def nondeterministic_expression_is_not_folded(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Project((Alias(random_udf(), "r"),), t.left)
    return plan, plan


@table(CONSTANT_FOLDING)
def sort_by_a_constant_folds_the_key_not_the_order(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return (Sort((SortOrder(add(1, 1)),), True, t.left),
            Sort((SortOrder(Literal(2, INT)),), True, t.left))


@table(CONSTANT_FOLDING)
def join_condition_folds(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = cmp(t.a, "=", add(t.c, add(1, 1)))
    folded = cmp(t.a, "=", add(t.c, Literal(2, INT)))
    return Join(t.left, t.right, "inner", cond), Join(t.left, t.right, "inner", folded)


@pytest.mark.parametrize("case", CONSTANT_FOLDING, ids=case_id)
def test_constant_folding(case: Case) -> None:
    check(constant_folding, case)


# ---------------------------------------------------------------------------------------------
# boolean_simplification

_P = AttributeReference("p", pa.bool_())
_Q = AttributeReference("q", pa.bool_())

SIMPLIFY_EXPRESSIONS = [
    pytest.param(And(TRUE, _P), _P, id="true-and-x"),
    pytest.param(And(_P, TRUE), _P, id="x-and-true"),
    pytest.param(And(FALSE, _P), FALSE, id="false-and-x"),
    pytest.param(And(_P, FALSE), FALSE, id="x-and-false"),
    pytest.param(Or(FALSE, _P), _P, id="false-or-x"),
    pytest.param(Or(_P, FALSE), _P, id="x-or-false"),
    pytest.param(Or(TRUE, _P), TRUE, id="true-or-x"),
    pytest.param(Or(_P, TRUE), TRUE, id="x-or-true"),
    pytest.param(Not(Not(_P)), _P, id="not-not-x"),
    pytest.param(Not(TRUE), FALSE, id="not-true"),
    pytest.param(Not(FALSE), TRUE, id="not-false"),
    pytest.param(And(_P, _P), _P, id="x-and-x"),
    pytest.param(Or(_P, _P), _P, id="x-or-x"),
    pytest.param(And(_P, _Q), And(_P, _Q), id="x-and-y-untouched"),
    # Null is unknown, not false: only a definite operand decides.
    pytest.param(And(NULL_BOOL, FALSE), FALSE, id="null-and-false"),
    pytest.param(Or(NULL_BOOL, TRUE), TRUE, id="null-or-true"),
    pytest.param(And(NULL_BOOL, TRUE), NULL_BOOL, id="null-and-true-is-null"),
    pytest.param(Or(NULL_BOOL, FALSE), NULL_BOOL, id="null-or-false-is-null"),
    pytest.param(Not(NULL_BOOL), Not(NULL_BOOL), id="not-null-untouched"),
    pytest.param(And(Or(FALSE, _P), Not(Not(_Q))), And(_P, _Q), id="nested"),
]


@pytest.mark.parametrize(("before", "expected"), SIMPLIFY_EXPRESSIONS)
def test_boolean_simplification_of_expressions(before: Expression, expected: Expression) -> None:
    assert expr_string(simplify(before)) == expr_string(expected)


def test_boolean_simplification_keeps_both_copies_of_a_nondeterministic_operand() -> None:
    coin = cmp(random_udf(), "<", literal(0.5))
    for both in (And(coin, coin), Or(coin, coin)):
        assert simplify(both) is both


BOOLEAN_SIMPLIFICATION: list[Case] = []


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_true_is_removed(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(TRUE, t.left), t.left


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_x_and_true_keeps_x(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    keep = cmp(t.a, ">", 1)
    return Filter(And(keep, TRUE), t.left), Filter(keep, t.left)


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_x_or_true_is_removed(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(Or(cmp(t.a, ">", 1), TRUE), t.left), t.left


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_false_is_an_empty_relation(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(FALSE, t.left), local(t.a, t.b)


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_null_is_an_empty_relation(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Filter(NULL_BOOL, t.left), local(t.a, t.b)


@table(BOOLEAN_SIMPLIFICATION)
def filter_on_false_and_x_is_an_empty_relation(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return (Project((t.a,), Filter(And(cmp(t.b, "=", 1), FALSE), t.left)),
            Project((t.a,), local(t.a, t.b)))


@table(BOOLEAN_SIMPLIFICATION)
def join_condition_is_simplified(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq = cmp(t.a, "=", t.c)
    return (Join(t.left, t.right, "inner", And(TRUE, Not(Not(eq)))),
            Join(t.left, t.right, "inner", eq))


@pytest.mark.parametrize("case", BOOLEAN_SIMPLIFICATION, ids=case_id)
def test_boolean_simplification(case: Case) -> None:
    check(boolean_simplification, case)


def test_filter_on_false_keeps_the_output_attributes_and_has_no_rows() -> None:
    t = tables()
    empty = boolean_simplification(Filter(FALSE, t.parquet))
    assert isinstance(empty, LocalRelation)
    assert [a.expr_id for a in empty.output] == [t.x.expr_id, t.y.expr_id, t.z.expr_id]
    assert [a.dtype for a in empty.output] == [LONG, pa.float64(), pa.string()]
    assert empty.num_rows == 0


# ---------------------------------------------------------------------------------------------
# combine_limits

COMBINE_LIMITS: list[Case] = []


@table(COMBINE_LIMITS)
def outer_smaller_limit_wins(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Limit(5, Limit(10, t.left)), Limit(5, t.left)


@table(COMBINE_LIMITS)
def inner_smaller_limit_wins(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return Limit(10, Limit(5, t.left)), Limit(5, t.left)


@table(COMBINE_LIMITS)
def limit_moves_below_a_projection(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    exprs = (t.a, Alias(add(t.b, 1), "b1"))
    return Limit(3, Project(exprs, t.left)), Project(exprs, Limit(3, t.left))


@table(COMBINE_LIMITS)
def limit_below_projection_then_merges(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    return (Limit(5, Project((t.a,), Limit(10, t.left))),
            Project((t.a,), Limit(5, t.left)))


@table(COMBINE_LIMITS)
def limit_stays_above_a_nondeterministic_projection(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Limit(3, Project((Alias(random_udf(), "r"),), t.left))
    return plan, plan


@table(COMBINE_LIMITS)
def limit_stays_above_a_filter(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Limit(3, Filter(cmp(t.a, ">", 1), t.left))
    return plan, plan


@pytest.mark.parametrize("case", COMBINE_LIMITS, ids=case_id)
def test_combine_limits(case: Case) -> None:
    check(combine_limits, case)


# ---------------------------------------------------------------------------------------------
# push_down_predicates

PUSH_DOWN: list[Case] = []


@table(PUSH_DOWN)
def through_project_of_plain_columns(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = cmp(t.a, ">", 1)
    return (Filter(cond, Project((t.a,), t.left)),
            Project((t.a,), Filter(cond, t.left)))


@table(PUSH_DOWN)
def through_project_substitutes_aliases(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    b1 = Alias(add(t.b, 1), "b1")
    exprs = (t.a, b1)
    return (Filter(And(cmp(b1.to_attribute(), ">", 10), cmp(t.a, "<", 3)), Project(exprs, t.left)),
            Project(exprs, Filter(And(cmp(add(t.b, 1), ">", 10), cmp(t.a, "<", 3)), t.left)))


@table(PUSH_DOWN)
def not_through_a_nondeterministic_project(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    r = Alias(random_udf(), "r")
    plan = Filter(cmp(r.to_attribute(), "<", literal(0.5)), Project((t.a, r), t.left))
    return plan, plan


@table(PUSH_DOWN)
def through_a_sort(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond, orders = cmp(t.a, ">", 1), (SortOrder(t.b),)
    return (Filter(cond, Sort(orders, True, t.left)),
            Sort(orders, True, Filter(cond, t.left)))


@table(PUSH_DOWN)
def not_through_a_limit(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Filter(cmp(t.a, ">", 1), Limit(5, t.left))
    return plan, plan


@table(PUSH_DOWN)
def through_aggregate_only_key_conjuncts(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    total = Alias(AggregateCall("sum", (t.b,)), "total")
    aggs = (t.a, total)
    on_key, on_agg = cmp(t.a, ">", 1), cmp(total.to_attribute(), ">", literal(10))
    return (Filter(And(on_key, on_agg), Aggregate((t.a,), aggs, t.left)),
            Filter(on_agg, Aggregate((t.a,), aggs, Filter(on_key, t.left))))


@table(PUSH_DOWN)
def not_through_a_global_aggregate(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    n = Alias(AggregateCall("count", (t.a,)), "n")
    plan = Filter(cmp(n.to_attribute(), ">", literal(0)), Aggregate((), (n,), t.left))
    return plan, plan


@table(PUSH_DOWN)
def inner_join_filter_splits_to_both_sides(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    fl, fr = cmp(t.b, ">", 1), cmp(t.d, "<", 2)
    return (Filter(And(fl, fr), Join(t.left, t.right, "inner", on)),
            Join(Filter(fl, t.left), Filter(fr, t.right), "inner", on))


@table(PUSH_DOWN)
def inner_join_cross_side_filter_joins_the_condition(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on, across = cmp(t.a, "=", t.c), cmp(t.b, "<", t.d)
    return (Filter(across, Join(t.left, t.right, "inner", on)),
            Join(t.left, t.right, "inner", And(on, across)))


@table(PUSH_DOWN)
def cross_join_with_equality_filter_gets_a_condition(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    return (Filter(on, Join(t.left, t.right, "cross")),
            Join(t.left, t.right, "cross", on))


@table(PUSH_DOWN)
def inner_join_keeps_nondeterministic_filter_above(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    coin = cmp(random_udf(), "<", literal(0.5))
    plan = Filter(coin, Join(t.left, t.right, "inner", on))
    return plan, plan


@table(PUSH_DOWN)
def left_join_filter_goes_only_to_the_left(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    fl, fr = cmp(t.b, ">", 1), cmp(t.d, "<", 2)
    return (Filter(And(fl, fr), Join(t.left, t.right, "left", on)),
            Filter(fr, Join(Filter(fl, t.left), t.right, "left", on)))


@table(PUSH_DOWN)
def right_join_filter_goes_only_to_the_right(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    fl, fr = cmp(t.b, ">", 1), cmp(t.d, "<", 2)
    return (Filter(And(fl, fr), Join(t.left, t.right, "right", on)),
            Filter(fl, Join(t.left, Filter(fr, t.right), "right", on)))


@table(PUSH_DOWN)
def full_join_filter_stays_above(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.a, "=", t.c)
    plan = Filter(And(cmp(t.b, ">", 1), cmp(t.d, "<", 2)), Join(t.left, t.right, "full", on))
    return plan, plan


@table(PUSH_DOWN)
def semi_join_filter_goes_to_the_left(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on, fl = cmp(t.a, "=", t.c), cmp(t.b, ">", 1)
    return (Filter(fl, Join(t.left, t.right, "left_semi", on)),
            Join(Filter(fl, t.left), t.right, "left_semi", on))


@table(PUSH_DOWN)
def anti_join_filter_goes_to_the_left(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on, fl = cmp(t.a, "=", t.c), cmp(t.b, ">", 1)
    return (Filter(fl, Join(t.left, t.right, "left_anti", on)),
            Join(Filter(fl, t.left), t.right, "left_anti", on))


def _condition(t: Tables) -> tuple[BinaryOp, BinaryOp, BinaryOp, Expression]:
    """``a = c AND b > 1 AND d < 2``: an equality, a left-only and a right-only conjunct."""
    eq, cl, cr = cmp(t.a, "=", t.c), cmp(t.b, ">", 1), cmp(t.d, "<", 2)
    return eq, cl, cr, And(And(eq, cl), cr)


@table(PUSH_DOWN)
def inner_join_condition_sides_move_down(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq, cl, cr, cond = _condition(t)
    return (Join(t.left, t.right, "inner", cond),
            Join(Filter(cl, t.left), Filter(cr, t.right), "inner", eq))


@table(PUSH_DOWN)
def left_join_condition_moves_only_right_conjuncts(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq, cl, cr, cond = _condition(t)
    return (Join(t.left, t.right, "left", cond),
            Join(t.left, Filter(cr, t.right), "left", And(eq, cl)))


@table(PUSH_DOWN)
def right_join_condition_moves_only_left_conjuncts(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq, cl, cr, cond = _condition(t)
    return (Join(t.left, t.right, "right", cond),
            Join(Filter(cl, t.left), t.right, "right", And(eq, cr)))


@table(PUSH_DOWN)
def full_join_condition_stays(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Join(t.left, t.right, "full", _condition(t)[3])
    return plan, plan


@table(PUSH_DOWN)
def semi_join_condition_moves_both_sides(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq, cl, cr, cond = _condition(t)
    return (Join(t.left, t.right, "left_semi", cond),
            Join(Filter(cl, t.left), Filter(cr, t.right), "left_semi", eq))


@table(PUSH_DOWN)
def anti_join_condition_moves_only_right_conjuncts(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    eq, cl, cr, cond = _condition(t)
    return (Join(t.left, t.right, "left_anti", cond),
            Join(t.left, Filter(cr, t.right), "left_anti", And(eq, cl)))


@table(PUSH_DOWN)
def into_a_parquet_scan_with_the_filter_kept_above(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = And(cmp(t.x, ">", literal(10)), cmp(t.z, "=", "k"))
    pushed = (cmp(t.x, ">", literal(10)), cmp(t.z, "=", "k"))
    return Filter(cond, t.parquet), Filter(cond, scan_with(t.parquet, pushed=pushed))


@table(PUSH_DOWN)
def into_a_parquet_scan_only_once(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = cmp(t.x, ">", literal(10))
    plan = Filter(cond, scan_with(t.parquet, pushed=(cmp(t.x, ">", literal(10)),)))
    return plan, plan


@table(PUSH_DOWN)
def not_into_a_csv_scan(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Filter(cmp(t.u, ">", 1), t.csv)
    return plan, plan


@table(PUSH_DOWN)
def through_project_and_join_into_both_scans(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.x, "=", Cast(t.u, LONG))
    fx, fu = cmp(t.x, ">", literal(10)), cmp(t.u, "<", 5)
    project = (t.x, t.u)
    return (Filter(And(fx, fu), Project(project, Join(t.parquet, t.csv, "inner", on))),
            Project(project, Join(Filter(fx, scan_with(t.parquet, pushed=(fx,))),
                                  Filter(fu, t.csv), "inner", on)))


@pytest.mark.parametrize("case", PUSH_DOWN, ids=case_id)
def test_push_down_predicates(case: Case) -> None:
    check(push_down_predicates, case)


# ---------------------------------------------------------------------------------------------
# column_pruning

COLUMN_PRUNING: list[Case] = []


@table(COLUMN_PRUNING)
def scan_reads_projected_and_filtered_columns(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = cmp(t.z, "=", "k")
    return (Project((t.x,), Filter(cond, t.parquet)),
            Project((t.x,), Filter(cond, scan_with(t.parquet, required=(t.x, t.z)))))


@table(COLUMN_PRUNING)
def unused_projection_is_dropped(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    b1 = Alias(add(t.b, 1), "b1")
    return (Project((t.a,), Project((t.a, b1), t.left)),
            Project((t.a,), Project((t.a,), t.left)))


@table(COLUMN_PRUNING)
def aggregate_reads_keys_and_arguments(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    aggs = (t.z, Alias(AggregateCall("sum", (t.y,)), "total"))
    return (Aggregate((t.z,), aggs, t.parquet),
            Aggregate((t.z,), aggs, scan_with(t.parquet, required=(t.y, t.z))))


@table(COLUMN_PRUNING)
def count_star_reads_one_column(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    aggs = (Alias(AggregateCall("count", (literal(1),)), "count(1)"),)
    return (Aggregate((), aggs, t.parquet),
            Aggregate((), aggs, scan_with(t.parquet, required=(t.x,))))


@table(COLUMN_PRUNING)
def join_sides_read_output_and_condition_columns(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.x, "=", Cast(t.u, LONG))
    return (Project((t.y,), Join(t.parquet, t.csv, "inner", on)),
            Project((t.y,), Join(scan_with(t.parquet, required=(t.x, t.y)),
                                 scan_with(t.csv, required=(t.u,)), "inner", on)))


@table(COLUMN_PRUNING)
def semi_join_right_side_reads_condition_columns(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    on = cmp(t.x, "=", Cast(t.v, LONG))
    return (Project((t.z,), Join(t.parquet, t.csv, "left_semi", on)),
            Project((t.z,), Join(scan_with(t.parquet, required=(t.x, t.z)),
                                 scan_with(t.csv, required=(t.v,)), "left_semi", on)))


@table(COLUMN_PRUNING)
def sort_keeps_its_keys(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    orders = (SortOrder(t.y),)
    return (Project((t.x,), Sort(orders, True, t.parquet)),
            Project((t.x,), Sort(orders, True, scan_with(t.parquet, required=(t.x, t.y)))))


@table(COLUMN_PRUNING)
def pushed_filters_survive_pruning(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    cond = cmp(t.y, ">", literal(1.0))
    scan = scan_with(t.parquet, pushed=(cond,))
    return (Project((t.z,), Filter(cond, scan)),
            Project((t.z,), Filter(cond, scan_with(t.parquet, required=(t.y, t.z),
                                                   pushed=(cond,)))))


@table(COLUMN_PRUNING)
def union_inputs_keep_every_column(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    union = Union((Project((t.a, t.b), t.left), Project((t.c, t.d), t.right)))
    return Project((t.a,), union), Project((t.a,), union)


@table(COLUMN_PRUNING)
def window_reads_its_keys_ordering_and_the_columns_used_above(
        t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    from ember.plan.window import (
        Window,
        WindowExpression,
        WindowFrame,
        WindowFunction,
        WindowSpecDefinition,
    )

    orders = (SortOrder(t.y),)
    spec = WindowSpecDefinition((t.z,), orders, WindowFrame("rows", None, 0))
    rank = Alias(WindowExpression(WindowFunction("row_number"), spec), "rank")
    top = (t.z, rank.to_attribute())
    return (Project(top, Window((rank,), (t.z,), orders, t.parquet)),
            Project(top, Window((rank,), (t.z,), orders,
                                scan_with(t.parquet, required=(t.y, t.z)))))


def _cached(t: Tables) -> LogicalPlan:
    from ember.core.storagelevel import StorageLevel
    from ember.plan.logical import CacheData, CachedRelation

    return CachedRelation((t.x, t.y, t.z), CacheData(7, StorageLevel.MEMORY_ONLY, t.parquet))


@table(COLUMN_PRUNING)
def cached_scan_reads_only_the_required_columns(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    from dataclasses import replace

    cached = _cached(t)
    cond = cmp(t.z, "=", "k")
    return (Aggregate((t.z,), (t.z,), Filter(cond, cached)),
            Aggregate((t.z,), (t.z,), Filter(cond, replace(cached, required=(t.z.expr_id,)))))


def test_pruning_cached_data_reaches_a_fixpoint() -> None:
    t = tables()
    plan = Aggregate((t.z,), (t.z,), Filter(cmp(t.z, "=", "k"), _cached(t)))
    once = column_pruning(plan)
    assert column_pruning(once).tree_string() == once.tree_string()
    assert optimize(once).tree_string() == optimize(optimize(once)).tree_string()


@pytest.mark.parametrize("case", COLUMN_PRUNING, ids=case_id)
def test_column_pruning(case: Case) -> None:
    check(column_pruning, case)


def test_column_pruning_keeps_the_top_level_output() -> None:
    t = tables()
    pruned = column_pruning(t.parquet)
    assert [a.expr_id for a in pruned.output] == [t.x.expr_id, t.y.expr_id, t.z.expr_id]


# ---------------------------------------------------------------------------------------------
# rewrite_distinct_aggregates

REWRITE_DISTINCT: list[Case] = []


@table(REWRITE_DISTINCT)
def count_distinct_with_sum_groups_twice(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    n = Alias(AggregateCall("count", (t.b,), distinct=True), "n")
    s = Alias(AggregateCall("sum", (t.b,)), "s")
    partial = Alias(AggregateCall("sum", (t.b,)), "_partial_sum")
    inner = Aggregate((t.a, t.b), (t.a, t.b, partial), t.left)
    outer = Aggregate((t.a,), (
        t.a,
        Alias(AggregateCall("count", (t.b,)), "n", n.expr_id),
        Alias(AggregateCall("sum", (partial.to_attribute(),)), "s", s.expr_id),
    ), inner)
    return Aggregate((t.a,), (t.a, n, s), t.left), outer


@table(REWRITE_DISTINCT)
def global_count_distinct(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    n = Alias(AggregateCall("count", (t.b,), distinct=True), "n")
    inner = Aggregate((t.b,), (t.b,), t.left)
    outer = Aggregate((), (Alias(AggregateCall("count", (t.b,)), "n", n.expr_id),), inner)
    return Aggregate((), (n,), t.left), outer


@table(REWRITE_DISTINCT)
def plain_count_becomes_a_sum_of_counts(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    n = Alias(AggregateCall("count", (t.b,), distinct=True), "n")
    c = Alias(AggregateCall("count", (t.a,)), "c")
    partial = Alias(AggregateCall("count", (t.a,)), "_partial_count")
    inner = Aggregate((t.b,), (t.b, partial), t.left)
    merged = Call("coalesce", (AggregateCall("sum", (partial.to_attribute(),)),
                               Literal(0, LONG)))
    outer = Aggregate((), (
        Alias(AggregateCall("count", (t.b,)), "n", n.expr_id),
        Alias(merged, "c", c.expr_id),
    ), inner)
    return Aggregate((), (n, c), t.left), outer


@table(REWRITE_DISTINCT)
def distinct_argument_that_is_a_key_is_grouped_once(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    n = Alias(AggregateCall("count", (t.a,), distinct=True), "n")
    inner = Aggregate((t.a,), (t.a,), t.left)
    outer = Aggregate((t.a,), (t.a, Alias(AggregateCall("count", (t.a,)), "n", n.expr_id)),
                      inner)
    return Aggregate((t.a,), (t.a, n), t.left), outer


@table(REWRITE_DISTINCT)
def aggregate_without_distinct_is_untouched(t: Tables) -> tuple[LogicalPlan, LogicalPlan]:
    plan = Aggregate((t.a,), (t.a, Alias(AggregateCall("sum", (t.b,)), "s")), t.left)
    return plan, plan


@pytest.mark.parametrize("case", REWRITE_DISTINCT, ids=case_id)
def test_rewrite_distinct_aggregates(case: Case) -> None:
    check(rewrite_distinct_aggregates, case)


def test_rewrite_distinct_average_divides_merged_sum_by_merged_count() -> None:
    t = tables()
    n = Alias(AggregateCall("count", (t.b,), distinct=True), "n")
    avg = Alias(AggregateCall("avg", (t.a,)), "m")
    rewritten = rewrite_distinct_aggregates(Aggregate((), (n, avg), t.left))
    assert isinstance(rewritten, Aggregate) and isinstance(rewritten.child, Aggregate)
    inner = rewritten.child
    assert [e.sql() for e in inner.aggs] == ["b", "sum(a) AS _sum", "count(a) AS _cnt"]
    mean = rewritten.aggs[1]
    assert isinstance(mean, Alias) and mean.expr_id == avg.expr_id
    assert mean.sql() == ("CAST((CAST(sum(_sum) AS DOUBLE) / CAST(sum(_cnt) AS DOUBLE)) "
                          "AS DOUBLE) AS m")


# ---------------------------------------------------------------------------------------------
# The whole optimizer


def _busy_plan(t: Tables) -> tuple[LogicalPlan, Alias]:
    """Filters over a projection over a join of two scans, with constants and two limits."""
    x2 = Alias(BinaryOp("*", t.x, Cast(add(1, 1), LONG)), "x2")
    on = cmp(t.x, "=", Cast(t.u, LONG))
    joined = Join(t.parquet, t.csv, "inner", on)
    project = Project((x2, t.z, t.v), Filter(And(TRUE, cmp(t.y, ">", literal(0.0))), joined))
    filtered = Filter(cmp(t.v, "<", add(2, 3)),
                      Filter(cmp(x2.to_attribute(), ">", literal(4)), project))
    return Limit(10, Limit(20, Project((x2.to_attribute(), t.z), filtered))), x2


def test_optimize_reaches_a_fixpoint() -> None:
    once = optimize(_busy_plan(tables())[0])
    assert optimize(once).tree_string() == once.tree_string()
    for _name, rules, _iterations in BATCHES:
        for rule in rules:
            assert rule(once).tree_string() == once.tree_string(), rule.__name__


def test_optimize_pushes_filters_and_limits_and_prunes_into_scans() -> None:
    t = tables()
    plan, x2 = _busy_plan(t)
    doubled = BinaryOp("*", t.x, Literal(2, LONG))
    on = cmp(t.x, "=", Cast(t.u, LONG))
    on_left = (cmp(t.y, ">", literal(0.0)), cmp(doubled, ">", literal(4)))
    left = Filter(And(*on_left), scan_with(t.parquet, required=(t.x, t.y, t.z), pushed=on_left))
    right = Filter(cmp(t.v, "<", Literal(5, INT)), scan_with(t.csv, required=(t.u, t.v)))
    expected = Project((x2.to_attribute(), t.z), Project(
        (Alias(doubled, "x2", x2.expr_id), t.z),
        Limit(10, Join(left, right, "inner", on))))
    assert optimize(plan).tree_string() == expected.tree_string()
