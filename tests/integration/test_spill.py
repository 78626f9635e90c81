"""Jobs whose aggregation state, join build side and sort input exceed the executors' execution
memory (512m heap, spark.memory.fraction 0.01: about 2 MiB for execution and storage) spill
and still give DuckDB's answers, nulls included; the executors count the spills."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from executors import metric, small_memory_session, spilled_bytes

from ember.sql import SparkSession
from ember.sql import functions as F

ROWS = 300_000


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = small_memory_session("ember-spill-tests",
                                   **{"spark.sql.autoBroadcastJoinThreshold": "-1"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    n = ROWS
    facts = pa.table({
        "k": pa.array(rng.integers(0, n // 2, n), mask=rng.random(n) < 0.02),
        "x": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.02),
        "s": pa.array(rng.choice([f"name-{i}" for i in range(1000)], n)),
    })
    m = n // 2
    dims = pa.table({
        "id": pa.array(np.arange(m), mask=rng.random(m) < 0.02),
        "label": pa.array([f"label-{i % 997}" for i in range(m)]),
    })
    out = tmp_path_factory.mktemp("spill-data")
    paths = {"facts": out / "facts.parquet", "dims": out / "dims.parquet"}
    pq.write_table(facts, paths["facts"], row_group_size=ROWS // 4)
    pq.write_table(dims, paths["dims"], row_group_size=m // 2)
    return paths


def _metric(spark: SparkSession, name: str) -> list[float]:
    return [v for _, v in sorted(metric(spark._runtime(), name).items())]


def _duck(sql: str, paths: dict[str, Path]) -> pd.DataFrame:
    con = duckdb.connect()
    for name, path in paths.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con.sql(sql).df()


def _same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    got = got.convert_dtypes().sort_values(keys, na_position="first").reset_index(drop=True)
    want = want.convert_dtypes().sort_values(keys, na_position="first").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False, rtol=1e-9)


def test_group_by_with_more_groups_than_memory_spills_and_matches_duckdb(
        spark: SparkSession, tables: dict[str, Path]) -> None:
    before = spilled_bytes(spark)
    df = spark.read.parquet(str(tables["facts"]))
    got = df.groupBy("k").agg(F.sum("x").alias("sx"), F.count("x").alias("cx"),
                              F.min("s").alias("ms")).toPandas()
    want = _duck("SELECT k, sum(x) sx, count(x) cx, min(s) ms FROM facts GROUP BY k", tables)
    _same(got, want, ["k"])
    assert spilled_bytes(spark) > before


def test_shuffled_join_with_a_build_side_larger_than_memory_matches_duckdb(
        spark: SparkSession, tables: dict[str, Path]) -> None:
    before = spilled_bytes(spark)
    facts = spark.read.parquet(str(tables["facts"]))
    dims = spark.read.parquet(str(tables["dims"]))
    got = facts.join(dims, facts.k == dims.id, "left").select("k", "x", "s", "label").toPandas()
    want = _duck("SELECT k, x, s, label FROM facts LEFT JOIN dims ON facts.k = dims.id", tables)
    assert len(got) == len(want)
    _same(got, want, ["k", "x", "s", "label"])
    assert spilled_bytes(spark) > before


def test_order_by_larger_than_memory_spills_and_matches_duckdb(
        spark: SparkSession, tables: dict[str, Path]) -> None:
    before = spilled_bytes(spark)
    df = spark.read.parquet(str(tables["facts"]))
    got = df.orderBy(F.col("x").desc(), F.col("k").asc()).toPandas().convert_dtypes()
    want = _duck("SELECT * FROM facts ORDER BY x DESC NULLS LAST, k ASC NULLS FIRST",
                 tables).convert_dtypes()
    # Rows tied on (x, k) may come in either order: the keys must match row by row.
    pd.testing.assert_frame_equal(got[["x", "k"]], want[["x", "k"]], check_dtype=False)
    _same(got, want, ["x", "k", "s"])
    assert spilled_bytes(spark) > before


def test_executor_metrics_report_accounted_and_process_memory(
        spark: SparkSession, tables: dict[str, Path]) -> None:
    spark.read.parquet(str(tables["facts"])).groupBy("k").count().collect()
    assert _metric(spark, "memory_heap_bytes") == [512 * 2**20] * 2
    # Every task gave its execution memory back when it ended.
    assert _metric(spark, "memory_execution_used_bytes") == [0, 0]
    rss, peak = _metric(spark, "process_rss_bytes"), _metric(spark, "process_peak_rss_bytes")
    assert all(0 < now <= top for now, top in zip(rss, peak, strict=True)), (rss, peak)
    assert len(_metric(spark, "arrow_allocated_bytes")) == 2
