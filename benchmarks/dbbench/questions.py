"""The db-benchmark questions, written once per engine.

Question definitions follow the database-like ops benchmark (h2oai db-benchmark, now maintained
by DuckDB Labs): 10 groupby questions on the ``G1`` table and 5 join questions on the ``J1``
tables.

What is timed is what db-benchmark times: the answer materialised inside the engine, not sent
anywhere. Its solutions do ``persist(MEMORY_ONLY)`` then ``count()`` for Spark, ``CREATE TABLE
ans AS`` for DuckDB and ``collect()`` for Polars, and so does every engine here
(`materialise`). Untimed, the answer is then summarised as ``out_rows`` plus a checksum, the
sum of each measure column (`checksum`), which is compared with DuckDB's, and dropped
(`release`).

This module imports no engine at the top, so the PySpark worker (run by a different Python) can
import it too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Question:
    id: str  # "groupby q1"
    title: str
    table: str  # "groupby" or "join"
    measures: tuple[str, ...]  # the answer columns summed into the checksum


GROUPBY = (
    Question("groupby q1", "sum v1 by id1", "groupby", ("v1",)),
    Question("groupby q2", "sum v1 by id1:id2", "groupby", ("v1",)),
    Question("groupby q3", "sum v1 mean v3 by id3", "groupby", ("v1", "v3")),
    Question("groupby q4", "mean v1:v3 by id4", "groupby", ("v1", "v2", "v3")),
    Question("groupby q5", "sum v1:v3 by id6", "groupby", ("v1", "v2", "v3")),
    Question("groupby q6", "median v3 sd v3 by id4 id5", "groupby", ("median_v3", "sd_v3")),
    Question("groupby q7", "max v1 - min v2 by id3", "groupby", ("range_v1_v2",)),
    Question("groupby q8", "largest two v3 by id6", "groupby", ("largest2_v3",)),
    Question("groupby q9", "regression v1 v2 by id2 id4", "groupby", ("r2",)),
    Question("groupby q10", "sum v3 count by id1:id6", "groupby", ("v3", "count")),
)
JOIN = (
    Question("join q1", "small inner on int", "join", ("v1", "v2")),
    Question("join q2", "medium inner on int", "join", ("v1", "v2")),
    Question("join q3", "medium outer on int", "join", ("v1", "v2")),
    Question("join q4", "medium inner on factor", "join", ("v1", "v2")),
    Question("join q5", "big inner on int", "join", ("v1", "v2")),
)
QUESTIONS = GROUPBY + JOIN
BY_ID = {q.id: q for q in QUESTIONS}


@dataclass(frozen=True)
class Answer:
    seconds: float
    out_rows: int
    chk: tuple[float, ...]


def timed(engine: Any, question: Question) -> Answer:
    """Time ``question`` materialised in ``engine``, then checksum and drop its answer."""
    t0 = time.perf_counter()
    out_rows = engine.materialise(question.id)
    seconds = time.perf_counter() - t0
    try:
        chk = engine.checksum(question.measures)
    finally:
        engine.release()
    return Answer(seconds, out_rows, tuple(float(c or 0.0) for c in chk))


def matches(answer: Answer, reference: Answer, *, tolerance: float = 0.005) -> bool:
    """Same row count and every checksum within ``tolerance`` (relative) of the reference."""
    if answer.out_rows != reference.out_rows or len(answer.chk) != len(reference.chk):
        return False
    pairs = zip(answer.chk, reference.chk, strict=True)
    return all(abs(a - r) <= tolerance * max(abs(r), 1e-9) for a, r in pairs)


# -- SQL (DuckDB) -------------------------------------------------------------------------------

SQL = {
    "groupby q1": "SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1",
    "groupby q2": "SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2",
    "groupby q3": "SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3",
    "groupby q4": "SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4",
    "groupby q5": "SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6",
    "groupby q6": "SELECT id4, id5, median(v3) AS median_v3, stddev_samp(v3) AS sd_v3 "
                  "FROM x GROUP BY id4, id5",
    "groupby q7": "SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM x GROUP BY id3",
    "groupby q8": "SELECT id6, largest2_v3 FROM (SELECT id6, v3 AS largest2_v3, row_number() "
                  "OVER (PARTITION BY id6 ORDER BY v3 DESC) AS order_v3 FROM x "
                  "WHERE v3 IS NOT NULL) sub WHERE order_v3 <= 2",
    "groupby q9": "SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM x GROUP BY id2, id4",
    "groupby q10": "SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count "
                   "FROM x GROUP BY id1, id2, id3, id4, id5, id6",
    "join q1": "SELECT x.*, small.id4 AS small_id4, v2 FROM x JOIN small USING (id1)",
    "join q2": "SELECT x.*, medium.id1 AS medium_id1, medium.id4 AS medium_id4, "
               "medium.id5 AS medium_id5, v2 FROM x JOIN medium USING (id2)",
    "join q3": "SELECT x.*, medium.id1 AS medium_id1, medium.id4 AS medium_id4, "
               "medium.id5 AS medium_id5, v2 FROM x LEFT JOIN medium USING (id2)",
    "join q4": "SELECT x.*, medium.id1 AS medium_id1, medium.id2 AS medium_id2, "
               "medium.id4 AS medium_id4, v2 FROM x JOIN medium USING (id5)",
    "join q5": "SELECT x.*, big.id1 AS big_id1, big.id2 AS big_id2, big.id4 AS big_id4, "
               "big.id5 AS big_id5, big.id6 AS big_id6, v2 FROM x JOIN big USING (id3)",
}
TINY_SQL = "SELECT id1, sum(v1) AS v1 FROM x WHERE id6 = 1 GROUP BY id1"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, *, threads: int = 2) -> None:
        import duckdb

        self.version = duckdb.__version__
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {threads}")

    def load(self, files: dict[str, Path]) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE x AS SELECT * FROM '{files['groupby']}'")
        for name in ("small", "medium", "big"):
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM '{files[name]}'")
        self.con.execute(f"CREATE OR REPLACE TABLE jx AS SELECT * FROM '{files['x']}'")

    def materialise(self, qid: str) -> int:
        sql = SQL[qid]
        if qid.startswith("join"):
            sql = sql.replace("FROM x", "FROM jx AS x")
        self.con.execute(f"CREATE OR REPLACE TABLE ans AS {sql}")
        return self.con.execute("SELECT count(*) FROM ans").fetchone()[0]

    def checksum(self, measures: tuple[str, ...]) -> list[float]:
        sums = ", ".join(f"sum(CAST({m} AS DOUBLE))" for m in measures)
        return list(self.con.execute(f"SELECT {sums} FROM ans").fetchone())

    def release(self) -> None:
        self.con.execute("DROP TABLE IF EXISTS ans")

    def tiny(self) -> pa.Table:
        return self.con.sql(TINY_SQL).to_arrow_table()

    def close(self) -> None:
        self.con.close()


# -- Spark DataFrame API (ember and PySpark) ----------------------------------------------------


def spark_answer(F: Any, Window: Any, x: Any, jx: Any, small: Any, medium: Any, big: Any,
                 qid: str) -> Any:
    """The DataFrame for one question, for any engine with PySpark's DataFrame API."""
    if qid == "groupby q1":
        return x.groupBy("id1").agg(F.sum("v1").alias("v1"))
    if qid == "groupby q2":
        return x.groupBy("id1", "id2").agg(F.sum("v1").alias("v1"))
    if qid == "groupby q3":
        return x.groupBy("id3").agg(F.sum("v1").alias("v1"), F.mean("v3").alias("v3"))
    if qid == "groupby q4":
        return x.groupBy("id4").agg(*(F.mean(c).alias(c) for c in ("v1", "v2", "v3")))
    if qid == "groupby q5":
        return x.groupBy("id6").agg(*(F.sum(c).alias(c) for c in ("v1", "v2", "v3")))
    if qid == "groupby q6":
        return x.groupBy("id4", "id5").agg(F.median("v3").alias("median_v3"),
                                           F.stddev("v3").alias("sd_v3"))
    if qid == "groupby q7":
        return x.groupBy("id3").agg((F.max("v1") - F.min("v2")).alias("range_v1_v2"))
    if qid == "groupby q8":
        w = Window.partitionBy("id6").orderBy(F.col("v3").desc())
        return (x.filter(F.col("v3").isNotNull())
                .select("id6", F.col("v3").alias("largest2_v3"),
                        F.row_number().over(w).alias("order_v3"))
                .filter(F.col("order_v3") <= 2).select("id6", "largest2_v3"))
    if qid == "groupby q9":
        return x.groupBy("id2", "id4").agg((F.corr("v1", "v2") ** 2).alias("r2"))
    if qid == "groupby q10":
        return x.groupBy("id1", "id2", "id3", "id4", "id5", "id6").agg(
            F.sum("v3").alias("v3"), F.count("*").alias("count"))
    if qid == "join q1":
        return jx.join(small.withColumnRenamed("id4", "small_id4"), on="id1")
    if qid in ("join q2", "join q3"):
        right = medium.select("id2", F.col("id1").alias("medium_id1"),
                              F.col("id4").alias("medium_id4"), F.col("id5").alias("medium_id5"),
                              "v2")
        return jx.join(right, on="id2", how="inner" if qid == "join q2" else "left")
    if qid == "join q4":
        right = medium.select("id5", F.col("id1").alias("medium_id1"),
                              F.col("id2").alias("medium_id2"), F.col("id4").alias("medium_id4"),
                              "v2")
        return jx.join(right, on="id5")
    if qid == "join q5":
        right = big.select("id3", *(F.col(c).alias(f"big_{c}")
                                    for c in ("id1", "id2", "id4", "id5", "id6")), "v2")
        return jx.join(right, on="id3")
    raise KeyError(qid)


class SparkAPIEngine:
    """ember or PySpark, driven through the same DataFrame calls."""

    def __init__(self, *, module: str = "ember", shuffle_partitions: int = 4,
                 spark: Any = None) -> None:
        """A new local[2] session of ``module``, or the given ``spark`` session (tests)."""
        import importlib

        t0 = time.perf_counter()  # start-up counts the import, as benchmarks/startup.py does
        sql = importlib.import_module(f"{module}.sql")
        self.name = module
        self.F = importlib.import_module(f"{module}.sql.functions")
        self.Window = importlib.import_module(f"{module}.sql.window").Window
        # pyspark.StorageLevel; ember's lives where ember's pyspark alias takes it from.
        levels = "ember.core.storagelevel" if module == "ember" else module
        self.StorageLevel = importlib.import_module(levels).StorageLevel
        if spark is None:
            builder = sql.SparkSession.builder.master("local[2]").appName("dbbench")
            if module == "ember":
                # The 4g of heap PySpark's local[2] has (driver memory), over two executors.
                builder = builder.config("spark.executor.memory", "2g")
            if module == "pyspark":
                builder = (builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
                           .config("spark.sql.adaptive.enabled", "true")
                           .config("spark.driver.memory", "4g")
                           .config("spark.ui.enabled", "false"))
            spark = builder.getOrCreate()
            spark.range(1).count()
        self.spark = spark
        self.startup = time.perf_counter() - t0
        from importlib import metadata

        self.version = metadata.version(module)
        self.tables: dict[str, Any] = {}
        self.ans: Any = None

    def load(self, files: dict[str, Path]) -> None:
        for name, key in (("x", "groupby"), ("jx", "x"), ("small", "small"),
                          ("medium", "medium"), ("big", "big")):
            # Both cache the tables in memory first, as db-benchmark's Spark solution does.
            df = self.spark.read.parquet(str(files[key])).cache()
            df.count()
            self.tables[name] = df

    def materialise(self, qid: str) -> int:
        t = self.tables
        df = spark_answer(self.F, self.Window, t["x"], t["jx"], t["small"], t["medium"],
                          t["big"], qid)
        self.ans = df.persist(self.StorageLevel.MEMORY_ONLY)
        return self.ans.count()

    def checksum(self, measures: tuple[str, ...]) -> list[float]:
        F = self.F
        row = self.ans.agg(*(F.sum(F.col(m).cast("double")) for m in measures)).collect()[0]
        return list(row)

    def release(self) -> None:
        if self.ans is not None:
            self.ans.unpersist()
            self.ans = None

    def tiny(self) -> pa.Table:
        F = self.F
        return (self.tables["x"].filter(F.col("id6") == 1).groupBy("id1")
                .agg(F.sum("v1").alias("v1")).toArrow())

    def unload(self) -> None:
        for df in self.tables.values():
            df.unpersist()
        self.tables.clear()

    def close(self) -> None:
        self.spark.stop()


# -- Polars -------------------------------------------------------------------------------------


def polars_answer(pl: Any, x: Any, jx: Any, small: Any, medium: Any, big: Any, qid: str) -> Any:
    lx, ljx = x.lazy(), jx.lazy()
    if qid == "groupby q1":
        q = lx.group_by("id1").agg(pl.sum("v1"))
    elif qid == "groupby q2":
        q = lx.group_by("id1", "id2").agg(pl.sum("v1"))
    elif qid == "groupby q3":
        q = lx.group_by("id3").agg(pl.sum("v1"), pl.mean("v3"))
    elif qid == "groupby q4":
        q = lx.group_by("id4").agg(pl.mean("v1"), pl.mean("v2"), pl.mean("v3"))
    elif qid == "groupby q5":
        q = lx.group_by("id6").agg(pl.sum("v1"), pl.sum("v2"), pl.sum("v3"))
    elif qid == "groupby q6":
        q = lx.group_by("id4", "id5").agg(pl.median("v3").alias("median_v3"),
                                          pl.std("v3").alias("sd_v3"))
    elif qid == "groupby q7":
        q = lx.group_by("id3").agg((pl.max("v1") - pl.min("v2")).alias("range_v1_v2"))
    elif qid == "groupby q8":
        q = (lx.drop_nulls("v3").group_by("id6")
             .agg(pl.col("v3").top_k(2).alias("largest2_v3")).explode("largest2_v3"))
    elif qid == "groupby q9":
        q = lx.group_by("id2", "id4").agg((pl.corr("v1", "v2") ** 2).alias("r2"))
    elif qid == "groupby q10":
        q = lx.group_by("id1", "id2", "id3", "id4", "id5", "id6").agg(
            pl.sum("v3"), pl.len().alias("count"))
    elif qid == "join q1":
        q = ljx.join(small.lazy(), on="id1", suffix="_small")
    elif qid == "join q2":
        q = ljx.join(medium.lazy(), on="id2", suffix="_medium")
    elif qid == "join q3":
        q = ljx.join(medium.lazy(), on="id2", how="left", suffix="_medium")
    elif qid == "join q4":
        q = ljx.join(medium.lazy(), on="id5", suffix="_medium")
    elif qid == "join q5":
        q = ljx.join(big.lazy(), on="id3", suffix="_big")
    else:
        raise KeyError(qid)
    return q


class PolarsEngine:
    name = "polars"

    def __init__(self, *, threads: int = 2) -> None:
        import os

        # Polars sizes its thread pool once, at import; the runner sets this before importing.
        os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
        import polars as pl

        self.pl = pl
        self.version = pl.__version__
        self.tables: dict[str, Any] = {}
        self.ans: Any = None

    def load(self, files: dict[str, Path]) -> None:
        for name, key in (("x", "groupby"), ("jx", "x"), ("small", "small"),
                          ("medium", "medium"), ("big", "big")):
            self.tables[name] = self.pl.read_parquet(files[key])

    def materialise(self, qid: str) -> int:
        t = self.tables
        q = polars_answer(self.pl, t["x"], t["jx"], t["small"], t["medium"], t["big"], qid)
        self.ans = q.collect()
        return self.ans.height

    def checksum(self, measures: tuple[str, ...]) -> list[float]:
        pl = self.pl
        return list(self.ans.select(pl.col(m).cast(pl.Float64).sum() for m in measures).row(0))

    def release(self) -> None:
        self.ans = None

    def tiny(self) -> pa.Table:
        pl = self.pl
        return (self.tables["x"].lazy().filter(pl.col("id6") == 1).group_by("id1")
                .agg(pl.sum("v1")).collect().to_arrow())

    def close(self) -> None:
        self.tables.clear()
