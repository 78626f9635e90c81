"""``spark.read`` / ``df.write`` and the ways of making a DataFrame, against pyarrow, pandas and
DuckDB reading the same files."""

from __future__ import annotations

import datetime
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ember.errors import AnalysisException, ParseException
from ember.sql import Row, SparkSession
from ember.sql import functions as F
from ember.sql.dataframe import DataFrame
from ember.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)


def _key(row: tuple) -> tuple:
    return tuple((v is None, v if v is not None else 0) for v in row)


def rows(df: DataFrame) -> list[tuple]:
    """The DataFrame's rows as sorted tuples (row order is not part of the contract)."""
    return sorted((tuple(r) for r in df.collect()), key=_key)


def table_rows(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=_key)


def duck_rows(sql: str) -> list[tuple]:
    return sorted(duckdb.sql(sql).fetchall(), key=_key)


# ---------------------------------------------------------------------------------------------
# Parquet

PEOPLE = pa.table({
    "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
    "name": pa.array(["ann", "bob", None, "dan", "eve", "fay"]),
    "age": pa.array([31, None, 25, 40, 19, 31], pa.int32()),
    "score": pa.array([2.5, 3.75, None, -1.0, 0.0, 1e10], pa.float64()),
    "joined": pa.array([datetime.date(2020, 1, 2), None, datetime.date(1999, 12, 31),
                        datetime.date(2021, 6, 30), datetime.date(2020, 1, 2),
                        datetime.date(1970, 1, 1)], pa.date32()),
    "active": pa.array([True, False, None, True, False, True]),
})


@pytest.fixture(scope="module")
def people_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PEOPLE as two parquet files in a directory, with files Spark skips next to them."""
    root = tmp_path_factory.mktemp("people")
    pq.write_table(PEOPLE.slice(0, 4), root / "part-0.parquet", row_group_size=2)
    pq.write_table(PEOPLE.slice(4), root / "part-1.parquet")
    (root / "_SUCCESS").touch()
    (root / ".part-0.parquet.crc").write_bytes(b"not parquet")
    return root


def test_parquet_read_matches_pyarrow(spark: SparkSession, people_dir: Path) -> None:
    df = spark.read.parquet(str(people_dir))
    assert df.dtypes == [("id", "bigint"), ("name", "string"), ("age", "int"),
                         ("score", "double"), ("joined", "date"), ("active", "boolean")]
    assert rows(df) == table_rows(PEOPLE)


def test_parquet_read_of_single_files_and_lists(spark: SparkSession, people_dir: Path) -> None:
    first, second = str(people_dir / "part-0.parquet"), str(people_dir / "part-1.parquet")
    assert rows(spark.read.parquet(first)) == table_rows(PEOPLE.slice(0, 4))
    assert rows(spark.read.parquet(first, second)) == table_rows(PEOPLE)
    assert rows(spark.read.format("parquet").load([second])) == table_rows(PEOPLE.slice(4))


def test_parquet_read_of_nested_directories(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "_temporary").mkdir()
    pq.write_table(PEOPLE.slice(0, 2), tmp_path / "a" / "x.parquet")
    pq.write_table(PEOPLE.slice(2, 3), tmp_path / "b" / "c" / "y.parquet")
    pq.write_table(PEOPLE.slice(5), tmp_path / "_temporary" / "z.parquet")
    assert rows(spark.read.parquet(str(tmp_path))) == table_rows(PEOPLE.slice(0, 5))


def test_parquet_arrow_types_without_a_spark_twin_read_as_the_nearest(
        spark: SparkSession, tmp_path: Path) -> None:
    table = pa.table({
        "u8": pa.array([1, 200, None], pa.uint8()),
        "u32": pa.array([1, 4_000_000_000, 3], pa.uint32()),
        "big_text": pa.array(["a", None, "c"], pa.large_string()),
        "ts": pa.array([datetime.datetime(2020, 1, 1, 12), None,
                        datetime.datetime(2021, 1, 1)], pa.timestamp("ns")),
        "category": pa.array(["x", "y", "x"]).dictionary_encode(),
        "f32": pa.array([1.5, None, 2.5], pa.float32()),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    df = spark.read.parquet(str(tmp_path))
    assert df.dtypes == [("u8", "int"), ("u32", "bigint"), ("big_text", "string"),
                         ("ts", "timestamp"), ("category", "string"), ("f32", "float")]
    assert rows(df) == [
        (1, 1, "a", datetime.datetime(2020, 1, 1, 12), "x", 1.5),
        (200, 4_000_000_000, None, None, "y", None),
        (None, 3, "c", datetime.datetime(2021, 1, 1), "x", 2.5),
    ]
    assert rows(df.filter(F.col("category") == "x").select("u32")) == [(1,), (3,)]
    assert rows(df.filter(F.col("u8") > 100).select("u32")) == [(4_000_000_000,)]


def _optimized_plan(df: DataFrame) -> str:
    text = df._explain_string(True)
    return text.split("== Optimized Logical Plan ==\n", 1)[1].split("\n\n", 1)[0]


def test_parquet_filter_and_projection_are_pushed_into_the_scan(
        spark: SparkSession, people_dir: Path) -> None:
    df = spark.read.parquet(str(people_dir)) \
        .filter((F.col("age") > 20) & (F.col("name") != "dan")).select("name")
    optimized = _optimized_plan(df)
    scan = optimized.splitlines()[-1]
    assert "Relation [name#" in scan and ", age#" in scan and "parquet" in scan
    for unused in ("id#", "score#", "joined#", "active#"):
        assert unused not in scan
    assert "PushedFilters: [(age#" in scan and "> 20)" in scan and "!= dan)" in scan
    # The filter also stays above the scan: the dataset filter only has to be a superset.
    assert "Filter ((age#" in optimized
    physical = df._explain_string()
    assert "FileScan parquet [name#" in physical and "PushedFilters: [" in physical
    # Bigint columns are marked as in the logical plans.
    assert re.search(r"FileScan parquet \[id#\d+L\]",
                     spark.read.parquet(str(people_dir)).select("id")._explain_string())
    glob = str(people_dir / "*.parquet")
    assert rows(df) == duck_rows(
        f"SELECT name FROM read_parquet('{glob}') WHERE age > 20 AND name != 'dan'")


FILTERS = [
    pytest.param(lambda: F.col("age") == 31, "age = 31", id="equals"),
    pytest.param(lambda: F.col("age") < 31, "age < 31", id="less-than-with-nulls"),
    pytest.param(lambda: F.col("score") >= 0.0, "score >= 0.0", id="double"),
    pytest.param(lambda: F.col("name") == "eve", "name = 'eve'", id="string"),
    pytest.param(lambda: F.col("joined") > F.lit(datetime.date(2020, 1, 1)),
                 "joined > DATE '2020-01-01'", id="date"),
    pytest.param(lambda: F.col("id").isin(1, 3, 5), "id IN (1, 3, 5)", id="in"),
    pytest.param(lambda: F.col("name").isNull(), "name IS NULL", id="is-null"),
    pytest.param(lambda: F.col("active"), "active", id="boolean-column"),
    pytest.param(lambda: (F.col("age") == 31) | F.col("name").isNull(),
                 "age = 31 OR name IS NULL", id="or"),
    pytest.param(lambda: ~(F.col("age") == 31), "NOT (age = 31)", id="not-with-nulls"),
    pytest.param(lambda: (F.col("age") + 1) > 30, "age + 1 > 30", id="arithmetic-not-pushable"),
]


@pytest.mark.parametrize(("condition", "sql"), FILTERS)
def test_parquet_filters_give_the_rows_duckdb_gives(
        spark: SparkSession, people_dir: Path, condition, sql: str) -> None:  # type: ignore[no-untyped-def]
    df = spark.read.parquet(str(people_dir)).filter(condition()).select("id", "name")
    glob = str(people_dir / "*.parquet")
    assert rows(df) == duck_rows(f"SELECT id, name FROM read_parquet('{glob}') WHERE {sql}")


def test_parquet_count_reads_one_column(spark: SparkSession, people_dir: Path) -> None:
    df = spark.read.parquet(str(people_dir))
    assert df.count() == PEOPLE.num_rows
    scan = _optimized_plan(df.groupBy().count()).splitlines()[-1]
    assert scan.startswith("+- Relation [id#") and "name#" not in scan


def test_parquet_join_of_two_scans_prunes_and_pushes(spark: SparkSession, people_dir: Path,
                                                     tmp_path: Path) -> None:
    pq.write_table(pa.table({"pid": pa.array([1, 3, 5, 7], pa.int64()),
                             "amount": [10.0, 20.0, 30.0, 40.0],
                             "note": ["a", "b", "c", "d"]}), tmp_path / "orders.parquet")
    people = spark.read.parquet(str(people_dir))
    orders = spark.read.parquet(str(tmp_path))
    df = people.join(orders, people["id"] == orders["pid"]) \
        .filter((F.col("amount") > 15) & (F.col("age") > 0)).select("name", "amount")
    optimized = _optimized_plan(df)
    assert "Relation [pid#" in optimized and "note#" not in optimized
    assert optimized.count("PushedFilters") == 2
    glob = str(people_dir / "*.parquet")
    assert rows(df) == duck_rows(
        f"SELECT name, amount FROM read_parquet('{glob}') p JOIN "
        f"read_parquet('{tmp_path / 'orders.parquet'}') o ON p.id = o.pid "
        "WHERE amount > 15 AND age > 0")


# ---------------------------------------------------------------------------------------------
# Writing parquet


def _sample(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([
        (1, "a", 1.5, datetime.date(2020, 1, 1), True),
        (None, None, None, None, None),
        (3, "", -0.0, datetime.date(1969, 7, 20), False),
        (4, "ünïcödé", float("inf"), datetime.date(9999, 12, 31), None),
    ], "i INT, s STRING, d DOUBLE, dt DATE, b BOOLEAN")


def test_parquet_round_trip_keeps_values_nulls_and_types(spark: SparkSession,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    original = _sample(spark)
    original.write.parquet(str(out))
    back = spark.read.parquet(str(out))
    assert back.dtypes == original.dtypes
    assert rows(back) == rows(original)
    # Other readers see the same data, with Spark's types.
    written = pq.read_table(out)
    assert written.schema.types == [pa.int32(), pa.string(), pa.float64(), pa.date32(),
                                    pa.bool_()]
    assert table_rows(written) == rows(original)


def test_written_directory_has_part_files_and_a_success_marker(spark: SparkSession,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    _sample(spark).write.parquet(str(out))
    names = sorted(p.name for p in out.iterdir())
    assert names[0] == "_SUCCESS"
    parts = names[1:]
    assert parts and all(n.startswith("part-") and n.endswith(".snappy.parquet") for n in parts)
    assert sum(pq.ParquetFile(out / n).metadata.num_rows for n in parts) == 4


def test_write_compression_option(spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _sample(spark).write.parquet(str(out), compression="gzip")
    part = next(p for p in out.iterdir() if p.name.startswith("part-"))
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "GZIP"
    assert rows(spark.read.parquet(str(out))) == rows(_sample(spark))


def test_write_of_an_empty_dataframe_keeps_its_schema(spark: SparkSession,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "empty"
    _sample(spark).filter(F.lit(False)).write.parquet(str(out))
    back = spark.read.parquet(str(out))
    assert back.dtypes == _sample(spark).dtypes
    assert back.count() == 0


@pytest.mark.parametrize("mode", [None, "error", "errorifexists"])
def test_write_to_an_existing_path_fails_by_default(spark: SparkSession, tmp_path: Path,
                                                    mode: str | None) -> None:
    out = tmp_path / "out"
    _sample(spark).write.parquet(str(out))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(AnalysisException, match=r"\[PATH_ALREADY_EXISTS\].*\n\nset mode"):
        _sample(spark).write.parquet(str(out), mode=mode)
    assert sorted(p.name for p in out.iterdir()) == before


def test_write_modes_overwrite_append_ignore(spark: SparkSession, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    sample = _sample(spark)
    sample.write.parquet(out)
    sample.write.mode("append").parquet(out)
    assert spark.read.parquet(out).count() == 8
    assert rows(spark.read.parquet(out)) == sorted(rows(sample) * 2, key=_key)
    sample.limit(1).write.mode("ignore").parquet(out)
    assert spark.read.parquet(out).count() == 8
    sample.filter(F.col("i") == 1).write.mode("overwrite").parquet(out)
    assert rows(spark.read.parquet(out)) == [(1, "a", 1.5, datetime.date(2020, 1, 1), True)]


def test_ignore_and_overwrite_on_a_new_path_just_write(spark: SparkSession,
                                                       tmp_path: Path) -> None:
    for mode in ("ignore", "overwrite", "append"):
        out = str(tmp_path / mode)
        _sample(spark).write.mode(mode).parquet(out)
        assert spark.read.parquet(out).count() == 4


def test_overwriting_the_path_being_read_is_refused_and_keeps_the_data(
        spark: SparkSession, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    _sample(spark).write.parquet(out)
    source = spark.read.parquet(out).filter(F.col("i") > 1)
    with pytest.raises(AnalysisException, match=r"UNSUPPORTED_OVERWRITE.*reads from"):
        source.write.mode("overwrite").parquet(out)
    assert spark.read.parquet(out).count() == 4


def test_unknown_save_mode_and_format_are_refused(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(AnalysisException, match="unknown save mode 'sometimes'"):
        _sample(spark).write.mode("sometimes")
    with pytest.raises(AnalysisException, match="writing 'orc' is not supported"):
        _sample(spark).write.format("orc").save(str(tmp_path / "x"))


# ---------------------------------------------------------------------------------------------
# CSV

CSV_TEXT = """id,name,score,big,flag,day,nothing
1,ann,2.5,3000000000,true,2020-01-02,
2,bob,,4,false,2021-03-04,
3,,1e3,5,TRUE,2022-05-06,
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV_TEXT)
    return path


def test_csv_with_header_and_inferred_schema(spark: SparkSession, csv_file: Path) -> None:
    df = spark.read.csv(str(csv_file), header=True, inferSchema=True)
    # int when every value fits, else bigint; an empty field is null; a column with no values
    # at all is a string.
    assert df.dtypes == [("id", "int"), ("name", "string"), ("score", "double"),
                         ("big", "bigint"), ("flag", "boolean"), ("day", "date"),
                         ("nothing", "string")]
    assert rows(df) == [
        (1, "ann", 2.5, 3_000_000_000, True, datetime.date(2020, 1, 2), None),
        (2, "bob", None, 4, False, datetime.date(2021, 3, 4), None),
        (3, None, 1000.0, 5, True, datetime.date(2022, 5, 6), None),
    ]
    oracle = pd.read_csv(csv_file)
    assert [r[0] for r in rows(df)] == oracle["id"].tolist()
    assert [r[2] for r in rows(df)] == [None if math.isnan(v) else v for v in oracle["score"]]


def test_csv_without_infer_schema_is_all_strings(spark: SparkSession, csv_file: Path) -> None:
    df = spark.read.csv(str(csv_file), header=True)
    assert {t for _, t in df.dtypes} == {"string"}
    assert df.columns == ["id", "name", "score", "big", "flag", "day", "nothing"]
    assert rows(df)[0] == ("1", "ann", "2.5", "3000000000", "true", "2020-01-02", None)


def test_csv_without_header_names_columns_by_position(spark: SparkSession,
                                                      csv_file: Path) -> None:
    df = spark.read.csv(str(csv_file))
    assert df.columns == [f"_c{i}" for i in range(7)]
    assert df.count() == 4
    assert ("id", "name", "score", "big", "flag", "day", "nothing") in rows(df)


def test_csv_separator_and_inference_without_header(spark: SparkSession,
                                                    tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("1;x;0.5\n2;y;\n")
    df = spark.read.csv(str(tmp_path / "semi.csv"), sep=";", inferSchema=True)
    assert df.dtypes == [("_c0", "int"), ("_c1", "string"), ("_c2", "double")]
    assert rows(df) == [(1, "x", 0.5), (2, "y", None)]


def test_csv_option_names_ignore_case(spark: SparkSession, csv_file: Path) -> None:
    df = spark.read.option("HEADER", True).option("inferschema", "true").csv(str(csv_file))
    assert df.dtypes[0] == ("id", "int")
    assert df.count() == 3


def test_csv_with_a_schema_and_a_header_uses_the_schema_names(spark: SparkSession,
                                                              csv_file: Path) -> None:
    schema = "k INT, who STRING, s DOUBLE, b BIGINT, f BOOLEAN, d DATE, n STRING"
    df = spark.read.csv(str(csv_file), header=True, schema=schema)
    assert df.columns == ["k", "who", "s", "b", "f", "d", "n"]
    assert rows(df.select("k", "who")) == [(1, "ann"), (2, "bob"), (3, None)]


def test_csv_directory_and_filter(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("k,v\n1,10\n2,20\n")
    (tmp_path / "b.csv").write_text("k,v\n3,30\n")
    df = spark.read.format("csv").option("header", "true").option("inferSchema", "true") \
        .load(str(tmp_path))
    assert rows(df) == [(1, 10), (2, 20), (3, 30)]
    assert rows(df.filter(F.col("v") >= 20).select("k")) == [(2,), (3,)]


def test_empty_csv_and_json_files_are_read_as_no_rows(spark: SparkSession,
                                                      tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "a.csv").write_text("k,v\n1,x\n")
    (tmp_path / "csv" / "b.csv").write_text("")
    df = spark.read.csv(str(tmp_path / "csv"), header=True, inferSchema=True)
    assert rows(df) == [(1, "x")]
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "a.json").write_text('{"k": 1}\n')
    (tmp_path / "json" / "b.json").write_text("")
    assert rows(spark.read.json(str(tmp_path / "json"))) == [(1,)]
    only_empty = str(tmp_path / "csv" / "b.csv")
    assert spark.read.csv(only_empty, schema="k INT, v STRING").count() == 0
    with pytest.raises(AnalysisException, match="UNABLE_TO_INFER_SCHEMA.*every file is empty"):
        spark.read.csv(only_empty)


# ---------------------------------------------------------------------------------------------
# JSON lines

JSON_TEXT = """{"name": "ann", "age": 31, "score": 2.5, "ok": true, "tags": ["a", "b"], "addr": {"zip": "123", "city": "x"}, "when": "2020-01-01", "gone": null}
{"name": "bob", "score": 3, "ok": false, "tags": [], "gone": null}
{"name": null, "age": 5000000000, "addr": {"city": "y"}}
"""  # noqa: E501


@pytest.fixture
def json_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.json"
    path.write_text(JSON_TEXT)
    return path


def test_json_lines_inference(spark: SparkSession, json_file: Path) -> None:
    df = spark.read.json(str(json_file))
    # Fields sorted by name, also inside structs; integers are bigint; a field that is always
    # null is a string; date-looking strings stay strings.
    assert df.dtypes == [("addr", "struct<city:string,zip:string>"), ("age", "bigint"),
                         ("gone", "string"), ("name", "string"), ("ok", "boolean"),
                         ("score", "double"), ("tags", "array<string>"), ("when", "string")]
    by_name = {r["name"]: r for r in df.collect()}
    assert by_name["ann"]["addr"] == Row(city="x", zip="123")
    assert by_name["ann"]["tags"] == ["a", "b"]
    assert by_name["bob"]["age"] is None and by_name["bob"]["score"] == 3.0
    assert by_name[None]["age"] == 5_000_000_000 and by_name[None]["tags"] is None
    oracle = pd.read_json(json_file, lines=True)
    assert rows(df.filter(F.col("ok")).select("name")) == \
        [(n,) for n in oracle.loc[oracle["ok"].eq(True), "name"]]


def test_json_with_a_schema_reads_only_those_fields(spark: SparkSession,
                                                    json_file: Path) -> None:
    df = spark.read.json(str(json_file), schema="name STRING, age BIGINT")
    assert df.columns == ["name", "age"]
    assert rows(df) == [("ann", 31), ("bob", None), (None, 5_000_000_000)]


def test_json_filter_and_projection(spark: SparkSession, json_file: Path) -> None:
    df = spark.read.json(str(json_file)).filter(F.col("score") > 2.6).select("name")
    assert rows(df) == [("bob",)]


def test_json_field_mixing_types_is_an_analysis_error(spark: SparkSession,
                                                       tmp_path: Path) -> None:
    (tmp_path / "mixed.json").write_text('{"a": 1}\n{"a": "x"}\n')
    with pytest.raises(AnalysisException, match="cannot infer a schema for json"):
        spark.read.json(str(tmp_path / "mixed.json"))


# ---------------------------------------------------------------------------------------------
# Reader errors


def test_missing_path_is_an_analysis_error(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(AnalysisException, match=r"\[PATH_NOT_FOUND\].*nope"):
        spark.read.parquet(str(tmp_path / "nope"))


def test_empty_directory_cannot_infer_a_schema(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(AnalysisException, match=r"UNABLE_TO_INFER_SCHEMA.*\n\nspecify"):
        spark.read.csv(str(tmp_path))


def test_unknown_source_format_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(AnalysisException, match="unsupported data source 'avro'"):
        spark.read.format("avro").load(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# createDataFrame


def test_create_from_tuples_and_names(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a", 2.0), (2, None, None)], ["x", "y", "z"])
    assert df.dtypes == [("x", "bigint"), ("y", "string"), ("z", "double")]
    assert rows(df) == [(1, "a", 2.0), (2, None, None)]


def test_create_from_tuples_without_names(spark: SparkSession) -> None:
    assert spark.createDataFrame([(1, "a")]).columns == ["_1", "_2"]


def test_create_with_fewer_names_than_columns_keeps_positional_names(
        spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a", True)], ["x"])
    assert df.columns == ["x", "_2", "_3"]
    assert rows(df) == [(1, "a", True)]


def test_create_from_pandas_with_names(spark: SparkSession) -> None:
    df = spark.createDataFrame(pd.DataFrame({"x": [1], "y": ["a"]}), ["p", "q"])
    assert df.dtypes == [("p", "bigint"), ("q", "string")]


def test_create_from_rows(spark: SparkSession) -> None:
    df = spark.createDataFrame([Row(a=1, b=2.0), Row(a=3, b=None)])
    assert df.dtypes == [("a", "bigint"), ("b", "double")]
    assert df.collect() == [Row(a=1, b=2.0), Row(a=3, b=None)]


def test_create_from_dicts_sorts_the_keys(spark: SparkSession) -> None:
    df = spark.createDataFrame([{"b": 1, "a": "x"}, {"b": 2, "a": None}])
    assert df.dtypes == [("a", "string"), ("b", "bigint")]
    assert rows(df) == [("x", 1), (None, 2)]


def test_create_from_pandas_with_missing_values(spark: SparkSession) -> None:
    pdf = pd.DataFrame({"f": [1.0, float("nan"), None], "s": ["a", None, "c"], "i": [1, 2, 3],
                        "n": pd.array([1, None, 3], dtype="Int64")})
    df = spark.createDataFrame(pdf)
    assert df.dtypes == [("f", "double"), ("s", "string"), ("i", "bigint"), ("n", "bigint")]
    # Missing values arrive as nulls, as in PySpark's Arrow conversion.
    assert rows(df) == sorted([(1.0, "a", 1, 1), (None, None, 2, None), (None, "c", 3, 3)],
                              key=_key)


def test_create_from_pandas_round_trips_through_to_pandas(spark: SparkSession) -> None:
    pdf = pd.DataFrame({"k": [3, 1, 2], "v": ["c", "a", "b"]})
    back = spark.createDataFrame(pdf).toPandas().sort_values("k").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, pdf.sort_values("k").reset_index(drop=True),
                                  check_dtype=False)


def test_create_from_a_pyarrow_table(spark: SparkSession) -> None:
    table = pa.table({"a": pa.array([1, 2], pa.int32()),
                      "s": pa.array(["x", None], pa.large_string())})
    df = spark.createDataFrame(table)
    assert df.dtypes == [("a", "int"), ("s", "string")]
    assert rows(df) == [(1, "x"), (2, None)]


def test_create_with_a_struct_type(spark: SparkSession) -> None:
    schema = StructType([StructField("x", IntegerType(), False), StructField("y", StringType()),
                         StructField("z", DoubleType())])
    df = spark.createDataFrame([(1, "a", 0.5), (2, None, None)], schema)
    assert df.schema == schema
    assert rows(df) == [(1, "a", 0.5), (2, None, None)]


def test_create_with_a_ddl_string(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a")], "a INT, b STRING")
    assert df.schema == StructType([StructField("a", IntegerType()),
                                    StructField("b", StringType())])
    assert rows(df) == [(1, "a")]
    assert spark.createDataFrame([(1, "a")], "a: bigint, b: string").dtypes == \
        [("a", "bigint"), ("b", "string")]


def test_create_with_a_single_type_names_the_column_value(spark: SparkSession) -> None:
    assert spark.createDataFrame([1, 2], "int").dtypes == [("value", "int")]
    assert spark.createDataFrame([1, 2], LongType()).dtypes == [("value", "bigint")]


def test_create_empty_with_a_schema(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "a INT, b STRING")
    assert df.columns == ["a", "b"] and df.count() == 0


@pytest.mark.parametrize(("ddl", "pattern"), [
    pytest.param("a INT, b STRNG", r"'strng' is not a known data type \(line 1, column 10\)",
                 id="unknown-type"),
    pytest.param("a INT b STRING", r"expected ',' or the end of the schema", id="missing-comma"),
])
def test_bad_ddl_is_a_parse_error_with_a_position(spark: SparkSession, ddl: str,
                                                  pattern: str) -> None:
    with pytest.raises(ParseException, match=pattern) as info:
        spark.createDataFrame([(1, "a")], ddl)
    assert info.value.line == 1 and info.value.column is not None


def test_values_that_do_not_fit_the_schema_are_refused(spark: SparkSession) -> None:
    with pytest.raises(TypeError, match="field a"):
        spark.createDataFrame([("x", "a")], "a INT, b STRING")


# ---------------------------------------------------------------------------------------------
# range


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param((5,), list(range(5)), id="end"),
    pytest.param((2, 7), list(range(2, 7)), id="start-end"),
    pytest.param((0, 10, 3), list(range(0, 10, 3)), id="step"),
    pytest.param((10, 0, -3), list(range(10, 0, -3)), id="negative-step"),
    pytest.param((-5, 5, 2), list(range(-5, 5, 2)), id="negative-start"),
    pytest.param((5, 0), [], id="empty"),
    pytest.param((0, 5, -1), [], id="empty-negative-step"),
    pytest.param((0, 10, 1, 3), list(range(10)), id="three-partitions"),
    pytest.param((0, 3, 1, 8), list(range(3)), id="more-partitions-than-rows"),
    pytest.param((0, 2**40, 2**37), list(range(0, 2**40, 2**37)), id="large-values"),
    pytest.param((4.0,), list(range(4)), id="float-bound-as-pyspark-int-converts"),
])
def test_range(spark: SparkSession, args: tuple[Any, ...], expected: list[int]) -> None:
    df = spark.range(*args)
    assert df.schema == StructType([StructField("id", LongType(), False)])
    assert sorted(r.id for r in df.collect()) == sorted(expected)
    assert df.count() == len(expected)


def test_range_partitions_follow_num_partitions(spark: SparkSession) -> None:
    assert "splits=3)" in spark.range(0, 10, 1, 3)._explain_string()
    assert "splits=5)" in spark.range(0, 10, numPartitions=5)._explain_string()


def test_range_step_zero_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="step must not be 0"):
        spark.range(0, 5, 0)
