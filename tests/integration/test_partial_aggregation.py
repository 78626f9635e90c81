"""A GROUP BY that does not reduce (almost every row its own group), large enough for each map
task to bypass its partial aggregation after the first chunk, against DuckDB.

Keys come back far apart (from the first chunk into the passed-through rows), and carry nulls
and NaN; values carry nulls and NaN. ``first``/``last``/``collect_list`` follow the input order,
which DuckDB is given as ``ORDER BY rn``; as in Spark that order holds within a map task only, so
the rows of a group are all in one map task.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from ember.exec.aggregate import ADAPTIVE_MIN_ROWS
from ember.sql import SparkSession
from ember.sql import functions as F

# Two map tasks of more than the first chunk each.
PART = ADAPTIVE_MIN_ROWS + 30_000
ROWS = 2 * PART
# The last rows of each map task take the keys of its first rows again.
REPEATED = 10_000


def _table() -> pa.Table:
    rng = np.random.default_rng(7)
    rn = np.arange(ROWS)
    pos = rn % PART
    k1 = np.where(pos >= PART - REPEATED, rn - (PART - REPEATED), rn)
    k1_null = (rn % 997 == 5) & (rn < PART)
    k2 = np.where(rn % 1009 == 3, np.nan, (rn % 3).astype(np.float64))
    v = rng.integers(-1000, 1000, ROWS)
    x = rng.normal(size=ROWS).round(3)
    x[rn % 101 == 0] = np.nan
    y = rng.normal(size=ROWS).round(3)
    s = np.array([f"s{i % 5000:04d}" for i in rng.integers(0, 10**6, ROWS)], dtype=object)
    return pa.table({
        "rn": pa.array(rn),
        "k1": pa.array(k1, mask=k1_null),
        "k2": pa.array(k2),
        "v": pa.array(v, mask=rn % 7 == 0),
        "x": pa.array(x, mask=rn % 13 == 0),
        "y": pa.array(y, mask=rn % 17 == 0),
        "s": pa.array(s, mask=rn % 11 == 0),
    })


EMBER_AGGS = [
    F.sum("v").alias("sum_v"),
    F.count("v").alias("count_v"),
    F.count("*").alias("count_all"),
    F.avg("v").alias("avg_v"),
    F.min("x").alias("min_x"),
    F.max("x").alias("max_x"),
    F.min("s").alias("min_s"),
    F.max("s").alias("max_s"),
    F.first("s").alias("first_s"),
    F.last("v").alias("last_v"),
    F.first("s", ignorenulls=True).alias("first_nn_s"),
    F.stddev("x").alias("stddev_x"),
    F.var_pop("y").alias("var_pop_y"),
    F.corr("x", "y").alias("corr_xy"),
    F.covar_samp("x", "y").alias("covar_xy"),
    F.collect_list("s").alias("list_s"),
]

# Spark's semantics in DuckDB: nulls are skipped (first ignoring nulls via FILTER); max puts NaN
# above every double, as DuckDB does; statistics over too few rows are null, and so is a
# correlation with a constant input (Spark's division by zero); an empty list is [].
DUCKDB_SQL = """
SELECT k1, k2,
  sum(v)::BIGINT AS sum_v, count(v) AS count_v, count(*) AS count_all, avg(v) AS avg_v,
  min(x) AS min_x, max(x) AS max_x, min(s) AS min_s, max(s) AS max_s,
  first(s ORDER BY rn) AS first_s, last(v ORDER BY rn) AS last_v,
  first(s ORDER BY rn) FILTER (WHERE s IS NOT NULL) AS first_nn_s,
  stddev_samp(x) AS stddev_x, var_pop(y) AS var_pop_y,
  CASE WHEN count(x + y) < 2 THEN NULL
       WHEN var_pop(x) FILTER (WHERE y IS NOT NULL)
            * var_pop(y) FILTER (WHERE x IS NOT NULL) = 0 THEN NULL
       ELSE corr(x, y) END AS corr_xy,
  CASE WHEN count(x + y) < 2 THEN NULL ELSE covar_samp(x, y) END AS covar_xy,
  coalesce(list(s ORDER BY rn) FILTER (WHERE s IS NOT NULL), []) AS list_s
FROM t GROUP BY k1, k2
"""


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    k1, k2 = row[0], row[1]
    return (k1 is None, k1 or 0, k2 is None, math.isnan(k2) if k2 is not None else False,
            k2 if k2 is not None and not math.isnan(k2) else 0.0)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _table()


def test_non_reducing_group_by_matches_duckdb(spark: SparkSession, table: pa.Table) -> None:
    df = spark.createDataFrame(table)
    assert df.rdd.getNumPartitions() == 2  # contiguous slices: map order is input order
    got = df.groupBy("k1", "k2").agg(*EMBER_AGGS).toArrow()
    con = duckdb.connect()
    con.register("t", table)
    expected = con.sql(DUCKDB_SQL).to_arrow_table()
    con.close()
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows
    assert got.num_rows > 0.9 * ROWS  # close to one group per row
    got_rows = sorted(zip(*(c.to_pylist() for c in got.columns), strict=True), key=_sort_key)
    exp_rows = sorted(zip(*(c.to_pylist() for c in expected.columns), strict=True),
                      key=_sort_key)
    names = got.column_names
    for g, e in zip(got_rows, exp_rows, strict=True):
        for name, a, b in zip(names, g, e, strict=True):
            assert _same(a, b), f"{name} of group {g[:2]}: ember {a!r}, DuckDB {b!r}"


def test_the_adaptive_settings_reach_the_planner(spark: SparkSession) -> None:
    key = "spark.sql.execution.aggregate.adaptivePartialAggregation"
    conf = spark._runtime().planner_conf()
    assert (conf.adaptive_partial_aggregation, conf.adaptive_min_rows,
            conf.adaptive_min_compaction) == (True, ADAPTIVE_MIN_ROWS, 1.05)
    spark.conf.set(f"{key}.enabled", "false")
    spark.conf.set(f"{key}.minRows", "500")
    spark.conf.set(f"{key}.minCompaction", "2.5")
    try:
        conf = spark._runtime().planner_conf()
        assert (conf.adaptive_partial_aggregation, conf.adaptive_min_rows,
                conf.adaptive_min_compaction) == (False, 500, 2.5)
        spark.conf.set(f"{key}.minCompaction", "lots")
        with pytest.raises(Exception, match=f"{key}.minCompaction must be a number"):
            spark._runtime().planner_conf()
    finally:
        for name in ("enabled", "minRows", "minCompaction"):
            spark.conf.unset(f"{key}.{name}")
