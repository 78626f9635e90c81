from __future__ import annotations

import datetime
import decimal
from collections import namedtuple
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from ember.sql.conversion import (
    arrow_to_rows,
    infer_schema,
    infer_type,
    merge_types,
    rows_to_arrow,
)
from ember.sql.row import Row, make_row
from ember.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    parse_ddl,
)


def _schema(ddl: str) -> StructType:
    parsed = parse_ddl(ddl)
    assert isinstance(parsed, StructType)
    return parsed


# --- infer_type / infer_schema ----------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (None, NullType()), (True, BooleanType()), (1, LongType()), (1.5, DoubleType()),
    ("a", StringType()), (b"x", BinaryType()), (bytearray(b"y"), BinaryType()),
    (decimal.Decimal("1.2"), DecimalType(38, 18)),
    (datetime.datetime(2020, 1, 1), TimestampType()), (datetime.date(2020, 1, 1), DateType()),
    ([1, None, 2], ArrayType(LongType())), ([], ArrayType(NullType())),
    ({"k": 1.5}, MapType(StringType(), DoubleType())),
    (Row(a=1, b="x"), StructType([StructField("a", LongType()), StructField("b", StringType())])),
    ((1, "x"), StructType([StructField("_1", LongType()), StructField("_2", StringType())])),
    (np.int32(3), LongType()), (np.float64(2.0), DoubleType()), (np.bool_(True), BooleanType()),
])
def test_infer_type_follows_pyspark(value: Any, expected: DataType) -> None:
    assert infer_type(value) == expected


def test_infer_type_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError, match="can not infer a Spark type for"):
        infer_type(object())


def test_infer_schema_from_tuples_names_columns_by_position() -> None:
    schema = infer_schema([(1, "a"), (None, "b")])
    assert repr(schema) == (
        "StructType([StructField('_1', LongType(), True), StructField('_2', StringType(), True)])"
    )


def test_infer_schema_of_every_supported_value() -> None:
    row = (1.5, decimal.Decimal("1.2"), b"x", bytearray(b"y"), datetime.datetime(2020, 1, 1),
           True, {"k": 1}, datetime.date(2020, 1, 1), [[1]])
    assert infer_schema([row]).simpleString() == (
        "struct<_1:double,_2:decimal(38,18),_3:binary,_4:binary,_5:timestamp,_6:boolean,"
        "_7:map<string,bigint>,_8:date,_9:array<array<bigint>>>"
    )


def test_infer_schema_from_rows_and_nested_rows() -> None:
    schema = infer_schema([Row(a=1, b=Row(c=datetime.date(2020, 1, 1)))])
    assert repr(schema) == (
        "StructType([StructField('a', LongType(), True), StructField('b', "
        "StructType([StructField('c', DateType(), True)]), True)])"
    )


def test_infer_schema_from_namedtuples() -> None:
    point = namedtuple("point", "x y")
    assert infer_schema([point(1, "a")]).names == ["x", "y"]


def test_infer_schema_from_dicts_sorts_keys_and_unions_them() -> None:
    assert infer_schema([{"b": 1, "a": 2}]).names == ["a", "b"]
    schema = infer_schema([{"a": 1, "b": 2}, {"b": 3, "c": "x"}])
    assert schema.simpleString() == "struct<a:bigint,b:bigint,c:string>"


def test_infer_schema_of_rows_keeps_field_order() -> None:
    assert infer_schema([Row(b=1, a=2)]).names == ["b", "a"]


def test_infer_schema_merges_types_across_all_rows() -> None:
    data = [(None, [], {}), (1, [None], {"a": None}), (None, [2.5], {"b": 1})]
    schema = infer_schema(data)
    assert schema.simpleString() == "struct<_1:bigint,_2:array<double>,_3:map<string,bigint>>"


def test_infer_schema_of_rows_of_different_lengths_takes_the_union() -> None:
    assert infer_schema([(1, 2), (1,)]).names == ["_1", "_2"]


def test_infer_schema_of_scalars_makes_a_value_column() -> None:
    assert infer_schema([1, 2, None]) == StructType([StructField("value", LongType())])


def test_infer_schema_with_names_renames_in_order() -> None:
    assert infer_schema([(1, "a", True)], names=["id", "s"]).names == ["id", "s", "_3"]
    with pytest.raises(ValueError, match="got 3 column names for data of 2 columns"):
        infer_schema([(1, 2)], names=["a", "b", "c"])


def test_long_and_double_do_not_merge() -> None:
    with pytest.raises(TypeError) as info:
        infer_schema([(1,), (1.5,)], names=["x"])
    assert str(info.value).startswith(
        "can not merge type LongType() and DoubleType() in column '_1'\n\n"
    )


def test_nested_merge_errors_name_the_path() -> None:
    with pytest.raises(TypeError, match=r"in column 'tags\.element'"):
        infer_schema([{"tags": [1.5]}, {"tags": [1]}])


def test_mixed_types_inside_one_value_name_the_column() -> None:
    with pytest.raises(TypeError, match=r"LongType\(\) and DoubleType\(\) in column 'x\.element'"):
        infer_schema([{"x": [1, 1.5]}])
    with pytest.raises(TypeError, match=r"in column '_2\.value'"):
        infer_schema([(1, {"a": 1, "b": [1]})])


def test_strings_absorb_other_atomic_types_as_in_pyspark_4() -> None:
    assert infer_schema([("a",), (1,)]) == StructType([StructField("_1", StringType())])
    assert merge_types(BooleanType(), StringType()) == StringType()
    assert merge_types(TimestampNTZType(), TimestampType()) == TimestampType()
    with pytest.raises(TypeError):
        merge_types(ArrayType(LongType()), StringType())


def test_all_none_column_cannot_be_inferred() -> None:
    with pytest.raises(ValueError) as info:
        infer_schema([(1, None), (2, None)], names=["a", "x"])
    assert str(info.value) == (
        "can not infer the type of column 'x': every value is None\n\n"
        "pass a schema, e.g. createDataFrame(data, 'a BIGINT, b STRING')"
    )


def test_always_empty_list_cannot_be_inferred() -> None:
    with pytest.raises(ValueError, match="column '_1': its type array<void> has a part"):
        infer_schema([([],), ([None],)])


def test_infer_schema_rejects_empty_and_mixed_data() -> None:
    with pytest.raises(ValueError, match="can not infer a schema from empty data"):
        infer_schema([])
    with pytest.raises(TypeError, match=r"data\[1\] is a int but data\[0\] is a tuple"):
        infer_schema([(1,), 2])


# --- rows_to_arrow ----------------------------------------------------------------------------

def test_rows_to_arrow_from_every_kind_of_row() -> None:
    schema = _schema("name string, age bigint")
    data = [("Alice", 1), ["Bob", 2], Row(age=3, name="Carol"), {"name": "Dan"},
            make_row(["name", "age"], ("Eve", None))]
    table = rows_to_arrow(data, schema)
    assert table.schema == pa.schema([("name", pa.string()), ("age", pa.int64())])
    assert table.to_pydict() == {
        "name": ["Alice", "Bob", "Carol", "Dan", "Eve"], "age": [1, 2, 3, None, None],
    }


def test_rows_to_arrow_accepts_scalars_for_one_column() -> None:
    table = rows_to_arrow([1, None, 3], StructType([StructField("value", LongType())]))
    assert table.column("value").to_pylist() == [1, None, 3]
    with pytest.raises(TypeError, match=r"data\[0\] is a int, not a row of 2 fields"):
        rows_to_arrow([1], _schema("a int, b int"))


def test_rows_to_arrow_converts_every_type() -> None:
    schema = _schema(
        "b tinyint, s smallint, i int, l bigint, f float, d double, dec decimal(10,2), "
        "str string, bin binary, bool boolean, dt date, ts timestamp, ntz timestamp_ntz, "
        "arr array<int>, m map<string, array<double>>, st struct<x: int, y: string>"
    )
    row = (1, 2, 3, 4, 1.5, 2.5, decimal.Decimal("1.25"), "s", bytearray(b"\x01"), True,
           datetime.datetime(2020, 1, 2, 3, 4), datetime.datetime(2020, 1, 2, 3, 4, 5),
           datetime.datetime(2020, 1, 2, 3, 4, 5), (1, None), {"k": [0.5]},
           Row(x=1, y="a"))
    table = rows_to_arrow([row, (None,) * 16], schema)
    assert [f.type for f in table.schema] == [
        pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64(),
        pa.decimal128(10, 2), pa.string(), pa.binary(), pa.bool_(), pa.date32(),
        pa.timestamp("us"), pa.timestamp("us"), pa.list_(pa.int32()),
        pa.map_(pa.string(), pa.list_(pa.float64())),
        pa.struct([("x", pa.int32()), ("y", pa.string())]),
    ]
    first, second = arrow_to_rows(table)
    assert first == (1, 2, 3, 4, 1.5, 2.5, decimal.Decimal("1.25"), "s", b"\x01", True,
                     datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5),
                     datetime.datetime(2020, 1, 2, 3, 4, 5), [1, None], {"k": [0.5]},
                     Row(x=1, y="a"))
    assert second == (None,) * 16


def test_rows_to_arrow_accepts_numpy_scalars() -> None:
    table = rows_to_arrow([(np.int64(1), np.float32(0.5), np.bool_(False))],
                          _schema("a bigint, b double, c boolean"))
    assert table.to_pylist() == [{"a": 1, "b": 0.5, "c": False}]


def test_wrong_type_error_names_field_type_value_and_row() -> None:
    with pytest.raises(TypeError) as info:
        rows_to_arrow([(1,), (2,), ("x",)], _schema("age bigint"))
    assert str(info.value) == (
        "field age: LongType() can not accept object 'x' in type <class 'str'> (data[2])\n\n"
        "convert the value to a bigint, or change the schema of age"
    )


def test_int_is_rejected_for_double_as_in_pyspark() -> None:
    with pytest.raises(TypeError, match=r"field a: DoubleType\(\) can not accept object 1 in"):
        rows_to_arrow([(1,)], _schema("a double"))


def test_bool_is_not_an_integer() -> None:
    with pytest.raises(TypeError, match="LongType"):
        rows_to_arrow([(True,)], _schema("a bigint"))


def test_integers_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"field a: 200 is out of range for ByteType\(\)"):
        rows_to_arrow([(200,)], _schema("a tinyint"))
    with pytest.raises(ValueError, match="out of range for LongType"):
        rows_to_arrow([(2**63,)], _schema("a bigint"))


def test_none_in_non_nullable_field_is_rejected() -> None:
    with pytest.raises(ValueError) as info:
        rows_to_arrow([(1,), (None,)], _schema("a int not null"))
    assert str(info.value) == (
        "field a: this field is not nullable, but got None (data[1])\n\n"
        "pass a value, or make a nullable"
    )


def test_nested_errors_name_the_nested_path() -> None:
    schema = StructType([StructField("s", StructType([StructField("x", IntegerType(), False)]))])
    with pytest.raises(ValueError, match=r"field s\.x: this field is not nullable"):
        rows_to_arrow([((None,),)], schema)
    with pytest.raises(TypeError, match=r"field m\.value: LongType\(\) can not accept"):
        rows_to_arrow([({"a": "b"},)], _schema("m map<string, bigint>"))
    with pytest.raises(ValueError, match=r"field m\.key: this field is not nullable"):
        rows_to_arrow([({None: 1},)], _schema("m map<string, bigint>"))
    no_null_elements = StructType([StructField("a", ArrayType(LongType(), False))])
    with pytest.raises(ValueError, match=r"field a\.element: this field is not nullable"):
        rows_to_arrow([([1, None],)], no_null_elements)
    with pytest.raises(ValueError, match=r"field s: a struct of 2 fields can not take 1 values"):
        rows_to_arrow([((1,),)], _schema("s struct<a: int, b: int>"))


def test_wrong_row_length_is_rejected() -> None:
    with pytest.raises(ValueError) as info:
        rows_to_arrow([(1, 2, 3), (1, 2)], _schema("a int, b int, c int"))
    assert str(info.value).startswith("data[1] has 2 fields but the schema has 3\n\n")


def test_decimal_that_does_not_fit_is_reported_with_the_field() -> None:
    with pytest.raises(ValueError, match=r"field d: (.|\n)*values fit decimal\(3,1\)"):
        rows_to_arrow([(decimal.Decimal("1.25"),)], _schema("d decimal(3,1)"))


def test_datetime_into_date_keeps_the_date_and_aware_timestamps_become_wall_clock() -> None:
    aware = datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    table = rows_to_arrow([(aware, aware, aware)], _schema("d date, ts timestamp, n timestamp_ntz"))
    assert table.to_pylist() == [{
        "d": datetime.date(2020, 1, 1),
        "ts": aware.astimezone().replace(tzinfo=None),
        "n": datetime.datetime(2020, 1, 1, 12),
    }]


def test_inferred_string_columns_take_other_values_as_strings() -> None:
    data = [("a",), (1,), (True,), (1.5,), (datetime.date(2020, 1, 2),)]
    schema = infer_schema(data)
    with pytest.raises(TypeError, match="StringType"):
        rows_to_arrow(data, schema)
    table = rows_to_arrow(data, schema, verify_schema=False)
    assert table.column("_1").to_pylist() == ["a", "1", "true", "1.5", "2020-01-02"]


def test_empty_data_gives_an_empty_table_of_the_schema() -> None:
    table = rows_to_arrow([], _schema("a int, b array<string>"))
    assert table.num_rows == 0
    assert table.schema == pa.schema([("a", pa.int32()), ("b", pa.list_(pa.string()))])


def test_rows_to_arrow_takes_an_iterator() -> None:
    table = rows_to_arrow(((i, str(i)) for i in range(3)), _schema("a bigint, b string"))
    assert table.column("b").to_pylist() == ["0", "1", "2"]


# --- arrow_to_rows ----------------------------------------------------------------------------

def test_arrow_to_rows_converts_nested_types_to_python() -> None:
    table = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "s": pa.array([{"x": 1, "y": [{"z": "a"}]}, None],
                      pa.struct([("x", pa.int32()), ("y", pa.list_(pa.struct([("z", pa.string())])))])),
        "m": pa.array([[("a", {"q": 1.5})], None],
                      pa.map_(pa.string(), pa.struct([("q", pa.float64())]))),
        "l": pa.array([[1, None], None], pa.list_(pa.int64())),
        "d": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2)),
        "dt": pa.array([datetime.date(2020, 1, 2), None]),
        "ts": pa.array([datetime.datetime(2020, 1, 2, 3, 4, 5, 6), None], pa.timestamp("us")),
    })
    rows = arrow_to_rows(table)
    assert repr(rows[0]) == (
        "Row(id=1, s=Row(x=1, y=[Row(z='a')]), m={'a': Row(q=1.5)}, l=[1, None], "
        "d=Decimal('1.50'), dt=datetime.date(2020, 1, 2), "
        "ts=datetime.datetime(2020, 1, 2, 3, 4, 5, 6))"
    )
    assert repr(rows[1]) == "Row(id=2, s=None, m=None, l=None, d=None, dt=None, ts=None)"


def test_arrow_to_rows_with_duplicate_names() -> None:
    table = pa.table({"c0": [1, 2], "c1": ["a", "b"]})
    rows = arrow_to_rows(table, names=["id", "id"])
    assert repr(rows) == "[Row(id=1, id='a'), Row(id=2, id='b')]"
    assert rows[0].id == 1
    with pytest.raises(ValueError, match="got 1 names for a table of 2 columns"):
        arrow_to_rows(table, names=["id"])


def test_arrow_to_rows_keeps_struct_fields_with_the_same_name() -> None:
    struct = pa.StructArray.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    (row,) = arrow_to_rows(pa.table({"s": struct}))
    assert repr(row) == "Row(s=Row(a=1, a=2))"


def test_arrow_to_rows_of_sliced_chunked_and_batch_inputs() -> None:
    lists = pa.array([[1], None, [2, 3], [4]], pa.list_(pa.int64()))
    maps = pa.array([[("a", 1)], [("b", 2)], None, [("c", 3)]], pa.map_(pa.string(), pa.int64()))
    structs = pa.array([{"x": 1}, None, {"x": 3}, {"x": 4}], pa.struct([("x", pa.int64())]))
    batch = pa.RecordBatch.from_arrays([lists, maps, structs], names=["l", "m", "s"]).slice(1, 2)
    assert arrow_to_rows(batch) == [(None, {"b": 2}, None), ([2, 3], None, Row(x=3))]
    table = pa.Table.from_batches([batch, batch])
    assert len(arrow_to_rows(table)) == 4


def test_arrow_to_rows_normalises_timestamps_dictionaries_and_fixed_lists() -> None:
    instant = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    table = pa.table({
        "tz": pa.array([instant], pa.timestamp("us", tz="Asia/Tokyo")),
        "ns": pa.array([1_000_000_001], pa.timestamp("ns")),
        "dict": pa.array(["x"]).dictionary_encode(),
        "fixed": pa.array([[{"a": 1}]], pa.list_(pa.struct([("a", pa.int64())]), 1)),
        "large": pa.array([["s"]], pa.large_list(pa.large_string())),
    })
    assert arrow_to_rows(table) == [(
        datetime.datetime(2020, 1, 1, 9), datetime.datetime(1970, 1, 1, 0, 0, 1), "x",
        [Row(a=1)], ["s"],
    )]


def test_arrow_to_rows_without_columns() -> None:
    table = pa.table({"a": [1, 2]}).select([])
    assert arrow_to_rows(table) == [(), ()]


def test_round_trip_through_arrow() -> None:
    schema = _schema("a int, s struct<x: array<map<string, float>>>, b binary")
    data = [(1, Row(x=[{"k": 0.5}]), b"\x00"), (None, None, None)]
    rows = arrow_to_rows(rows_to_arrow(data, schema))
    assert rows == data
    assert rows[0].__fields__ == ["a", "s", "b"]
    assert rows[0].s.__fields__ == ["x"]


def test_float_columns_round_trip_as_python_floats() -> None:
    table = rows_to_arrow([(0.5,)], StructType([StructField("f", FloatType())]))
    assert arrow_to_rows(table) == [(0.5,)]
    assert rows_to_arrow([(1,)], StructType([StructField("b", ByteType())])).column(0).type == \
        pa.int8()
