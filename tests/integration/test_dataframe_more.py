"""More of the DataFrame API: missing values, set operations with duplicates, pivot, sampling."""

from __future__ import annotations

import pytest

from ember.errors import AnalysisException
from ember.sql import functions as F

ROWS = [(1, "a", None, 2.0), (1, "b", 5, None), (2, "a", 3, 1.0), (None, "a", None, None),
        (1, "a", None, 2.0)]


@pytest.fixture(scope="module")
def df(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(ROWS, ["k", "x", "y", "z"])


def rows(frame) -> list[tuple]:  # type: ignore[no-untyped-def]
    return sorted((tuple(r) for r in frame.collect()),
                  key=lambda t: tuple((v is None, str(v)) for v in t))


def test_fillna_fills_only_columns_of_the_value_type(df) -> None:  # type: ignore[no-untyped-def]
    assert rows(df.fillna(0)) == sorted([
        (1, "a", 0, 2.0), (1, "b", 5, 0.0), (2, "a", 3, 1.0), (0, "a", 0, 0.0), (1, "a", 0, 2.0)],
        key=lambda t: tuple((v is None, str(v)) for v in t))
    filled = df.na.fill({"x": "q", "z": -1.0})
    assert [r.z for r in filled.orderBy("k", "x", "y").collect()] == [-1.0, 2.0, 2.0, -1.0, 1.0]
    assert df.fillna("zz").collect() == df.collect()  # no string column has nulls


def test_dropna_any_all_thresh_and_subset(df) -> None:  # type: ignore[no-untyped-def]
    assert rows(df.dropna()) == [(2, "a", 3, 1.0)]
    assert df.dropna(how="all", subset=["y", "z"]).count() == 4
    assert df.na.drop(thresh=3).count() == 4
    assert df.dropna(subset="y").count() == 2


def test_replace_within_matching_columns(df) -> None:  # type: ignore[no-untyped-def]
    out = df.replace("a", "A").select("x").collect()
    assert [r.x for r in out] == ["A", "b", "A", "A", "A"]
    out = df.na.replace([5, 3], [50, 30], subset=["y"]).select("y").collect()
    assert [r.y for r in out] == [None, 50, 30, None, None]


def test_except_all_and_intersect_all_keep_multiplicities(df) -> None:  # type: ignore[no-untyped-def]
    first_two = df.filter(F.col("x") == "b").union(df.filter(F.col("k") == 2))
    assert rows(df.exceptAll(first_two)) == sorted(
        [(1, "a", None, 2.0), (None, "a", None, None), (1, "a", None, 2.0)],
        key=lambda t: tuple((v is None, str(v)) for v in t))
    dup = df.filter(F.col("k") == 1)
    assert rows(df.intersectAll(dup.union(dup))) == rows(dup)
    assert df.intersect(dup.union(dup)).count() == 2  # distinct rows
    assert rows(df.subtract(dup)) == [(2, "a", 3, 1.0), (None, "a", None, None)]


def test_pivot_turns_values_into_columns(df) -> None:  # type: ignore[no-untyped-def]
    counts = df.groupBy("k").pivot("x").count().orderBy("k")
    assert counts.columns == ["k", "a", "b"]
    # a group without rows for a value gets null, as Spark
    assert [tuple(r) for r in counts.collect()] == [(None, 1, None), (1, 2, 1), (2, 1, None)]
    sums = df.groupBy("k").pivot("x", ["a", "b"]).agg(F.sum("y").alias("s"), F.max("z"))
    assert sums.columns == ["k", "a_s", "a_max(z)", "b_s", "b_max(z)"]
    assert [tuple(r) for r in sums.orderBy("k").collect()] == [
        (None, None, None, None, None), (1, None, 2.0, 5, None), (2, 3, 1.0, None, None)]


def test_sample_is_reproducible_and_near_its_fraction(spark) -> None:  # type: ignore[no-untyped-def]
    big = spark.range(20_000, numPartitions=4)
    first = [r.id for r in big.sample(0.1, seed=11).collect()]
    assert first == [r.id for r in big.sample(fraction=0.1, seed=11).collect()]
    assert 1_600 < len(first) < 2_400
    with_replacement = big.sample(True, 0.5, seed=3).count()
    assert 8_500 < with_replacement < 11_500
    with pytest.raises(AnalysisException, match="at most 1"):
        big.sample(1.5)


def test_random_split_parts_are_disjoint_and_cover_every_row(spark) -> None:  # type: ignore[no-untyped-def]
    big = spark.range(10_000, numPartitions=3)
    parts = big.randomSplit([0.5, 0.3, 0.2], seed=7)
    ids = [{r.id for r in p.collect()} for p in parts]
    assert sum(len(s) for s in ids) == 10_000
    assert set().union(*ids) == set(range(10_000))
    assert 4_500 < len(ids[0]) < 5_500 and 1_600 < len(ids[2]) < 2_400


def test_describe_and_summary_match_python_statistics(spark) -> None:  # type: ignore[no-untyped-def]
    import statistics

    people = spark.createDataFrame(
        [(1, "ann", 30, 1.5), (2, "bob", None, 2.0), (3, "cid", 25, None), (4, "dan", 41, 4.25)],
        ["id", "name", "age", "score"])
    described = {r.summary: r for r in people.describe().collect()}
    assert list(described) == ["count", "mean", "stddev", "min", "max"]
    assert described["count"].asDict() == {"summary": "count", "id": "4", "name": "4",
                                           "age": "3", "score": "3"}
    assert float(described["mean"].age) == statistics.mean([30, 25, 41])
    assert float(described["stddev"].score) == pytest.approx(statistics.stdev([1.5, 2.0, 4.25]))
    assert described["mean"].name is None
    assert (described["min"].name, described["max"].name) == ("ann", "dan")
    summary = {r.summary: r for r in people.summary().collect()}
    assert list(summary) == ["count", "mean", "stddev", "min", "25%", "50%", "75%", "max"]
    # percentiles are values of the column, as Spark's approximate percentile gives
    assert (summary["25%"].age, summary["50%"].age, summary["75%"].age) == ("25", "30", "41")
    assert [r.summary for r in people.summary("count", "90%").collect()] == ["count", "90%"]
    with pytest.raises(AnalysisException, match="not a recognised statistic"):
        people.summary("mode")


def test_foreach_runs_in_the_executors_and_local_iterator_yields_every_row(spark,  # type: ignore[no-untyped-def]
                                                                          tmp_path) -> None:
    import os

    df = spark.range(0, 40, numPartitions=4)
    seen = tmp_path / "seen"
    seen.mkdir()

    def record(row) -> None:  # type: ignore[no-untyped-def]
        (seen / f"{row.id}-{os.getpid()}").touch()

    df.foreach(record)
    names = [p.name.split("-") for p in seen.iterdir()]
    assert sorted(int(i) for i, _ in names) == list(range(40))
    assert str(os.getpid()) not in {pid for _, pid in names}

    def count_partition(rows) -> None:  # type: ignore[no-untyped-def]
        ids = [r.id for r in rows]
        (seen / f"partition-{min(ids)}-{len(ids)}").touch()

    df.foreachPartition(count_partition)
    assert sorted(p.name for p in seen.iterdir() if p.name.startswith("partition")) == \
        ["partition-0-10", "partition-10-10", "partition-20-10", "partition-30-10"]
    assert [r.id for r in df.toLocalIterator()] == list(range(40))


def test_udf_as_a_decorator_with_and_without_a_declared_type(spark) -> None:  # type: ignore[no-untyped-def]
    import os

    from ember.sql.types import StringType

    @F.udf("int")
    def plus_one(x):  # type: ignore[no-untyped-def]
        return None if x is None else x + 1

    @F.udf(returnType=StringType())
    def shout(s):  # type: ignore[no-untyped-def]
        return s.upper() + "!"

    @F.udf
    def where_am_i(x):  # type: ignore[no-untyped-def]  (string by default, as PySpark)
        return str(os.getpid())

    df = spark.createDataFrame([(1, "a"), (None, "b")], ["n", "s"])
    out = df.select(plus_one("n").alias("p"), shout("s").alias("u"), where_am_i("n").alias("pid"))
    assert out.dtypes == [("p", "int"), ("u", "string"), ("pid", "string")]
    rows = out.collect()
    assert [(r.p, r.u) for r in rows] == [(2, "A!"), (None, "B!")]
    # user functions run inside the executor processes, not in the driver
    assert {r.pid for r in rows} <= {str(p) for p in spark._runtime().executor_pids().values()}
