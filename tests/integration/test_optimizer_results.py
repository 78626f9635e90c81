"""Optimized plans still give DuckDB's answers: join-condition pushdown for every join type,
filters turned into join conditions, distinct aggregates over keys, constant sort keys."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from ember.sql import SparkSession
from ember.sql import functions as F
from ember.sql.dataframe import DataFrame

LEFT = pa.table({"a": pa.array([1, 2, 3, 4, None], pa.int32()),
                 "b": pa.array([10, 20, None, 40, 50], pa.int32())})
RIGHT = pa.table({"c": pa.array([1, 2, 2, 5, None], pa.int32()),
                  "d": pa.array([1, 3, None, 5, 7], pa.int32())})


def _key(row: tuple) -> tuple:
    return tuple((v is None, v if v is not None else 0) for v in row)


def rows(df: DataFrame) -> list[tuple]:
    return sorted((tuple(r) for r in df.collect()), key=_key)


def duck(sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.register("l", LEFT)
    con.register("r", RIGHT)
    return sorted(con.sql(sql).fetchall(), key=_key)


@pytest.fixture(scope="module")
def tables(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    return spark.createDataFrame(LEFT), spark.createDataFrame(RIGHT)


def _optimized(df: DataFrame) -> str:
    text = df._explain_string(True)
    return text.split("== Optimized Logical Plan ==\n", 1)[1].split("\n\n", 1)[0]


JOINS = [("inner", "INNER"), ("left", "LEFT"), ("right", "RIGHT"), ("full", "FULL")]


@pytest.mark.parametrize(("how", "sql_how"), JOINS)
def test_join_condition_with_single_side_conjuncts(tables, how: str, sql_how: str) -> None:  # type: ignore[no-untyped-def]
    left, right = tables
    cond = (left["a"] == right["c"]) & (left["b"] > 15) & (right["d"] < 6)
    df = left.join(right, cond, how).select("a", "b", "c", "d")
    assert rows(df) == duck(
        f"SELECT a, b, c, d FROM l {sql_how} JOIN r ON a = c AND b > 15 AND d < 6")


@pytest.mark.parametrize(("how", "sql_how"), [("left_semi", "SEMI"), ("left_anti", "ANTI")])
def test_semi_and_anti_join_conditions(tables, how: str, sql_how: str) -> None:  # type: ignore[no-untyped-def]
    left, right = tables
    cond = (left["a"] == right["c"]) & (left["b"] > 15) & (right["d"] < 6)
    df = left.join(right, cond, how)
    assert rows(df) == duck(f"SELECT a, b FROM l {sql_how} JOIN r ON a = c AND b > 15 AND d < 6")


def test_left_join_condition_moves_right_conjunct_below_the_join(tables) -> None:  # type: ignore[no-untyped-def]
    left, right = tables
    df = left.join(right, (left["a"] == right["c"]) & (right["d"] < 6), "left")
    optimized = _optimized(df)
    join_line = next(line for line in optimized.splitlines() if "Join LeftOuter" in line)
    assert "d#" not in join_line
    assert "+- Filter (d#" in optimized


@pytest.mark.parametrize(("how", "sql_how"), JOINS)
def test_filter_above_a_join(tables, how: str, sql_how: str) -> None:  # type: ignore[no-untyped-def]
    left, right = tables
    df = left.join(right, left["a"] == right["c"], how) \
        .filter((F.col("b") > 15) & (F.col("d").isNull() | (F.col("d") < 6)))
    assert rows(df) == duck(
        f"SELECT a, b, c, d FROM l {sql_how} JOIN r ON a = c "
        "WHERE b > 15 AND (d IS NULL OR d < 6)")


def test_cross_join_with_an_equality_filter_is_a_hash_join(tables) -> None:  # type: ignore[no-untyped-def]
    left, right = tables
    df = left.crossJoin(right).filter((F.col("a") == F.col("c")) & (F.col("b") < F.col("d") * 20))
    physical = df._explain_string()
    assert "NestedLoopJoin" not in physical and "HashJoin" in physical
    assert rows(df) == duck("SELECT a, b, c, d FROM l, r WHERE a = c AND b < d * 20")


def test_count_distinct_of_a_grouping_key(tables) -> None:  # type: ignore[no-untyped-def]
    left, _ = tables
    df = left.groupBy("a").agg(F.countDistinct("a").alias("n"), F.sum("b").alias("s"))
    assert rows(df) == duck("SELECT a, count(DISTINCT a), sum(b) FROM l GROUP BY a")


def test_count_distinct_with_other_aggregates(tables) -> None:  # type: ignore[no-untyped-def]
    _, right = tables
    df = right.groupBy("c").agg(F.countDistinct("d"), F.count("d"), F.min("d"), F.avg("d"))
    assert rows(df) == duck(
        "SELECT c, count(DISTINCT d), count(d), min(d), avg(d) FROM r GROUP BY c")


def test_sort_by_a_constant_keeps_every_row(tables) -> None:  # type: ignore[no-untyped-def]
    left, _ = tables
    assert rows(left.orderBy(F.lit(1), "a")) == duck("SELECT a, b FROM l")


def test_filter_with_constant_parts(tables) -> None:  # type: ignore[no-untyped-def]
    left, _ = tables
    df = left.filter((F.lit(1) + 1 < F.col("a")) & F.lit(True) & ~~(F.col("b") > 0))
    assert rows(df) == duck("SELECT a, b FROM l WHERE 2 < a AND b > 0")
    assert rows(left.filter(F.lit(1) > 2)) == []
