"""explain() prints plans in Spark's manner: four sections, ids, quotes, stages, exchanges."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ember.sql import functions as F


def _query(spark):  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([(1, "a", 2.0), (2, "b", None)], ["x", "k", "v"])
    dim = spark.createDataFrame([("a", 10)], ["k", "w"])
    return (df.filter(F.col("x") > 1).join(dim, "k")
            .groupBy("k").agg(F.sum("v").alias("s")).orderBy("k"))


def test_explain_extended_has_the_four_plans(spark) -> None:  # type: ignore[no-untyped-def]
    text = _query(spark)._explain_string(True)
    sections = ["== Parsed Logical Plan ==", "== Analyzed Logical Plan ==",
                "== Optimized Logical Plan ==", "== Physical Plan =="]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    parsed, analyzed, optimized, physical = (
        text[a:b] for a, b in zip(positions, positions[1:] + [len(text)], strict=True))
    # unresolved names are quoted before analysis, and carry ids after it
    assert "'Sort ['k ASC NULLS FIRST], true" in parsed
    assert "'Filter ('x > 1)" in parsed
    assert "k: string, s: double" in analyzed
    assert "CAST(1 AS BIGINT)" in analyzed
    # constant folding removed the cast; column pruning dropped x and w above the join
    assert "Filter (x#" in optimized and "> 1)" in optimized and "CAST" not in optimized
    assert "Project [k#" in optimized
    assert "HashAggregate(keys=[k#" in physical and "partial_sum(v)" in physical
    assert "final_sum(v)" in physical
    assert "Exchange hashpartitioning(k#" in physical
    assert "Exchange rangepartitioning(k#" in physical
    assert "BroadcastHashJoin" in physical and "BroadcastExchange" in physical
    assert "*(1) LocalTableScan" in physical


def test_explain_simple_prints_only_the_physical_plan(spark, capsys) -> None:  # type: ignore[no-untyped-def]
    _query(spark).explain()
    out = capsys.readouterr().out
    assert out.startswith("== Physical Plan ==\n")
    assert "Logical Plan" not in out


def test_explain_shows_a_shuffled_join_above_the_broadcast_threshold(spark) -> None:  # type: ignore[no-untyped-def]
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", -1)
    try:
        text = _query(spark)._explain_string()
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", 10 * 1024 * 1024)
    assert "ShuffledHashJoin" in text
    assert text.count("Exchange hashpartitioning") == 3


def test_explain_shows_filters_and_columns_pushed_into_a_parquet_scan(  # type: ignore[no-untyped-def]
        spark, tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [1.0, 2.0, 3.0]}),
                   tmp_path / "t.parquet")
    df = spark.read.parquet(str(tmp_path)).filter(F.col("a") >= 2).select("b")
    text = df._explain_string(True)
    physical = text[text.index("== Physical Plan =="):]
    assert "PushedFilters: [(a#" in physical
    scan = next(line for line in physical.splitlines() if "FileScan parquet" in line)
    assert "c#" not in scan
    assert [r["b"] for r in df.collect()] == ["y", "z"]
