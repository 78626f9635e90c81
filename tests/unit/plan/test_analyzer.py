"""The analyzer: name resolution, implicit casts and the checks that reject a query early.

Most cases go through DataFrames, whose methods analyze each new node at once (no job runs);
the type tables call the analyzer directly on small plans.
"""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

from ember.errors import AnalysisException
from ember.plan.analyzer import analyze, resolve
from ember.plan.expressions import (
    Alias,
    And,
    AttributeReference,
    BinaryOp,
    Expression,
    In,
    Literal,
    Negative,
    UnresolvedAttribute,
    UnresolvedFunction,
    literal,
)
from ember.plan.logical import Filter, LocalRelation, Project
from ember.sql import SparkSession
from ember.sql import functions as F
from ember.sql.dataframe import DataFrame


@pytest.fixture(scope="module")
def people(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(1, "ann", 31, 2.5, "7", True, datetime.date(2020, 1, 2))],
        "id INT, name STRING, age INT, score DOUBLE, code STRING, active BOOLEAN, born DATE")


@pytest.fixture(scope="module")
def orders(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(1, "book", 9.5)], "id INT, name STRING, price DOUBLE")


# ---------------------------------------------------------------------------------------------
# Unknown columns


@pytest.mark.parametrize("make", [
    pytest.param(lambda df: df.select("nmae"), id="select"),
    pytest.param(lambda df: df.filter(F.col("nmae") == "x"), id="filter"),
    pytest.param(lambda df: df.withColumn("n2", F.upper(F.col("nmae"))), id="withColumn"),
    pytest.param(lambda df: df.groupBy("nmae").count(), id="groupBy"),
    pytest.param(lambda df: df.orderBy("nmae"), id="orderBy"),
])
def test_unknown_column_is_named_with_close_matches(people: DataFrame, make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AnalysisException) as info:
        make(people)
    message = str(info.value)
    assert "`nmae`" in message
    assert "Did you mean one of the following? [`name`" in message  # closest first
    # The hint comes after a blank line and lists every input column.
    assert "\n\nthe input columns are [`id`, `name`, `age`, `score`, `code`, `active`, `born`]" \
        in message


def test_unknown_column_suggests_columns_containing_the_name(people: DataFrame) -> None:
    with pytest.raises(AnalysisException, match=r"Did you mean one of the following\? \[.*`age`"):
        people.select("ag")


def test_unknown_column_with_nothing_close_still_lists_columns(people: DataFrame) -> None:
    with pytest.raises(AnalysisException) as info:
        people.select("zzzz")
    assert "`zzzz` cannot be resolved" in str(info.value)
    assert "the input columns are [`id`, `name`" in str(info.value)


def test_column_names_resolve_case_insensitively(people: DataFrame) -> None:
    assert people.select("NAME", "Age").columns == ["name", "age"]


def test_column_of_another_dataframe_is_refused(people: DataFrame, orders: DataFrame) -> None:
    with pytest.raises(AnalysisException, match="does not belong to this DataFrame"):
        people.select(orders["price"])


# ---------------------------------------------------------------------------------------------
# Ambiguity after a join


def test_ambiguous_column_after_a_join(people: DataFrame, orders: DataFrame) -> None:
    joined = people.join(orders, people["id"] == orders["id"])
    with pytest.raises(AnalysisException) as info:
        joined.select("name")
    message = str(info.value)
    assert "[AMBIGUOUS_REFERENCE]" in message and "`name`" in message
    assert "\n\nqualify it" in message


def test_qualified_references_after_a_join_resolve(people: DataFrame, orders: DataFrame) -> None:
    joined = people.join(orders, people["id"] == orders["id"])
    assert joined.select(people["name"], orders["name"].alias("item")).columns == ["name", "item"]
    aliased = people.alias("p").join(orders.alias("o"), F.col("p.id") == F.col("o.id"))
    assert aliased.select("o.name", "p.age").dtypes == [("name", "string"), ("age", "int")]


def test_join_on_a_column_name_keeps_one_copy(people: DataFrame, orders: DataFrame) -> None:
    assert people.join(orders, "id").select("id").columns == ["id"]


# ---------------------------------------------------------------------------------------------
# Implicit casts


def _attrs() -> dict[str, AttributeReference]:
    types = {"i": pa.int32(), "l": pa.int64(), "d": pa.float64(), "s": pa.string(),
             "b": pa.bool_(), "dt": pa.date32(), "ts": pa.timestamp("us")}
    return {name: AttributeReference(name, t) for name, t in types.items()}


def _col(name: str) -> UnresolvedAttribute:
    return UnresolvedAttribute((name,))


COERCIONS = [
    # (expression, analyzed sql, result type)
    pytest.param(BinaryOp("+", _col("i"), _col("d")), "(CAST(i AS DOUBLE) + d)", pa.float64(),
                 id="int-plus-double-is-double"),
    pytest.param(BinaryOp("/", _col("i"), _col("i")), "(CAST(i AS DOUBLE) / CAST(i AS DOUBLE))",
                 pa.float64(), id="int-divided-by-int-is-double"),
    pytest.param(BinaryOp("+", _col("i"), _col("l")), "(CAST(i AS BIGINT) + l)", pa.int64(),
                 id="int-plus-bigint-is-bigint"),
    pytest.param(BinaryOp("*", _col("l"), literal(2)), "(l * CAST(2 AS BIGINT))", pa.int64(),
                 id="literal-widens-to-the-column"),
    pytest.param(BinaryOp("=", _col("s"), _col("i")), "(CAST(s AS INT) = i)", pa.bool_(),
                 id="string-equals-int-casts-the-string"),
    pytest.param(BinaryOp("<", literal(3), _col("s")), "(3 < CAST(s AS INT))", pa.bool_(),
                 id="int-literal-less-than-string-casts-the-string"),
    pytest.param(BinaryOp("=", _col("s"), _col("dt")), "(CAST(s AS DATE) = dt)", pa.bool_(),
                 id="string-equals-date-casts-the-string"),
    pytest.param(BinaryOp("<", _col("dt"), _col("ts")), "(CAST(dt AS TIMESTAMP) < ts)",
                 pa.bool_(), id="date-compared-with-timestamp-widens-the-date"),
    pytest.param(BinaryOp("+", _col("i"), _col("s")), "(CAST(i AS DOUBLE) + CAST(s AS DOUBLE))",
                 pa.float64(), id="int-plus-string-is-double"),
    pytest.param(BinaryOp("+", _col("i"), Literal(None, pa.null())), "(i + NULL)", pa.int32(),
                 id="null-takes-the-other-side-type"),
    pytest.param(In(_col("l"), (literal(1), literal(2))), "(l IN (CAST(1 AS BIGINT), CAST(2 AS BIGINT)))",
                 pa.bool_(), id="in-list-widens-to-a-common-type"),
    pytest.param(And(_col("b"), Literal(None, pa.null())), "(b AND NULL)", pa.bool_(),
                 id="null-in-a-logical-operator-is-a-boolean-null"),
]


@pytest.mark.parametrize(("expr", "sql", "dtype"), COERCIONS)
def test_implicit_casts(expr: Expression, sql: str, dtype: pa.DataType) -> None:
    resolved = resolve(expr, list(_attrs().values()))
    assert resolved.sql() == sql
    assert resolved.dtype == dtype


def test_resolved_columns_keep_the_input_ids() -> None:
    attrs = _attrs()
    resolved = resolve(BinaryOp("+", _col("i"), _col("d")), list(attrs.values()))
    assert resolved.references() == {attrs["i"].expr_id, attrs["d"].expr_id}


def test_dataframe_types_follow_the_implicit_casts(people: DataFrame) -> None:
    df = people.select((F.col("age") + F.col("score")).alias("a"),
                       (F.col("age") / F.col("id")).alias("b"),
                       (F.col("code") == F.col("id")).alias("c"),
                       (F.col("id") + 1).alias("d"))
    assert df.dtypes == [("a", "double"), ("b", "double"), ("c", "boolean"), ("d", "int")]


def test_column_names_do_not_show_implicit_casts(people: DataFrame) -> None:
    df = people.select(F.col("age") + F.col("score"), F.col("age") / F.col("id"),
                       F.col("code") == F.col("id"))
    assert df.columns == ["(age + score)", "(age / id)", "(code = id)"]


TYPE_ERRORS = [
    pytest.param(BinaryOp("+", _col("b"), _col("i")), r"\[DATATYPE_MISMATCH\] cannot apply \+",
                 id="boolean-plus-int"),
    pytest.param(BinaryOp("=", _col("dt"), _col("i")), r"cannot compare dt \(date\) with i \(int\)",
                 id="date-equals-int"),
    pytest.param(And(_col("b"), _col("i")), r"i in \(b AND i\) has type int, not boolean",
                 id="int-in-and"),
    pytest.param(Negative(_col("s")), "cannot negate s of type string", id="negate-string"),
    pytest.param(UnresolvedFunction("uper", (_col("s"),)), "undefined function: uper\n\ndid you "
                 "mean upper", id="unknown-function"),
    pytest.param(UnresolvedFunction("upper", (_col("s"), _col("s"))),
                 "function upper takes 1..1 arguments, got 2", id="wrong-argument-count"),
]


@pytest.mark.parametrize(("expr", "pattern"), TYPE_ERRORS)
def test_type_errors_are_analysis_errors(expr: Expression, pattern: str) -> None:
    with pytest.raises(AnalysisException, match=pattern):
        resolve(expr, list(_attrs().values()))


# ---------------------------------------------------------------------------------------------
# Plan-level checks


def _relation() -> LocalRelation:
    attrs = tuple(_attrs().values())
    return LocalRelation(attrs, (pa.table({a.key: pa.array([], a.dtype) for a in attrs}),))


def test_analyze_resolves_a_plan_bottom_up() -> None:
    rel = _relation()
    plan = Project((Alias(BinaryOp("+", _col("i"), literal(1)), "j"),),
                   Filter(BinaryOp(">", _col("d"), literal(0)), rel))
    analyzed = analyze(plan)
    assert analyzed.output[0].name == "j" and analyzed.output[0].dtype == pa.int32()
    assert isinstance(analyzed, Project) and isinstance(analyzed.child, Filter)
    assert analyzed.child.condition.sql() == "(d > CAST(0 AS DOUBLE))"


@pytest.mark.parametrize("condition", [
    pytest.param(lambda: F.col("age"), id="int-column"),
    pytest.param(lambda: F.col("name"), id="string-column"),
    pytest.param(lambda: F.col("age") + 1, id="arithmetic"),
])
def test_non_boolean_filter_is_rejected(people: DataFrame, condition) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AnalysisException, match="the filter condition .* not boolean\n\n"):
        people.filter(condition())


def test_null_filter_condition_is_accepted(people: DataFrame) -> None:
    assert people.filter(F.lit(None)).columns == people.columns


def test_non_boolean_join_condition_is_rejected(people: DataFrame, orders: DataFrame) -> None:
    with pytest.raises(AnalysisException, match="the join condition .* not boolean"):
        people.join(orders, people["id"] + orders["id"])


def test_aggregate_rejects_a_column_that_is_not_grouped(people: DataFrame) -> None:
    with pytest.raises(AnalysisException) as info:
        people.groupBy("name").agg(F.col("age"))
    assert "column age is neither in the group by nor inside an aggregate function" \
        in str(info.value)
    assert "\n\nadd it to groupBy(...) or wrap it in an aggregate such as first(age)" \
        in str(info.value)


def test_select_mixing_a_column_and_an_aggregate_is_rejected(people: DataFrame) -> None:
    with pytest.raises(AnalysisException, match="column name is neither in the group by"):
        people.select("name", F.sum("age"))


def test_aggregate_accepts_keys_literals_and_expressions_of_both(people: DataFrame) -> None:
    df = people.groupBy("name").agg(F.lit(1).alias("one"),
                                    (F.col("name") == "ann").alias("is_ann"),
                                    (F.max("age") + F.col("name").cast("int")).alias("mixed"))
    assert df.columns == ["name", "one", "is_ann", "mixed"]


def test_aggregate_over_an_expression_key_accepts_the_same_expression(people: DataFrame) -> None:
    key = (F.col("age") + 1).alias("next_age")
    df = people.groupBy(key).agg(F.count("id").alias("n"))
    assert df.dtypes == [("next_age", "int"), ("n", "bigint")]
