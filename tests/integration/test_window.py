"""Window functions through the DataFrame API, checked against DuckDB's window functions.

The generated table has nulls in every column and many ties in the ordering column ``t``. The
SQL spells out what Spark leaves implicit, so that DuckDB computes what Spark computes:

- null ordering: Spark puts nulls first for ascending and last for descending order; DuckDB
  puts them last by default, so every ``ORDER BY`` says ``NULLS FIRST`` or ``NULLS LAST``;
- result types: Spark's ranking functions give ``int`` and its sum of ints a ``bigint``, where
  DuckDB gives ``BIGINT`` and ``HUGEINT``, hence the casts;
- frames: both default to ``RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` with an
  ORDER BY and to the whole partition without one, so the defaults are compared as they are.

Where rows tie on the ordering and the function depends on which tied row comes first
(``row_number``, ``lag``, ROWS frames), the window orders by the unique ``id`` last.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from ember.errors import AnalysisException
from ember.plan.expressions import UnresolvedFunction
from ember.sql import Column, DataFrame, SparkSession
from ember.sql import functions as F
from ember.sql.window import Window

col = F.col
ROWS = 3_000


def aggregate(name: str, *cols: str) -> Column:
    """A registered aggregate by name, also those without a ``functions`` wrapper yet."""
    return Column(UnresolvedFunction(name, tuple(col(c).expr for c in cols)))


def make_table(seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = ROWS

    def mask(rate: float) -> np.ndarray:
        return rng.random(n) < rate

    groups = np.array(["north", "south", "east", "west", "x"], dtype=object)
    g1 = [None if m else g for g, m in zip(rng.choice(groups, n), mask(0.05), strict=True)]
    words = np.array(["pear", "apple", "fig", "kiwi", "", "Zoë"], dtype=object)
    s = [None if m else w for w, m in zip(rng.choice(words, n), mask(0.1), strict=True)]
    return pa.table({
        "id": pa.array(rng.permutation(np.arange(1, n + 1, dtype=np.int64))),
        "g1": pa.array(g1, pa.string()),
        "g2": pa.array(rng.integers(0, 6, n), pa.int32(), mask=mask(0.05)),
        "t": pa.array(rng.integers(0, 40, n), pa.int64(), mask=mask(0.06)),
        "x": pa.array(np.round(rng.uniform(-100, 400, n), 2), pa.float64(), mask=mask(0.15)),
        "n": pa.array(rng.integers(-20, 60, n), pa.int32(), mask=mask(0.1)),
        "s": pa.array(s, pa.string()),
    })


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return make_table()


@pytest.fixture(scope="module")
def duck(table: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.register("w", table)
    yield con
    con.close()


@pytest.fixture(scope="module")
def df(spark: SparkSession, table: pa.Table) -> DataFrame:
    return spark.createDataFrame(table)


# ---------------------------------------------------------------------------------------------
# Comparing results


def _key(row: tuple) -> tuple:
    return tuple((0,) if v is None else (2,) if isinstance(v, float) and math.isnan(v)
                 else (1, round(v, 6) if isinstance(v, float) else v) for v in row)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def _rows(t: pa.Table) -> list[tuple]:
    return sorted(zip(*(c.to_pylist() for c in t.columns), strict=True), key=_key)


def assert_matches(got_df: DataFrame, con: duckdb.DuckDBPyConnection, sql: str) -> None:
    got = got_df.toArrow()
    want = con.sql(sql).to_arrow_table()
    assert got.column_names == want.column_names
    want_types = [pa.string() if pa.types.is_string_view(f.type) or
                  pa.types.is_large_string(f.type) else f.type for f in want.schema]
    assert got.schema.types == want_types, f"types differ for {got.column_names}"
    got_rows, want_rows = _rows(got), _rows(want)
    assert len(got_rows) == len(want_rows)
    bad = [(g, w) for g, w in zip(got_rows, want_rows, strict=True)
           if not all(_same(a, b) for a, b in zip(g, w, strict=True))]
    assert not bad, f"{len(bad)} rows differ, e.g. ember {bad[0][0]} != duckdb {bad[0][1]}"


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[DataFrame], DataFrame]
    sql: str


BY_G1_T = Window.partitionBy("g1").orderBy("t")
BY_G1_T_ID = Window.partitionBy("g1").orderBy("t", "id")
# SQL spellings of the same windows, with Spark's null ordering made explicit.
W_G1_T = "PARTITION BY g1 ORDER BY t ASC NULLS FIRST"
W_G1_T_ID = "PARTITION BY g1 ORDER BY t ASC NULLS FIRST, id ASC NULLS FIRST"

CASES = [
    Case("ranking_functions_share_ranks_among_ties",
         lambda df: df.select(
             "id", F.row_number().over(BY_G1_T_ID).alias("rn"),
             F.rank().over(BY_G1_T).alias("rk"), F.dense_rank().over(BY_G1_T).alias("dr"),
             F.percent_rank().over(BY_G1_T).alias("pr"),
             F.cume_dist().over(BY_G1_T).alias("cd")),
         f"SELECT id, CAST(row_number() OVER ({W_G1_T_ID}) AS INTEGER) AS rn, "
         f"CAST(rank() OVER ({W_G1_T}) AS INTEGER) AS rk, "
         f"CAST(dense_rank() OVER ({W_G1_T}) AS INTEGER) AS dr, "
         f"percent_rank() OVER ({W_G1_T}) AS pr, cume_dist() OVER ({W_G1_T}) AS cd FROM w"),
    Case("ntile_spreads_remainder_over_first_buckets",
         lambda df: df.select(
             "id", F.ntile(3).over(BY_G1_T_ID).alias("t3"),
             F.ntile(7).over(Window.partitionBy("g1", "g2").orderBy("t", "id")).alias("t7"),
             F.ntile(1000).over(BY_G1_T_ID).alias("t1000")),
         f"SELECT id, CAST(ntile(3) OVER ({W_G1_T_ID}) AS INTEGER) AS t3, "
         "CAST(ntile(7) OVER (PARTITION BY g1, g2 ORDER BY t ASC NULLS FIRST, id) AS INTEGER) "
         f"AS t7, CAST(ntile(1000) OVER ({W_G1_T_ID}) AS INTEGER) AS t1000 FROM w"),
    Case("several_partition_keys",
         lambda df: df.select(
             "id",
             F.row_number().over(Window.partitionBy("g1", "g2").orderBy("t", "id")).alias("rn"),
             F.sum("n").over(Window.partitionBy(col("g1"), col("g2")).orderBy("t")).alias("s"),
             F.count("*").over(Window.partitionBy("g1", "g2")).alias("c")),
         "SELECT id, CAST(row_number() OVER (PARTITION BY g1, g2 ORDER BY t ASC NULLS FIRST, id) "
         "AS INTEGER) AS rn, CAST(sum(n) OVER (PARTITION BY g1, g2 ORDER BY t ASC NULLS FIRST) "
         "AS BIGINT) AS s, count(*) OVER (PARTITION BY g1, g2) AS c FROM w"),
    Case("no_partition_key_is_one_window_over_all_rows",
         lambda df: df.select(
             "id", F.row_number().over(Window.orderBy(col("t").desc(), "id")).alias("rn"),
             F.rank().over(Window.orderBy(col("t").desc())).alias("rk"),
             F.sum("x").over(Window.orderBy("t")).alias("running"),
             F.max("n").over(Window.partitionBy()).alias("top")),
         "SELECT id, CAST(row_number() OVER (ORDER BY t DESC NULLS LAST, id) AS INTEGER) AS rn, "
         "CAST(rank() OVER (ORDER BY t DESC NULLS LAST) AS INTEGER) AS rk, "
         "sum(x) OVER (ORDER BY t ASC NULLS FIRST) AS running, max(n) OVER () AS top FROM w"),
    Case("descending_order_puts_nulls_last",
         lambda df: df.select(
             "id", F.rank().over(Window.partitionBy("g2").orderBy(col("x").desc())).alias("rk"),
             F.dense_rank().over(Window.partitionBy("g2").orderBy(col("n").desc_nulls_first()))
             .alias("dr"),
             F.sum("n").over(Window.partitionBy("g2").orderBy(F.desc("s"))).alias("s")),
         "SELECT id, CAST(rank() OVER (PARTITION BY g2 ORDER BY x DESC NULLS LAST) AS INTEGER) "
         "AS rk, CAST(dense_rank() OVER (PARTITION BY g2 ORDER BY n DESC NULLS FIRST) AS INTEGER) "
         "AS dr, CAST(sum(n) OVER (PARTITION BY g2 ORDER BY s DESC NULLS LAST) AS BIGINT) AS s "
         "FROM w"),
    Case("lag_and_lead_with_offsets_and_defaults",
         lambda df: df.select(
             "id", F.lag("n").over(BY_G1_T_ID).alias("lag1"),
             F.lag("n", 2, 0).over(BY_G1_T_ID).alias("lag2"),
             F.lead("x").over(BY_G1_T_ID).alias("lead1"),
             F.lead("s", 3, "none").over(BY_G1_T_ID).alias("lead3"),
             F.lag(col("x") * 2, -1).over(BY_G1_T_ID).alias("neg")),
         f"SELECT id, lag(n) OVER ({W_G1_T_ID}) AS lag1, lag(n, 2, 0) OVER ({W_G1_T_ID}) AS lag2, "
         f"lead(x) OVER ({W_G1_T_ID}) AS lead1, lead(s, 3, 'none') OVER ({W_G1_T_ID}) AS lead3, "
         f"lead(x * 2, 1) OVER ({W_G1_T_ID}) AS neg FROM w"),
    # The default frame with an ORDER BY is RANGE ... CURRENT ROW: tied rows share the value.
    Case("aggregates_over_default_range_frame_include_peers",
         lambda df: df.select(
             "id", F.sum("x").over(BY_G1_T).alias("sx"), F.sum("n").over(BY_G1_T).alias("sn"),
             F.avg("n").over(BY_G1_T).alias("an"), F.min("x").over(BY_G1_T).alias("mn"),
             F.max("s").over(BY_G1_T).alias("mx"), F.count("x").over(BY_G1_T).alias("cx"),
             F.count("*").over(BY_G1_T).alias("c"), F.mean("x").over(BY_G1_T).alias("ax")),
         f"SELECT id, sum(x) OVER ({W_G1_T}) AS sx, CAST(sum(n) OVER ({W_G1_T}) AS BIGINT) AS sn, "
         f"avg(n) OVER ({W_G1_T}) AS an, min(x) OVER ({W_G1_T}) AS mn, "
         f"max(s) OVER ({W_G1_T}) AS mx, count(x) OVER ({W_G1_T}) AS cx, "
         f"count(*) OVER ({W_G1_T}) AS c, avg(x) OVER ({W_G1_T}) AS ax FROM w"),
    Case("rangeBetween_unbounded_to_current_row_is_the_default_frame",
         lambda df: df.select(
             "id", F.sum("x").over(BY_G1_T.rangeBetween(Window.unboundedPreceding,
                                                        Window.currentRow)).alias("explicit"),
             F.sum("x").over(BY_G1_T).alias("default")),
         f"SELECT id, sum(x) OVER ({W_G1_T}) AS explicit, sum(x) OVER ({W_G1_T}) AS default "
         "FROM w"),
    Case("aggregates_without_order_cover_the_whole_partition",
         lambda df: df.select(
             "id", F.sum("n").over(Window.partitionBy("g1")).alias("s"),
             F.avg("x").over(Window.partitionBy("g1")).alias("a"),
             F.min("s").over(Window.partitionBy("g1")).alias("mn"),
             F.max("x").over(Window.partitionBy("g1")).alias("mx"),
             F.count("n").over(Window.partitionBy("g1")).alias("c")),
         "SELECT id, CAST(sum(n) OVER (PARTITION BY g1) AS BIGINT) AS s, "
         "avg(x) OVER (PARTITION BY g1) AS a, min(s) OVER (PARTITION BY g1) AS mn, "
         "max(x) OVER (PARTITION BY g1) AS mx, count(n) OVER (PARTITION BY g1) AS c FROM w"),
    # Aggregates without a frame computation of their own run once per window partition.
    Case("other_aggregates_over_whole_partitions",
         lambda df: df.select(
             "id", aggregate("stddev", "x").over(Window.partitionBy("g1")).alias("sd"),
             aggregate("corr", "x", "n").over(Window.partitionBy("g2")).alias("c"),
             aggregate("var_pop", "n").over(Window.partitionBy("g1").orderBy("t").rowsBetween(
                 Window.unboundedPreceding, Window.unboundedFollowing)).alias("vp")),
         "SELECT id, stddev_samp(x) OVER (PARTITION BY g1) AS sd, "
         "corr(x, n) OVER (PARTITION BY g2) AS c, var_pop(n) OVER (PARTITION BY g1) AS vp "
         "FROM w"),
    Case("rowsBetween_one_before_and_one_after",
         lambda df: df.select(
             "id", *[getattr(F, f)(c).over(BY_G1_T_ID.rowsBetween(-1, 1)).alias(f"{f}_{c}")
                     for f in ("sum", "avg", "min", "max", "count") for c in ("x", "n")]),
         "SELECT id, " + ", ".join(
             (f"CAST(sum({c}) OVER ({W_G1_T_ID} ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) "
              f"AS BIGINT) AS sum_{c}") if (f, c) == ("sum", "n") else
             f"{f}({c}) OVER ({W_G1_T_ID} ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS {f}_{c}"
             for f in ("sum", "avg", "min", "max", "count") for c in ("x", "n")) + " FROM w"),
    Case("rowsBetween_unbounded_preceding_and_current_row",
         lambda df: df.select(
             "id", F.sum("x").over(BY_G1_T_ID.rowsBetween(Window.unboundedPreceding, 0))
             .alias("sx"),
             F.min("n").over(BY_G1_T_ID.rowsBetween(Window.unboundedPreceding, 0)).alias("mn"),
             F.max("x").over(BY_G1_T.rowsBetween(Window.unboundedPreceding, Window.currentRow))
             .alias("mx"),
             F.count("x").over(BY_G1_T_ID.rowsBetween(Window.unboundedPreceding, 0)).alias("c")),
         f"SELECT id, sum(x) OVER ({W_G1_T_ID} ROWS UNBOUNDED PRECEDING) AS sx, "
         f"min(n) OVER ({W_G1_T_ID} ROWS UNBOUNDED PRECEDING) AS mn, "
         f"max(x) OVER ({W_G1_T_ID} ROWS UNBOUNDED PRECEDING) AS mx, "
         f"count(x) OVER ({W_G1_T_ID} ROWS UNBOUNDED PRECEDING) AS c FROM w"),
    Case("wide_and_one_sided_row_frames",
         lambda df: df.select(
             "id", F.sum("n").over(BY_G1_T_ID.rowsBetween(-100, 50)).alias("wide"),
             F.max("x").over(BY_G1_T_ID.rowsBetween(0, Window.unboundedFollowing)).alias("rest"),
             F.min("s").over(BY_G1_T_ID.rowsBetween(-7, -2)).alias("before"),
             F.avg("x").over(BY_G1_T_ID.rowsBetween(3, 90)).alias("after")),
         f"SELECT id, CAST(sum(n) OVER ({W_G1_T_ID} ROWS BETWEEN 100 PRECEDING AND 50 FOLLOWING) "
         "AS BIGINT) AS wide, "
         f"max(x) OVER ({W_G1_T_ID} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest, "
         f"min(s) OVER ({W_G1_T_ID} ROWS BETWEEN 7 PRECEDING AND 2 PRECEDING) AS before, "
         f"avg(x) OVER ({W_G1_T_ID} ROWS BETWEEN 3 FOLLOWING AND 90 FOLLOWING) AS after FROM w"),
    # A null ordering value frames the null rows, its peers, in both engines.
    Case("range_frames_with_value_offsets",
         lambda df: df.select(
             "id", F.sum("n").over(BY_G1_T.rangeBetween(-3, 2)).alias("near"),
             F.count("*").over(Window.partitionBy("g1").orderBy(col("t").desc())
                               .rangeBetween(-5, 0)).alias("above"),
             F.max("x").over(BY_G1_T.rangeBetween(Window.currentRow, Window.unboundedFollowing))
             .alias("rest"),
             F.avg("x").over(Window.partitionBy("g2").orderBy("x").rangeBetween(-10.5, 10.5))
             .alias("close")),
         f"SELECT id, CAST(sum(n) OVER ({W_G1_T} RANGE BETWEEN 3 PRECEDING AND 2 FOLLOWING) "
         "AS BIGINT) AS near, count(*) OVER (PARTITION BY g1 ORDER BY t DESC NULLS LAST "
         "RANGE BETWEEN 5 PRECEDING AND CURRENT ROW) AS above, "
         f"max(x) OVER ({W_G1_T} RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest, "
         "avg(x) OVER (PARTITION BY g2 ORDER BY x ASC NULLS FIRST "
         "RANGE BETWEEN 10.5 PRECEDING AND 10.5 FOLLOWING) AS close FROM w"),
    Case("first_and_last_respect_or_ignore_nulls",
         lambda df: df.select(
             "id", F.first("x").over(BY_G1_T_ID).alias("f"),
             F.last("x").over(BY_G1_T).alias("l"),
             F.first("x", ignorenulls=True).over(BY_G1_T_ID.rowsBetween(-2, 2)).alias("fi"),
             F.last("s", True).over(BY_G1_T_ID.rowsBetween(-3, 0)).alias("li"),
             F.last("n", True).over(Window.partitionBy("g1").orderBy("id")).alias("lr")),
         f"SELECT id, first_value(x) OVER ({W_G1_T_ID}) AS f, last_value(x) OVER ({W_G1_T}) AS l, "
         f"first_value(x IGNORE NULLS) OVER ({W_G1_T_ID} ROWS BETWEEN 2 PRECEDING AND 2 "
         f"FOLLOWING) AS fi, last_value(s IGNORE NULLS) OVER ({W_G1_T_ID} ROWS BETWEEN 3 "
         "PRECEDING AND CURRENT ROW) AS li, last_value(n IGNORE NULLS) OVER (PARTITION BY g1 "
         "ORDER BY id) AS lr FROM w"),
    Case("window_expressions_nested_in_other_expressions",
         lambda df: df.select(
             "id", (F.sum("x").over(BY_G1_T) / 2).alias("half"),
             (col("x") - F.avg("x").over(Window.partitionBy("g1"))).alias("centred"),
             (F.row_number().over(BY_G1_T_ID) * 10 + F.rank().over(BY_G1_T)).alias("mix"),
             F.coalesce(F.lag("n").over(BY_G1_T_ID), F.lit(-1)).alias("prev")),
         f"SELECT id, sum(x) OVER ({W_G1_T}) / 2 AS half, "
         "x - avg(x) OVER (PARTITION BY g1) AS centred, "
         f"CAST(row_number() OVER ({W_G1_T_ID}) * 10 + rank() OVER ({W_G1_T}) AS INTEGER) AS mix, "
         f"coalesce(lag(n) OVER ({W_G1_T_ID}), -1) AS prev FROM w"),
    Case("windows_over_computed_keys",
         lambda df: df.select(
             "id", F.row_number().over(Window.partitionBy(col("n") % 3)
                                       .orderBy((col("x") * -1).asc_nulls_last(), "id"))
             .alias("rn")),
         "SELECT id, CAST(row_number() OVER (PARTITION BY n % 3 ORDER BY x * -1 ASC NULLS LAST, "
         "id) AS INTEGER) AS rn FROM w"),
    Case("top_two_rows_per_group_by_row_number",
         lambda df: df.withColumn(
             "rn", F.row_number().over(Window.partitionBy("g1").orderBy(col("x").desc(), "id")))
         .filter(col("rn") <= 2).select("g1", "id", "x", "rn"),
         "SELECT g1, id, x, CAST(rn AS INTEGER) AS rn FROM (SELECT *, row_number() OVER "
         "(PARTITION BY g1 ORDER BY x DESC NULLS LAST, id) AS rn FROM w) WHERE rn <= 2"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_window_query_matches_duckdb(case: Case, df: DataFrame,
                                     duck: duckdb.DuckDBPyConnection) -> None:
    assert_matches(case.build(df), duck, case.sql)


def test_windows_with_different_specs_in_one_select_and_with_column(
        df: DataFrame, duck: duckdb.DuckDBPyConnection) -> None:
    got = (df.withColumn("rn", F.row_number().over(BY_G1_T_ID))
           .withColumn("total", F.sum("n").over(Window.partitionBy("g2")))
           .withColumn("prev_rn", F.lag("rn").over(Window.partitionBy("g2").orderBy("id")))
           .select("id", "rn", "total", "prev_rn"))
    assert_matches(got, duck, f"""
        SELECT id, rn, total, CAST(lag(rn) OVER (PARTITION BY g2 ORDER BY id) AS INTEGER)
        AS prev_rn FROM (SELECT id, g2, CAST(row_number() OVER ({W_G1_T_ID}) AS INTEGER) AS rn,
        CAST(sum(n) OVER (PARTITION BY g2) AS BIGINT) AS total FROM w)""")


# ---------------------------------------------------------------------------------------------
# Names, plans and errors


def _physical(df: DataFrame) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        df.explain()
    return out.getvalue()


def test_unaliased_window_columns_are_named_as_spark_names_them(df: DataFrame) -> None:
    got = df.select(F.row_number().over(BY_G1_T), F.sum("x").over(Window.partitionBy("g1")),
                    F.lag("n").over(BY_G1_T), F.rank().over(BY_G1_T.orderBy(col("t").desc())))
    assert got.columns == [
        "row_number() OVER (PARTITION BY g1 ORDER BY t ASC NULLS FIRST ROWS BETWEEN UNBOUNDED "
        "PRECEDING AND CURRENT ROW)",
        "sum(x) OVER (PARTITION BY g1 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
        "lag(n, 1, NULL) OVER (PARTITION BY g1 ORDER BY t ASC NULLS FIRST ROWS BETWEEN -1 "
        "FOLLOWING AND -1 FOLLOWING)",
        "RANK() OVER (PARTITION BY g1 ORDER BY t DESC NULLS LAST ROWS BETWEEN UNBOUNDED "
        "PRECEDING AND CURRENT ROW)",
    ]
    assert got.dtypes[0] == (got.columns[0], "int")


def test_explain_shows_window_nodes_over_a_hash_exchange_on_the_partition_keys(
        df: DataFrame) -> None:
    plan = _physical(df.select("id", F.row_number().over(BY_G1_T_ID).alias("rn"),
                               F.sum("x").over(Window.partitionBy("g1")).alias("s")))
    assert plan.count("Window [") == 2
    # The second window partitions by the same key: the first one's shuffle serves both.
    assert plan.count("Exchange") == 1
    assert "Exchange hashpartitioning(g1#" in plan


def test_a_window_without_partition_keys_gathers_into_one_partition(df: DataFrame) -> None:
    plan = _physical(df.select(F.row_number().over(Window.orderBy("id")).alias("rn")))
    assert "Window [" in plan and "Exchange SinglePartition" in plan


def test_first_and_last_work_as_aggregates_too(spark: SparkSession) -> None:
    data = spark.createDataFrame([("a", None), ("a", 1), ("a", None), ("b", None), ("b", None)],
                                 "k string, v int")
    got = data.groupBy("k").agg(F.first("v", True).alias("f"), F.last("v", True).alias("l"))
    assert sorted(got.collect()) == [("a", 1, 1), ("b", None, None)]
    # As in Spark, the ignore-nulls flag is not part of the name.
    assert data.groupBy("k").agg(F.first("v", True), F.last("v")).columns == [
        "k", "first(v)", "last(v)"]


INVALID = {
    "ranking_without_order": (
        lambda d: d.select(F.row_number().over(Window.partitionBy("g1"))), "requires the window"),
    "window_function_without_over": (lambda d: d.select(F.rank()), "needs a window"),
    "frame_on_lag": (
        lambda d: d.select(F.lag("x").over(BY_G1_T.rowsBetween(-1, 1))), "fixed window frame"),
    "distinct_aggregate": (
        lambda d: d.select(F.count_distinct("x").over(BY_G1_T)), "distinct window functions"),
    "range_offsets_over_text": (
        lambda d: d.select(F.sum("x").over(Window.partitionBy("g1").orderBy("s")
                                           .rangeBetween(-1, 1))), "numeric ordering"),
    "range_offsets_over_two_keys": (
        lambda d: d.select(F.sum("x").over(Window.orderBy("t", "id").rangeBetween(-1, 1))),
        "exactly one ordering"),
    "scalar_function_over_window": (
        lambda d: d.select(F.upper("s").over(BY_G1_T)), r"over\(\) applies to"),
    "unknown_column": (lambda d: d.select(F.sum("nope").over(BY_G1_T)), "cannot be resolved"),
    "ntile_of_zero": (lambda d: d.select(F.ntile(0).over(BY_G1_T)), "positive integer"),
    "running_frame_of_a_per_partition_aggregate": (
        lambda d: d.select(aggregate("stddev", "x").over(BY_G1_T)), "cover the whole partition"),
}


@pytest.mark.parametrize(("build", "message"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_windows_are_rejected_with_a_hint(df: DataFrame, build: Callable[[DataFrame], Any],
                                                  message: str) -> None:
    with pytest.raises(AnalysisException, match=message):
        build(df)


def test_frame_bounds_are_checked_when_the_window_is_built() -> None:
    with pytest.raises(AnalysisException, match="must not be above"):
        Window.rowsBetween(2, 1)
    with pytest.raises(AnalysisException, match="cannot start at"):
        Window.rowsBetween(Window.unboundedFollowing, Window.unboundedFollowing)
    with pytest.raises(AnalysisException, match="whole numbers"):
        Window.rowsBetween(-1.5, 0)
    assert (Window.unboundedPreceding, Window.unboundedFollowing, Window.currentRow) == (
        -(1 << 63), (1 << 63) - 1, 0)


def test_window_functions_inside_filter_or_aggregation_are_refused_at_analysis(spark) -> None:  # type: ignore[no-untyped-def]
    from ember.errors import AnalysisException
    from ember.sql import functions as F
    from ember.sql.window import Window

    df = spark.range(5)
    ranked = F.row_number().over(Window.orderBy("id"))
    with pytest.raises(AnalysisException, match="cannot be used inside filter"):
        df.filter(ranked < 3)
    with pytest.raises(AnalysisException, match="cannot be used inside groupBy"):
        df.groupBy().agg(F.sum(ranked))
    assert df.withColumn("r", ranked).filter("r < 3").count() == 2
