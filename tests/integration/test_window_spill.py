"""A window over far more rows than the executors' execution memory (512m heap,
spark.memory.fraction 0.01: about 2 MiB for execution and storage) sorts with spills, computes
its functions over buffers of whole window partitions, and still gives DuckDB's answer, nulls
included; the executors count the spills."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from executors import small_memory_session, spilled_bytes

from ember.sql import SparkSession
from ember.sql import functions as F
from ember.sql.window import Window

ROWS = 400_000


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = small_memory_session("ember-window-spill-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many window partitions (``g``, a few percent null), ties and nulls in the ordering
    column ``t``, a unique ``id`` to order ties by, and nulls in the values ``x``."""
    rng = np.random.default_rng(17)
    n = ROWS
    table = pa.table({
        "g": pa.array(rng.integers(0, 20_000, n), mask=rng.random(n) < 0.03),
        "t": pa.array(rng.integers(0, 100, n), mask=rng.random(n) < 0.05),
        "id": pa.array(rng.permutation(n).astype(np.int64)),
        "x": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
        "s": pa.array(rng.choice([f"event-{i}" for i in range(500)], n)),
    })
    path = tmp_path_factory.mktemp("window-spill-data") / "events.parquet"
    pq.write_table(table, path, row_group_size=n // 4)
    return path


def test_window_over_more_rows_than_memory_spills_and_matches_duckdb(
        spark: SparkSession, events: Path) -> None:
    df = spark.read.parquet(str(events))
    # The exchange below the window spills its write buffers too; the window's own sort must
    # spill on top of what the same shuffle alone spills.
    before = spilled_bytes(spark)
    df.repartition(4, "g").toPandas()
    shuffle_only = spilled_bytes(spark) - before
    before = spilled_bytes(spark)
    w = Window.partitionBy("g").orderBy("t", "id")
    got = df.select(
        "g", "t", "id", "x", "s",
        F.row_number().over(w).alias("rn"),
        F.sum("x").over(w).alias("running"),
        F.lag("x").over(w).alias("prev"),
    ).toPandas()
    con = duckdb.connect()
    want = con.sql(
        "SELECT g, t, id, x, s, CAST(row_number() OVER w AS INTEGER) rn, sum(x) OVER w running, "
        f"lag(x) OVER w prev FROM read_parquet('{events}') "
        "WINDOW w AS (PARTITION BY g ORDER BY t ASC NULLS FIRST, id ASC NULLS FIRST)").df()
    assert len(got) == len(want) == ROWS
    got = got.convert_dtypes().sort_values("id").reset_index(drop=True)
    want = want.convert_dtypes().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False, rtol=1e-9)
    assert spilled_bytes(spark) - before > shuffle_only
