"""Expected strings are Spark 4's ``Dataset.showString`` output for the same data."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest

from ember.sql.show_format import format_double, format_float, format_show, format_timestamp


@pytest.fixture
def basic() -> pa.Table:
    return pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "s": ["a", None, "a very long string indeed more than 20"],
        "d": [1.5, 1e10, float("nan")],
        "b": [None, True, False],
    })


def test_default_show_right_aligns_and_truncates_at_20(basic: pa.Table) -> None:
    assert format_show(basic) == (
        "+---+--------------------+------+-----+\n"
        "| id|                   s|     d|    b|\n"
        "+---+--------------------+------+-----+\n"
        "|  1|                   a|   1.5| NULL|\n"
        "|  2|                NULL|1.0E10| true|\n"
        "|  3|a very long strin...|   NaN|false|\n"
        "+---+--------------------+------+-----+\n"
    )


def test_truncate_false_left_aligns_full_cells(basic: pa.Table) -> None:
    assert format_show(basic, truncate=False) == (
        "+---+--------------------------------------+------+-----+\n"
        "|id |s                                     |d     |b    |\n"
        "+---+--------------------------------------+------+-----+\n"
        "|1  |a                                     |1.5   |NULL |\n"
        "|2  |NULL                                  |1.0E10|true |\n"
        "|3  |a very long string indeed more than 20|NaN   |false|\n"
        "+---+--------------------------------------+------+-----+\n"
    )


def test_footer_when_more_rows_exist_has_no_trailing_newline(basic: pa.Table) -> None:
    expected = (
        "+---+----+------+----+\n"
        "| id|   s|     d|   b|\n"
        "+---+----+------+----+\n"
        "|  1|   a|   1.5|NULL|\n"
        "|  2|NULL|1.0E10|true|\n"
        "+---+----+------+----+\n"
        "only showing top 2 rows"
    )
    assert format_show(basic.slice(0, 2), n=2, has_more=True) == expected
    # a table longer than n is cut and gets the footer too
    assert format_show(basic, n=2) == expected


def test_footer_is_singular_for_one_row(basic: pa.Table) -> None:
    assert format_show(basic, n=1).endswith("+---+---+---+----+\nonly showing top 1 row")


def test_short_truncation_cuts_without_ellipsis(basic: pa.Table) -> None:
    assert format_show(basic, truncate=3) == (
        "+---+---+---+---+\n"
        "| id|  s|  d|  b|\n"
        "+---+---+---+---+\n"
        "|  1|  a|1.5|NUL|\n"
        "|  2|NUL|1.0|tru|\n"
        "|  3|a v|NaN|fal|\n"
        "+---+---+---+---+\n"
    )


def test_truncation_to_five_keeps_two_chars_and_ellipsis(basic: pa.Table) -> None:
    assert format_show(basic, truncate=5) == (
        "+---+-----+-----+-----+\n"
        "| id|    s|    d|    b|\n"
        "+---+-----+-----+-----+\n"
        "|  1|    a|  1.5| NULL|\n"
        "|  2| NULL|1....| true|\n"
        "|  3|a ...|  NaN|false|\n"
        "+---+-----+-----+-----+\n"
    )


def test_headers_are_never_truncated() -> None:
    table = pa.table({"a_very_long_column_name_indeed_yes": [1]})
    assert format_show(table, truncate=5) == (
        "+----------------------------------+\n"
        "|a_very_long_column_name_indeed_yes|\n"
        "+----------------------------------+\n"
        "|                                 1|\n"
        "+----------------------------------+\n"
    )


def test_vertical(basic: pa.Table) -> None:
    assert format_show(basic, vertical=True) == (
        "-RECORD 0-------------------\n"
        " id  | 1                    \n"
        " s   | a                    \n"
        " d   | 1.5                  \n"
        " b   | NULL                 \n"
        "-RECORD 1-------------------\n"
        " id  | 2                    \n"
        " s   | NULL                 \n"
        " d   | 1.0E10               \n"
        " b   | true                 \n"
        "-RECORD 2-------------------\n"
        " id  | 3                    \n"
        " s   | a very long strin... \n"
        " d   | NaN                  \n"
        " b   | false                \n"
    )


def test_vertical_with_footer(basic: pa.Table) -> None:
    assert format_show(basic, n=2, vertical=True) == (
        "-RECORD 0-----\n"
        " id  | 1      \n"
        " s   | a      \n"
        " d   | 1.5    \n"
        " b   | NULL   \n"
        "-RECORD 1-----\n"
        " id  | 2      \n"
        " s   | NULL   \n"
        " d   | 1.0E10 \n"
        " b   | true   \n"
        "only showing top 2 rows"
    )


def test_vertical_truncation_keeps_long_names() -> None:
    table = pa.table({"abcdef": ["abcdefghij"]})
    assert format_show(table, truncate=4, vertical=True) == (
        "-RECORD 0------\n"
        " abcdef | a... \n"
    )


def test_empty_results() -> None:
    table = pa.table({"a": pa.array([], pa.int32())})
    assert format_show(table) == "+---+\n|  a|\n+---+\n+---+\n"
    assert format_show(table, vertical=True) == "(0 rows)"
    assert format_show(table, n=0, has_more=True) == "+---+\n|  a|\n+---+\n+---+\nonly showing top 0 rows"
    assert format_show(table, n=0, has_more=True, vertical=True) == "(0 rows)"


def test_names_replace_column_names_and_may_repeat() -> None:
    table = pa.table({"c0": [1], "c1": [2]})
    assert format_show(table, names=["id", "id"]) == (
        "+---+---+\n| id| id|\n+---+---+\n|  1|  2|\n+---+---+\n"
    )
    with pytest.raises(ValueError, match="got 1 names for a table of 2 columns"):
        format_show(table, names=["id"])


def test_bad_arguments() -> None:
    table = pa.table({"a": [1]})
    with pytest.raises(TypeError, match="truncate must be a bool or an int"):
        format_show(table, truncate="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="n must be an int"):
        format_show(table, n=1.5)  # type: ignore[arg-type]


def test_nested_and_special_values_render_as_spark() -> None:
    table = pa.table({
        "a": pa.array([[1, 2, 3]], pa.list_(pa.int32())),
        "m": pa.array([[("a", 1), ("b", 2)]], pa.map_(pa.string(), pa.int32())),
        "s": pa.array([{"x": 1, "y": "a"}], pa.struct([("x", pa.int32()), ("y", pa.string())])),
        "dec": pa.array([decimal.Decimal("1.50")], pa.decimal128(10, 2)),
        "dt": pa.array([datetime.date(2020, 1, 2)]),
        "ts": pa.array([datetime.datetime(2020, 1, 2, 3, 4, 5, 123000)], pa.timestamp("us")),
        "bin": pa.array([b"\x01\x02\xff"]),
        "dd": [1.234e-5],
        "f": pa.array([1.0], pa.float32()),
        "an": pa.array([[None, 1]], pa.list_(pa.int32())),
        "ns": pa.array([None], pa.string()),
    })
    assert format_show(table, truncate=False) == (
        "+---------+----------------+------+----+----------+-----------------------+----------+"
        "--------+---+---------+----+\n"
        "|a        |m               |s     |dec |dt        |ts                     |bin       |"
        "dd      |f  |an       |ns  |\n"
        "+---------+----------------+------+----+----------+-----------------------+----------+"
        "--------+---+---------+----+\n"
        "|[1, 2, 3]|{a -> 1, b -> 2}|{1, a}|1.50|2020-01-02|2020-01-02 03:04:05.123|[01 02 FF]|"
        "1.234E-5|1.0|[NULL, 1]|NULL|\n"
        "+---------+----------------+------+----+----------+-----------------------+----------+"
        "--------+---+---------+----+\n"
    )
    assert "|2020-01-02 03:04:...|" in format_show(table)


def test_deeply_nested_values_and_nulls_inside_them() -> None:
    struct_b = pa.struct([("b", pa.null())])
    table = pa.table({
        "aa": pa.array([[[1, 2], [3]]], pa.list_(pa.list_(pa.int32()))),
        "ma": pa.array([[(1, ["a"])]], pa.map_(pa.int32(), pa.list_(pa.string()))),
        "ss": pa.array([{"a": {"b": None}}], pa.struct([("a", struct_b)])),
        "sa": pa.array([[{"a": 1}]], pa.list_(pa.struct([("a", pa.int32())]))),
        "mn": pa.array([[("k", None)]], pa.map_(pa.string(), pa.int32())),
        "ea": pa.array([[]], pa.list_(pa.int32())),
        "em": pa.array([[]], pa.map_(pa.string(), pa.int32())),
        "d38": pa.array([decimal.Decimal("123.456")], pa.decimal128(38, 18)),
        "d0": pa.array([decimal.Decimal(0)], pa.decimal128(5, 0)),
        "ab": pa.array([[b"\x00", b""]]),
        "st": pa.array([{"a": None, "b": 1}], pa.struct([("a", pa.int32()), ("b", pa.int32())])),
        "nst": pa.array([None], pa.struct([("a", pa.int32())])),
        "abool": pa.array([[True, None]]),
    })
    assert format_show(table, truncate=0).splitlines()[3] == (
        "|[[1, 2], [3]]|{1 -> [a]}|{{NULL}}|[{1}]|{k -> NULL}|[] |{} |123.456000000000000000|"
        "0  |[[00], []]|{NULL, 1}|NULL|[true, NULL]|"
    )


def test_sliced_nested_columns_render_only_their_rows() -> None:
    lists = pa.array([[1], None, [2, 3], [4]], pa.list_(pa.int64()))
    maps = pa.array([[("a", 1)], [("b", 2)], None, [("c", 3)]], pa.map_(pa.string(), pa.int64()))
    table = pa.table({"l": lists, "m": maps}).slice(1, 2)
    assert format_show(table) == (
        "+------+--------+\n"
        "|     l|       m|\n"
        "+------+--------+\n"
        "|  NULL|{b -> 2}|\n"
        "|[2, 3]|    NULL|\n"
        "+------+--------+\n"
    )


def test_chunked_and_dictionary_columns() -> None:
    chunked = pa.chunked_array([pa.array(["x"]), pa.array(["y"])])
    dictionary = pa.array(["p", "q"]).dictionary_encode()
    table = pa.table({"c": chunked, "d": dictionary})
    assert format_show(table) == (
        "+---+---+\n|  c|  d|\n+---+---+\n|  x|  p|\n|  y|  q|\n+---+---+\n"
    )


def test_timestamps_with_zone_show_wall_clock_and_drop_nanoseconds() -> None:
    instant = datetime.datetime(2020, 1, 1, 0, 0, 0, 500000, tzinfo=datetime.UTC)
    table = pa.table({
        "paris": pa.array([instant], pa.timestamp("us", tz="Europe/Paris")),
        "ns": pa.array([1_000_000_001], pa.timestamp("ns")),
    })
    assert format_show(table, truncate=False).splitlines()[3] == (
        "|2020-01-01 01:00:00.5|1970-01-01 00:00:01|"
    )


def test_control_characters_are_escaped_in_names_and_cells() -> None:
    table = pa.table({"we\nird": ["x\tb\rc\ad\ve\fg\bh\\i\x00j\x1bk"]})
    assert format_show(table, truncate=False) == (
        "+-------------------------+\n"
        "|we\\nird                  |\n"
        "+-------------------------+\n"
        "|x\\tb\\rc\\ad\\ve\\fg\\bh\\i\x00j\x1bk|\n"
        "+-------------------------+\n"
    )


def test_wide_characters_take_two_columns() -> None:
    table = pa.table({"x": ["日本語", "ab"]})
    assert format_show(table) == (
        "+------+\n|     x|\n+------+\n|日本語|\n|    ab|\n+------+\n"
    )
    assert format_show(pa.table({"日本": ["日本語"]}), truncate=0, vertical=True) == (
        "-RECORD 0------\n 日本 | 日本語 \n"
    )
    assert format_show(pa.table({"日本": ["日本語日本"]}), truncate=4) == (
        "+-----+\n| 日本|\n+-----+\n|日...|\n+-----+\n"
    )


def test_characters_beyond_the_bmp_count_as_two_java_chars() -> None:
    table = pa.table({"e": ["\U0001f600" * 11, "\U0001f600a"]})
    assert format_show(table) == (
        "+--------------------+\n"
        "|                   e|\n"
        "+--------------------+\n"
        "|\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600?...|\n"
        "|                 \U0001f600a|\n"
        "+--------------------+\n"
    )


def test_all_null_column() -> None:
    table = pa.table({"n": pa.nulls(2)})
    assert format_show(table) == "+----+\n|   n|\n+----+\n|NULL|\n|NULL|\n+----+\n"


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1.0"), (0.1, "0.1"), (1e7, "1.0E7"), (1e-3, "0.001"), (9999999.0, "9999999.0"),
    (0.0001, "1.0E-4"), (123456789.123, "1.23456789123E8"), (1e21, "1.0E21"),
    (1e-300, "1.0E-300"), (5e-324, "4.9E-324"), (1e-323, "9.9E-324"),
    (float("-inf"), "-Infinity"), (float("inf"), "Infinity"), (float("nan"), "NaN"),
    (1.7976931348623157e308, "1.7976931348623157E308"), (100.0, "100.0"), (-1.5e-7, "-1.5E-7"),
    (-0.0, "-0.0"), (0.0, "0.0"), (1.234e-5, "1.234E-5"), (123.456, "123.456"),
    (1e23, "1.0E23"), (-2.5, "-2.5"), (0.3333333333333333, "0.3333333333333333"),
])
def test_format_double_follows_java(value: float, text: str) -> None:
    assert format_double(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (1.100000023841858, "1.1"), (1.0, "1.0"), (1e7, "1.0E7"), (3.4e38, "3.4E38"),
    (1e-45, "1.4E-45"), (0.1, "0.1"), (float("nan"), "NaN"), (-0.0, "-0.0"),
])
def test_format_float_follows_java(value: float, text: str) -> None:
    assert format_float(value) == text


def test_format_timestamp_trims_trailing_zeros_and_pads_years() -> None:
    assert format_timestamp(datetime.datetime(1, 1, 1)) == "0001-01-01 00:00:00"
    assert format_timestamp(datetime.datetime(2020, 1, 2, 3, 4, 5, 1)) == (
        "2020-01-02 03:04:05.000001"
    )
    assert format_timestamp(datetime.datetime(1900, 1, 1, 0, 0, 0, 500000)) == (
        "1900-01-01 00:00:00.5"
    )
