from __future__ import annotations

import pickle
import re

import pyarrow as pa
import pytest

from ember.errors import ParseException
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
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    from_arrow_schema,
    from_arrow_type,
    from_json,
    parse_ddl,
    to_arrow_schema,
    to_arrow_type,
)

ATOMIC_NAMES = [
    # (type, repr, simpleString, typeName)
    (NullType(), "NullType()", "void", "void"),
    (StringType(), "StringType()", "string", "string"),
    (BinaryType(), "BinaryType()", "binary", "binary"),
    (BooleanType(), "BooleanType()", "boolean", "boolean"),
    (DateType(), "DateType()", "date", "date"),
    (TimestampType(), "TimestampType()", "timestamp", "timestamp"),
    (TimestampNTZType(), "TimestampNTZType()", "timestamp_ntz", "timestamp_ntz"),
    (DecimalType(), "DecimalType(10,0)", "decimal(10,0)", "decimal"),
    (DoubleType(), "DoubleType()", "double", "double"),
    (FloatType(), "FloatType()", "float", "float"),
    (ByteType(), "ByteType()", "tinyint", "byte"),
    (ShortType(), "ShortType()", "smallint", "short"),
    (IntegerType(), "IntegerType()", "int", "integer"),
    (LongType(), "LongType()", "bigint", "long"),
]


@pytest.mark.parametrize(("dt", "rep", "simple", "name"), ATOMIC_NAMES)
def test_atomic_types_print_as_pyspark(dt: DataType, rep: str, simple: str, name: str) -> None:
    assert repr(dt) == rep
    assert dt.simpleString() == simple
    assert dt.typeName() == name


def test_types_are_equal_and_hash_by_value() -> None:
    assert LongType() == LongType()
    assert LongType() != IntegerType()
    assert TimestampType() != TimestampNTZType()
    assert DecimalType(10, 2) == DecimalType(10, 2)
    assert DecimalType(10, 2) != DecimalType(10, 3)
    assert ArrayType(LongType()) == ArrayType(LongType(), True)
    assert ArrayType(LongType(), False) != ArrayType(LongType(), True)
    assert MapType(StringType(), LongType()) == MapType(StringType(), LongType(), True)
    s1 = StructType([StructField("a", LongType())])
    s2 = StructType([StructField("a", LongType(), True)])
    assert s1 == s2
    assert s1 != StructType([StructField("a", LongType(), False)])
    assert len({LongType(), LongType(), DecimalType(5, 1), DecimalType(5, 1), s1, s2}) == 3


def test_nested_type_reprs_match_pyspark() -> None:
    schema = StructType([
        StructField("a", ArrayType(IntegerType(), False), False),
        StructField("m", MapType(StringType(), IntegerType(), False), True),
        StructField("s", StructType([StructField("x", DecimalType(10, 2))])),
    ])
    assert repr(schema) == (
        "StructType([StructField('a', ArrayType(IntegerType(), False), False), "
        "StructField('m', MapType(StringType(), IntegerType(), False), True), "
        "StructField('s', StructType([StructField('x', DecimalType(10,2), True)]), True)])"
    )
    assert schema.simpleString() == (
        "struct<a:array<int>,m:map<string,int>,s:struct<x:decimal(10,2)>>"
    )


def test_json_matches_pyspark_and_round_trips() -> None:
    schema = StructType([
        StructField("id", LongType(), False, {"comment": "key"}),
        StructField("tags", ArrayType(StringType())),
        StructField("m", MapType(StringType(), DecimalType(10, 2), False)),
    ])
    assert schema.json() == (
        '{"fields":[{"metadata":{"comment":"key"},"name":"id","nullable":false,"type":"long"},'
        '{"metadata":{},"name":"tags","nullable":true,"type":{"containsNull":true,'
        '"elementType":"string","type":"array"}},{"metadata":{},"name":"m","nullable":true,'
        '"type":{"keyType":"string","type":"map","valueContainsNull":false,'
        '"valueType":"decimal(10,2)"}}],"type":"struct"}'
    )
    assert from_json(schema.json()) == schema
    assert StructType.fromJson(schema.jsonValue()) == schema
    assert from_json("integer") == IntegerType()
    assert from_json("decimal(5,1)") == DecimalType(5, 1)
    with pytest.raises(ValueError, match="cannot read a data type"):
        from_json("int")


def test_struct_type_add_accepts_fields_names_and_type_strings() -> None:
    schema = (StructType().add("a", "integer").add("b", LongType(), False)
              .add(StructField("c", StringType())).add("d", "array<int>"))
    assert schema.names == ["a", "b", "c", "d"]
    assert schema.fieldNames() == ["a", "b", "c", "d"]
    assert schema["b"] == StructField("b", LongType(), False)
    assert schema["d"].dataType == ArrayType(IntegerType())
    with pytest.raises(TypeError, match="needs a data type"):
        StructType().add("a")


def test_struct_type_indexing_iteration_and_length() -> None:
    schema = StructType([StructField("a", LongType()), StructField("b", StringType())])
    assert schema[1] == StructField("b", StringType())
    assert schema[-1] == StructField("b", StringType())
    assert schema[0:1] == StructType([StructField("a", LongType())])
    assert list(schema) == schema.fields
    assert len(schema) == 2
    with pytest.raises(KeyError, match="no field named 'zz'"):
        schema["zz"]
    with pytest.raises(IndexError, match="out of range"):
        schema[5]
    with pytest.raises(TypeError, match="not float"):
        schema[1.5]  # type: ignore[index]
    with pytest.raises(TypeError, match="StructField"):
        StructType([LongType()])  # type: ignore[list-item]


def test_tree_string_matches_print_schema() -> None:
    schema = StructType([
        StructField("a", LongType()),
        StructField("s", StructType([StructField("x", IntegerType(), False)])),
        StructField("arr", ArrayType(IntegerType())),
        StructField("m", MapType(StringType(), LongType())),
    ])
    assert schema.treeString() == (
        "root\n"
        " |-- a: long (nullable = true)\n"
        " |-- s: struct (nullable = true)\n"
        " |    |-- x: integer (nullable = false)\n"
        " |-- arr: array (nullable = true)\n"
        " |    |-- element: integer (containsNull = true)\n"
        " |-- m: map (nullable = true)\n"
        " |    |-- key: string\n"
        " |    |-- value: long (valueContainsNull = true)\n"
    )


def test_tree_string_of_deeply_nested_and_special_types() -> None:
    schema = StructType([
        StructField("aa", ArrayType(ArrayType(IntegerType(), False), False), False),
        StructField("ma", MapType(IntegerType(), ArrayType(StringType(), False), False), False),
        StructField("sa", ArrayType(StructType([StructField("a", NullType())]), False)),
        StructField("d", DecimalType(38, 18)),
        StructField("t", TimestampNTZType()),
        StructField("we\nird", ByteType()),
    ])
    assert schema.treeString() == (
        "root\n"
        " |-- aa: array (nullable = false)\n"
        " |    |-- element: array (containsNull = false)\n"
        " |    |    |-- element: integer (containsNull = false)\n"
        " |-- ma: map (nullable = false)\n"
        " |    |-- key: integer\n"
        " |    |-- value: array (valueContainsNull = false)\n"
        " |    |    |-- element: string (containsNull = false)\n"
        " |-- sa: array (nullable = true)\n"
        " |    |-- element: struct (containsNull = false)\n"
        " |    |    |-- a: void (nullable = true)\n"
        " |-- d: decimal(38,18) (nullable = true)\n"
        " |-- t: timestamp_ntz (nullable = true)\n"
        " |-- we\\nird: byte (nullable = true)\n"
    )
    assert schema.treeString(level=1) == (
        "root\n"
        " |-- aa: array (nullable = false)\n"
        " |-- ma: map (nullable = false)\n"
        " |-- sa: array (nullable = true)\n"
        " |-- d: decimal(38,18) (nullable = true)\n"
        " |-- t: timestamp_ntz (nullable = true)\n"
        " |-- we\\nird: byte (nullable = true)\n"
    )


def test_empty_struct_tree_string() -> None:
    assert StructType().treeString() == "root\n"


def test_types_pickle() -> None:
    schema = StructType([StructField("a", ArrayType(DecimalType(5, 2))), StructField("b", DateType())])
    assert pickle.loads(pickle.dumps(schema)) == schema


def test_invalid_decimal_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"decimal\(39,0\) is not a valid decimal type"):
        DecimalType(39, 0)
    with pytest.raises(ValueError, match="scale"):
        DecimalType(5, 6)


# --- arrow ------------------------------------------------------------------------------------

ARROW_PAIRS = [
    (LongType(), pa.int64()), (IntegerType(), pa.int32()), (ShortType(), pa.int16()),
    (ByteType(), pa.int8()), (DoubleType(), pa.float64()), (FloatType(), pa.float32()),
    (StringType(), pa.string()), (BinaryType(), pa.binary()), (BooleanType(), pa.bool_()),
    (DateType(), pa.date32()), (TimestampType(), pa.timestamp("us")),
    (DecimalType(12, 3), pa.decimal128(12, 3)), (NullType(), pa.null()),
]


@pytest.mark.parametrize(("dt", "arrow"), ARROW_PAIRS)
def test_arrow_mapping_round_trips(dt: DataType, arrow: pa.DataType) -> None:
    assert to_arrow_type(dt) == arrow
    assert from_arrow_type(arrow) == dt


def test_nested_arrow_mapping_keeps_nullability() -> None:
    dt = StructType([
        StructField("a", ArrayType(LongType(), False), False),
        StructField("m", MapType(StringType(), IntegerType(), False)),
        StructField("s", StructType([StructField("x", StringType(), False)])),
    ])
    arrow = to_arrow_type(dt)
    assert arrow.field("a").nullable is False
    assert arrow.field("a").type.value_field.nullable is False
    assert arrow.field("m").type.item_field.nullable is False
    assert arrow.field("m").type.key_field.nullable is False
    assert arrow.field("s").type.field("x").nullable is False
    assert from_arrow_type(arrow) == dt


def test_other_arrow_types_map_to_the_nearest_spark_type() -> None:
    assert from_arrow_type(pa.large_string()) == StringType()
    assert from_arrow_type(pa.large_binary()) == BinaryType()
    assert from_arrow_type(pa.date64()) == DateType()
    assert from_arrow_type(pa.timestamp("ns", tz="UTC")) == TimestampType()
    assert from_arrow_type(pa.timestamp("s")) == TimestampType()
    assert from_arrow_type(pa.large_list(pa.int32())) == ArrayType(IntegerType())
    assert from_arrow_type(pa.list_(pa.int32(), 3)) == ArrayType(IntegerType())
    assert from_arrow_type(pa.dictionary(pa.int32(), pa.string())) == StringType()
    assert from_arrow_type(pa.uint32()) == LongType()
    assert to_arrow_type(TimestampNTZType()) == pa.timestamp("us")


@pytest.mark.parametrize("arrow", [pa.time64("us"), pa.duration("s"), pa.float16(),
                                   pa.decimal256(50, 2)])
def test_unsupported_arrow_types_raise_type_error_naming_the_type(arrow: pa.DataType) -> None:
    with pytest.raises(TypeError, match=re.escape(f"arrow type {arrow} has no Spark SQL")):
        from_arrow_type(arrow)


def test_arrow_schema_round_trip() -> None:
    schema = StructType([StructField("a", LongType(), False), StructField("b", StringType())])
    arrow = to_arrow_schema(schema)
    assert arrow == pa.schema([pa.field("a", pa.int64(), nullable=False), ("b", pa.string())])
    assert from_arrow_schema(arrow) == schema


# --- DDL --------------------------------------------------------------------------------------

def _struct(*fields: tuple[str, DataType] | tuple[str, DataType, bool]) -> StructType:
    return StructType([StructField(*f) for f in fields])


@pytest.mark.parametrize(("ddl", "expected"), [
    ("a INT, b STRING", _struct(("a", IntegerType()), ("b", StringType()))),
    ("a: int, b: string", _struct(("a", IntegerType()), ("b", StringType()))),
    ("a int not null", _struct(("a", IntegerType(), False))),
    ("`a b` int, `x``y` long", _struct(("a b", IntegerType()), ("x`y", LongType()))),
    ("date date", _struct(("date", DateType()))),
    ("Name String", _struct(("Name", StringType()))),
    ("a int,\n b array<map<string, struct<x: int, y decimal(5,2)>>>",
     _struct(("a", IntegerType()), ("b", ArrayType(MapType(StringType(), _struct(
         ("x", IntegerType()), ("y", DecimalType(5, 2)))))))),
    ("struct<a:int,b:array<string>>", _struct(("a", IntegerType()),
                                             ("b", ArrayType(StringType())))),
    ("struct<>", StructType()),
    ("struct<a: int not null>", _struct(("a", IntegerType(), False))),
    ("", StructType()),
])
def test_parse_ddl_schemas(ddl: str, expected: DataType) -> None:
    assert parse_ddl(ddl) == expected


def test_parse_ddl_keeps_comments_in_metadata() -> None:
    schema = parse_ddl("a BIGINT NOT NULL COMMENT 'the key', b double comment \"it\\'s\\n\"")
    assert schema == StructType([
        StructField("a", LongType(), False, {"comment": "the key"}),
        StructField("b", DoubleType(), True, {"comment": "it's\n"}),
    ])


@pytest.mark.parametrize(("ddl", "expected"), [
    ("array<int>", ArrayType(IntegerType())),
    ("map<string,bigint>", MapType(StringType(), LongType())),
    ("decimal(10,2)", DecimalType(10, 2)),
    ("decimal", DecimalType(10, 0)),
    ("DECIMAL(5)", DecimalType(5, 0)),
    ("numeric(7, 3)", DecimalType(7, 3)),
    ("bigint", LongType()), ("long", LongType()), ("integer", IntegerType()),
    ("int", IntegerType()), ("INT", IntegerType()), ("smallint", ShortType()),
    ("short", ShortType()), ("tinyint", ByteType()), ("byte", ByteType()),
    ("double", DoubleType()), ("float", FloatType()), ("real", FloatType()),
    ("boolean", BooleanType()), ("bool", BooleanType()), ("string", StringType()),
    ("varchar(10)", StringType()), ("char(3)", StringType()), ("binary", BinaryType()),
    ("date", DateType()), ("timestamp", TimestampType()), ("timestamp_ntz", TimestampNTZType()),
    ("timestamp_ltz", TimestampType()), ("void", NullType()),
    ("  array< int >  ", ArrayType(IntegerType())),
])
def test_parse_ddl_lone_types(ddl: str, expected: DataType) -> None:
    assert parse_ddl(ddl) == expected
    assert DataType.fromDDL(ddl) == expected


def test_parse_ddl_unknown_type_suggests_close_matches() -> None:
    with pytest.raises(ParseException) as info:
        parse_ddl("a INTT")
    exc = info.value
    assert (exc.line, exc.column, exc.context) == (1, 3, "INTT")
    assert str(exc) == (
        "'intt' is not a known data type (line 1, column 3)\n"
        "  a INTT\n"
        "    ^^^^\n"
        "\n"
        "did you mean 'int' or 'bigint'?"
    )


def test_parse_ddl_bare_misspelt_type_reports_the_type() -> None:
    with pytest.raises(ParseException, match="'strng' is not a known data type") as info:
        parse_ddl("strng")
    assert (info.value.line, info.value.column) == (1, 1)
    assert "did you mean 'string'?" in str(info.value)


def test_parse_ddl_unknown_type_without_close_match_lists_known_types() -> None:
    with pytest.raises(ParseException, match="known types: array, bigint"):
        parse_ddl("a zzzzzz")


def test_parse_ddl_error_positions_on_later_lines() -> None:
    with pytest.raises(ParseException) as info:
        parse_ddl("a int,\n b struct<x: foo>")
    assert (info.value.line, info.value.column, info.value.context) == (2, 14, "foo")
    assert "  b struct<x: foo>\n" in str(info.value)


@pytest.mark.parametrize(("ddl", "problem", "column"), [
    ("a int,", "expected a column name, found the end of the input", 7),
    ("a array<int", "expected '>' to close ARRAY<, found the end of the input", 12),
    ("a map<int>", "expected ',' between the key and value types of MAP<, found '>'", 10),
    ("a int b", "expected ',' or the end of the schema, found 'b'", 7),
    ("a", "'a' is not a known data type", 1),
    ("a int not", "expected NULL after NOT, found the end of the input", 10),
    ("a int comment x", "expected a quoted string after COMMENT, found 'x'", 15),
    ("a decimal(x)", "expected a precision, found 'x'", 11),
    ("a decimal(40,2)", "decimal(40,2) is not a valid decimal type", 3),
    ("a int; drop", "unexpected character ';'", 6),
    ("a, b int", "expected a data type after 'a', found ','", 2),
])
def test_parse_ddl_errors(ddl: str, problem: str, column: int) -> None:
    with pytest.raises(ParseException) as info:
        parse_ddl(ddl)
    assert str(info.value).startswith(f"{problem} (line 1, column {column})")
    assert info.value.column == column
    assert "\n\n" in str(info.value)  # a hint follows the problem
