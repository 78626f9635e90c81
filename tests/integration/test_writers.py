"""Writing csv, json lines, text and partitioned parquet, read back by ember and by pandas."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ember.errors import AnalysisException
from ember.sql import functions as F

ROWS = [(1, "de", 2024, 1.5, "plain"), (2, "fr", 2024, None, 'say "hi", ok'),
        (3, "de", 2025, 2.0, None), (4, None, 2025, 3.0, "")]
COLUMNS = ["id", "country", "year", "v", "note"]


@pytest.fixture(scope="module")
def df(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(ROWS, COLUMNS)


def parts(path: Path, pattern: str) -> list[Path]:
    files = sorted(p for p in path.rglob("part-*"))
    assert files and all(re.fullmatch(pattern, p.name) for p in files), files
    assert (path / "_SUCCESS").exists()
    return files


def test_csv_round_trip_with_header_quoting_and_nulls(df, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "csv"
    df.write.csv(str(out), header=True)
    files = parts(out, r"part-\d{5}-[0-9a-f]+-c000\.csv")
    text = "".join(f.read_text() for f in files)
    assert '"say ""hi"", ok"' in text  # quoted only where needed, quotes doubled
    assert "1,de,2024,1.5,plain" in text
    oracle = pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in files])
    assert sorted(oracle.id.tolist()) == [1, 2, 3, 4]
    back = spark.read.csv(str(out), header=True, inferSchema=True).orderBy("id")
    assert back.dtypes == [("id", "int"), ("country", "string"), ("year", "int"),
                           ("v", "double"), ("note", "string")]
    # CSV cannot tell an empty string from a null; Spark reads both back as null.
    assert [tuple(r) for r in back.collect()] == [
        (1, "de", 2024, 1.5, "plain"), (2, "fr", 2024, None, 'say "hi", ok'),
        (3, "de", 2025, 2.0, None), (4, None, 2025, 3.0, None)]


def test_json_lines_leave_out_nulls_and_can_be_gzipped(df, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "json"
    df.write.json(str(out), compression="gzip")
    files = parts(out, r"part-\d{5}-[0-9a-f]+-c000\.json\.gz")
    records = [json.loads(line) for f in files
               for line in gzip.decompress(f.read_bytes()).decode().splitlines()]
    by_id = {r["id"]: r for r in records}
    assert by_id[3] == {"id": 3, "country": "de", "year": 2025, "v": 2.0}
    assert by_id[4] == {"id": 4, "year": 2025, "v": 3.0, "note": ""}
    back = spark.read.json(str(out)).orderBy("id")
    assert back.columns == ["country", "id", "note", "v", "year"]  # Spark sorts JSON fields
    assert back.count() == 4 and back.filter(F.col("v").isNull()).count() == 1


def test_text_writes_one_line_per_row_and_needs_one_string_column(df, spark,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "text"
    df.select(F.concat(F.col("id").cast("string"), F.lit(":"), F.col("country")).alias("line")) \
        .write.text(str(out))
    files = parts(out, r"part-\d{5}-[0-9a-f]+-c000\.txt")
    lines = sorted(line for f in files for line in f.read_text().splitlines())
    assert lines == ["", "1:de", "2:fr", "3:de"]
    assert sorted(r.value for r in spark.read.text(str(out)).collect()) == lines
    with pytest.raises(AnalysisException, match="one string column"):
        df.write.text(str(tmp_path / "bad"))


def test_partitioned_parquet_is_laid_out_by_value_and_read_back_with_types(  # type: ignore[no-untyped-def]
        df, spark, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    df.write.partitionBy("country", "year").mode("overwrite").parquet(str(out))
    dirs = sorted(str(p.relative_to(out)) for p in out.glob("*/*") if p.is_dir())
    assert dirs == ["country=__HIVE_DEFAULT_PARTITION__/year=2025", "country=de/year=2024",
                    "country=de/year=2025", "country=fr/year=2024"]
    files = parts(out, r"part-\d{5}-[0-9a-f]+-c000\.snappy\.parquet")
    # the partition columns live in the directory names, not in the files
    assert all(pq.read_schema(f).names == ["id", "v", "note"] for f in files)
    back = spark.read.parquet(str(out))
    assert back.dtypes == [("id", "bigint"), ("v", "double"), ("note", "string"),
                           ("country", "string"), ("year", "int")]
    got = sorted(tuple(r) for r in back.select(*COLUMNS).collect())
    assert got == sorted(ROWS, key=lambda r: r[0])
    recent = back.filter(F.col("year") == 2025).select("id", "country").orderBy("id").collect()
    assert [tuple(r) for r in recent] == [(3, "de"), (4, None)]
    assert back.select("year").distinct().count() == 2


def test_append_adds_files_and_unknown_partition_columns_are_refused(df, spark,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "appended"
    df.write.csv(str(out))
    df.write.mode("append").csv(str(out))
    assert spark.read.csv(str(out)).count() == 8
    with pytest.raises(AnalysisException, match="cannot be resolved"):
        df.write.partitionBy("contry")
