"""cache/persist, checkpoints and lost cached blocks on real executors, checked against pandas
and plain Python. Computations are counted through a side effect: each partition (or row)
computed appends a line to a file."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from executors import metric

from ember.core.storagelevel import StorageLevel
from ember.errors import IllegalArgumentException, SparkJobError
from ember.sql import functions as F


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _counted_frame(spark: Any, log: Path, rows: int = 400, parts: int = 4) -> Any:
    """``(k, s)``: sums of ``2 * id`` by ``id % 5``; every row computed is logged."""
    @F.udf("long")
    def doubled(x: int) -> int:
        with open(log, "a") as f:
            f.write("row\n")
        return 2 * x

    return spark.range(0, rows, numPartitions=parts).withColumn("d", doubled("id")) \
        .groupBy((F.col("id") % 5).alias("k")).agg(F.sum("d").alias("s"))


def _expected(rows: int = 400) -> list[tuple[int, int]]:
    pdf = pd.DataFrame({"id": range(rows)})
    pdf["k"], pdf["d"] = pdf["id"] % 5, pdf["id"] * 2
    return sorted(pdf.groupby("k")["d"].sum().items())


def _wait_executors(runtime: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(runtime.executors) < n:
        assert time.monotonic() < deadline, "executors did not register"
        time.sleep(0.05)


def test_a_cached_dataframes_second_action_recomputes_nothing(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    log = tmp_path / "computed"
    df = _counted_frame(spark, log).cache()
    assert df.is_cached and df.storageLevel == StorageLevel.MEMORY_AND_DISK_DESER
    assert sorted((r.k, r.s) for r in df.collect()) == _expected()
    assert _lines(log) == 400
    assert df.count() == 5
    # A DataFrame built on the cached one reads the cache too.
    assert sorted((r.k, r.s) for r in df.filter("k >= 2").collect()) == _expected()[2:]
    assert _lines(log) == 400
    stages = runtime.job_history[-1]["stages"]
    assert len(stages) == 1 and not next(iter(stages.values()))["reads"]
    assert "InMemoryTableScan" in df.filter("k >= 2")._explain_string()
    cache_id = runtime.cached_entry(df._plan).cache_id
    assert [b for b in runtime.block_master.blocks() if b.startswith(f"rdd_{cache_id}_")]
    df.unpersist()
    assert not df.is_cached
    assert not [b for b in runtime.block_master.blocks() if b.startswith(f"rdd_{cache_id}_")]
    assert sorted((r.k, r.s) for r in df.collect()) == _expected()
    assert _lines(log) == 800


def test_a_cached_rdd_is_computed_once_and_read_locally(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    sc = spark.sparkContext
    log = tmp_path / "partitions"

    def tagged(split: int, it: Any) -> Any:
        with open(log, "a") as f:
            f.write(f"{split}\n")
        return ((x % 7, x * x) for x in it)

    rdd = sc.parallelize(range(1000), 4).mapPartitionsWithIndex(tagged).cache()
    expected = sorted((x % 7, x * x) for x in range(1000))
    assert sorted(rdd.collect()) == expected
    assert _lines(log) == 4
    remote_before = sum(metric(runtime, "remote_block_fetches_total").values())
    assert rdd.count() == 1000
    assert sorted(rdd.reduceByKey(lambda a, b: a + b).collect()) == sorted(
        pd.DataFrame(expected).groupby(0)[1].sum().items())
    assert _lines(log) == 4
    # Tasks went to the executors holding the blocks (PROCESS_LOCAL): nothing was fetched.
    assert sum(metric(runtime, "remote_block_fetches_total").values()) == remote_before
    assert rdd.getStorageLevel() == StorageLevel.MEMORY_ONLY
    rdd.unpersist()
    assert rdd.count() == 1000
    assert _lines(log) == 8


def test_executors_serve_cached_blocks_over_http_with_the_token(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    df = spark.range(0, 300, numPartitions=3).selectExpr("id", "id * id AS sq").cache()
    assert df.count() == 300
    cache_id = runtime.cached_entry(df._plan).cache_id
    rows = []
    for p in range(3):
        (holder,) = runtime.block_master.locations(f"rdd_{cache_id}_{p}")
        url = f"{runtime.executors[holder].address}/blocks/rdd_{cache_id}_{p}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {runtime.token}"})
        data = urllib.request.urlopen(request, timeout=10).read()
        rows += pa.ipc.open_stream(data).read_all().to_pylist()
    assert sorted(tuple(r.values()) for r in rows) == [(i, i * i) for i in range(300)]
    df.unpersist()


@pytest.mark.parametrize("level", ["DISK_ONLY", "MEMORY_ONLY_SER", "MEMORY_AND_DISK",
                                   "MEMORY_ONLY"])
def test_every_storage_level_gives_the_same_rows(spark, tmp_path: Path, level: str) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "computed"
    df = _counted_frame(spark, log, rows=100).persist(getattr(StorageLevel, level))
    for _ in range(2):
        assert sorted((r.k, r.s) for r in df.collect()) == _expected(100)
    assert _lines(log) == 100
    df.unpersist()


def test_invalid_storage_levels_are_refused_naming_the_setting(spark) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="storageLevel of DataFrame.persist"):
        spark.range(3).persist("MEMORY_ONLY")
    with pytest.raises(ValueError, match="storageLevel of RDD.persist.*neither in memory"):
        spark.sparkContext.range(3).persist(StorageLevel(False, False, False, False))
    rdd = spark.sparkContext.range(3).persist(StorageLevel.DISK_ONLY)
    with pytest.raises(ValueError, match="cannot change the storage level"):
        rdd.persist(StorageLevel.MEMORY_ONLY)


def test_memory_only_blocks_evicted_under_pressure_are_recomputed(make_session,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    # 3 MiB of usable memory per executor; each dataset's 8 partitions take about 2 MiB each.
    spark = make_session("local[2]", {"spark.executor.memory": "450m",
                                      "spark.memory.fraction": "0.02"})
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    sc = spark.sparkContext

    def logged(log: Path) -> Any:
        def rows(split: int, it: Any) -> Any:
            with open(log, "a") as f:
                f.write(f"{split}\n")
            return ((x, 3 * x) for x in it)
        return rows

    n = 8 * 50_000
    first = sc.range(0, n, numSlices=8).mapPartitionsWithIndex(logged(tmp_path / "a")).persist(
        StorageLevel.MEMORY_ONLY)
    expected = (sum(range(n)), 3 * sum(range(n)))
    assert first.reduce(lambda a, b: (a[0] + b[0], a[1] + b[1])) == expected
    assert _lines(tmp_path / "a") == 8
    # A second dataset needs the memory: the first one's least recently used blocks go.
    second = sc.range(0, n, numSlices=8).mapPartitionsWithIndex(logged(tmp_path / "b")).persist(
        StorageLevel.MEMORY_ONLY)
    assert second.count() == n
    assert sum(metric(runtime, "blocks_dropped_total").values()) > 0
    # The dropped partitions are recomputed from lineage, the others read from memory.
    assert first.reduce(lambda a, b: (a[0] + b[0], a[1] + b[1])) == expected
    assert 8 < _lines(tmp_path / "a") < 16


def test_cached_blocks_of_a_killed_executor_are_recomputed(make_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[2]")
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    log = tmp_path / "computed"
    df = _counted_frame(spark, log).cache()
    assert sorted((r.k, r.s) for r in df.collect()) == _expected()
    holders = {e for es in runtime.block_master.blocks().values() for e in es}
    assert holders
    victim = sorted(holders)[0]
    cache_id = runtime.cached_entry(df._plan).cache_id
    os.kill(runtime.executor_pids()[victim], 9)
    # At once, before the driver may have noticed: a job planned to read the lost block
    # is planned again, recomputing it from lineage.
    assert sorted((r.k, r.s) for r in df.collect()) == _expected()
    assert _lines(log) == 800
    # The lineage shuffles, so every partition was computed again under a new id, in one
    # consistent layout.
    assert runtime.cached_entry(df._plan).cache_id != cache_id
    deadline = time.monotonic() + 30
    while victim in runtime.executors:
        assert time.monotonic() < deadline, "the driver did not notice the killed executor"
        time.sleep(0.05)
    assert victim not in {e for es in runtime.block_master.blocks().values() for e in es}
    assert sorted((r.k, r.s) for r in df.collect()) == _expected()
    assert _lines(log) == 800  # and cached again


def test_rdd_checkpoint_and_local_checkpoint_cut_the_lineage(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc = spark.sparkContext
    pairs = sc.parallelize(range(200), 4).map(lambda x: (x % 6, x)).reduceByKey(
        lambda a, b: a + b)
    expected = sorted((k, sum(range(k, 200, 6))) for k in range(6))
    sc.setCheckpointDir(str(tmp_path / "checkpoints"))
    pairs.checkpoint()
    assert pairs.isCheckpointed() and pairs.getCheckpointFile()
    assert "Exchange" not in pairs.toDebugString().decode()
    assert sorted(pairs.collect()) == expected
    assert sorted(pairs.mapValues(lambda v: v + 1).collect()) == [(k, v + 1) for k, v in expected]
    local = sc.parallelize(range(50), 3).map(lambda x: x * x)
    local.localCheckpoint()
    assert local.isLocallyCheckpointed()
    assert "InMemoryTableScan" in local.toDebugString().decode()
    assert local.collect() == [x * x for x in range(50)]


def test_dataframe_checkpoints_read_back_the_same_rows(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    df = _counted_frame(spark, tmp_path / "computed")
    saved = runtime.checkpoint_dir
    runtime.checkpoint_dir = None
    try:
        with pytest.raises(IllegalArgumentException, match="setCheckpointDir"):
            df.checkpoint()
    finally:
        runtime.checkpoint_dir = saved
    spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))
    checkpointed = df.checkpoint()
    assert sorted((r.k, r.s) for r in checkpointed.collect()) == _expected()
    assert "CheckpointScan" in checkpointed._explain_string()
    assert sorted((r.k, r.s) for r in checkpointed.filter("k < 2").collect()) == _expected()[:2]
    local = df.localCheckpoint()
    assert sorted((r.k, r.s) for r in local.collect()) == _expected()
    stages = runtime.job_history[-1]["stages"]
    assert len(stages) == 1


def test_a_lost_block_of_a_local_checkpoint_fails_with_a_clear_error(make_session) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[2]")
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    local = spark.range(0, 100, numPartitions=4).localCheckpoint()
    assert local.count() == 100
    victim = sorted({e for es in runtime.block_master.blocks().values() for e in es})[0]
    os.kill(runtime.executor_pids()[victim], 9)
    deadline = time.monotonic() + 30
    while victim in runtime.executors:
        assert time.monotonic() < deadline, "the driver did not notice the killed executor"
        time.sleep(0.05)
    with pytest.raises(SparkJobError, match="lineage to recompute it was cut by localCheckpoint"):
        local.count()


def test_catalog_caches_and_uncaches_views(spark) -> None:  # type: ignore[no-untyped-def]
    spark.range(10).createOrReplaceTempView("cached_numbers")
    assert not spark.catalog.isCached("cached_numbers")
    spark.catalog.cacheTable("cached_numbers")
    assert spark.catalog.isCached("cached_numbers")
    assert spark.table("cached_numbers").is_cached
    assert spark.sql("SELECT sum(id) AS s FROM cached_numbers").first()["s"] == 45
    spark.catalog.uncacheTable("cached_numbers")
    assert not spark.catalog.isCached("cached_numbers")
    spark.catalog.cacheTable("cached_numbers")
    spark.catalog.clearCache()
    assert not spark.catalog.isCached("cached_numbers")
    spark.catalog.dropTempView("cached_numbers")


def test_a_small_cached_table_is_still_broadcast_in_joins(spark, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([(i, f"name{i}") for i in range(10)], "k INT, name STRING") \
        .write.parquet(str(tmp_path / "small"))
    spark.range(1000).withColumn("k", (F.col("id") % 10).cast("int")) \
        .write.parquet(str(tmp_path / "big"))
    small = spark.read.parquet(str(tmp_path / "small")).cache()
    big = spark.read.parquet(str(tmp_path / "big")).cache()
    assert small.count() == 10 and big.count() == 1000
    try:
        joined = big.join(small, "k")
        joined.explain()
        physical = capsys.readouterr().out
        assert "BroadcastHashJoin" in physical, physical
        assert joined.count() == 1000
    finally:
        small.unpersist()
        big.unpersist()
