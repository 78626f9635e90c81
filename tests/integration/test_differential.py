"""Differential tests: each query runs through ember's DataFrame API and as DuckDB SQL.

Spark's semantics are the reference and DuckDB is the oracle for values. Where DuckDB's default
differs from Spark (``/`` by zero, ``CAST`` rounding, null ordering, ``concat`` with nulls, sums
of integers), the SQL is written to compute what Spark computes, and a comment says so.

Results are compared in full: column names, column types, values and nulls. Unordered results
are sorted on both sides first; a query with its own ``orderBy`` is compared row by row, with
sort keys that end in a unique column so that the expected order is fully determined.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa
import pytest
from datagen import make_tables

from ember.sql import DataFrame, SparkSession
from ember.sql import functions as F

BROADCAST_THRESHOLD = "spark.sql.autoBroadcastJoinThreshold"


class Tables(NamedTuple):
    orders: DataFrame
    customers: DataFrame
    events: DataFrame
    floats: DataFrame


@pytest.fixture(scope="module")
def arrow_tables() -> dict[str, pa.Table]:
    return make_tables()


@pytest.fixture(scope="module")
def duck(arrow_tables: dict[str, pa.Table]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for name, table in arrow_tables.items():
        con.register(name, table)
    yield con
    con.close()


@pytest.fixture(scope="module")
def t(spark: SparkSession, arrow_tables: dict[str, pa.Table]) -> Tables:
    return Tables(**{name: spark.createDataFrame(table) for name, table in arrow_tables.items()})


@contextlib.contextmanager
def broadcast_threshold(spark: SparkSession, value: int | None) -> Iterator[None]:
    """Set ``spark.sql.autoBroadcastJoinThreshold`` for a block (None keeps it); restore after."""
    before = spark.conf.get(BROADCAST_THRESHOLD)
    if value is not None:
        spark.conf.set(BROADCAST_THRESHOLD, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(BROADCAST_THRESHOLD)
        else:
            spark.conf.set(BROADCAST_THRESHOLD, before)


def physical_plan(df: DataFrame) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        df.explain()
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Comparing results


def _normalise_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def _value_key(v: Any) -> tuple:
    # Nulls first and NaN after every number; floats rounded so that last-bit differences
    # cannot reorder rows.
    if v is None:
        return (0,)
    if isinstance(v, float):
        return (2,) if math.isnan(v) else (1, float(f"{v:.9g}"))
    return (1, v)


def _sort_key(row: tuple) -> tuple:
    return tuple(_value_key(v) for v in row)


def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _rows(table: pa.Table) -> list[tuple]:
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


def assert_same(got_df: DataFrame, con: duckdb.DuckDBPyConnection, sql: str, *,
                ordered: bool = False) -> None:
    got = got_df.toArrow()
    want = con.sql(sql).to_arrow_table()
    assert got.column_names == want.column_names, \
        f"column names differ: ember {got.column_names}, DuckDB {want.column_names}"
    got_types = [_normalise_type(f.type) for f in got.schema]
    want_types = [_normalise_type(f.type) for f in want.schema]
    assert got_types == want_types, f"column types differ for {got.column_names}"
    got_rows, want_rows = _rows(got), _rows(want)
    assert len(got_rows) == len(want_rows), \
        f"ember gave {len(got_rows)} rows, DuckDB {len(want_rows)}"
    if not ordered:
        got_rows.sort(key=_sort_key)
        want_rows.sort(key=_sort_key)
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got_rows, want_rows, strict=True))
           if not all(_same_value(a, b) for a, b in zip(g, w, strict=True))]
    if bad:
        shown = "\n".join(f"  row {i}: ember {g} != duckdb {w}" for i, g, w in bad[:8])
        pytest.fail(f"{len(bad)} of {len(got_rows)} rows differ "
                    f"(columns {got.column_names}):\n{shown}")


# ---------------------------------------------------------------------------------------------
# Queries: the same computation through the DataFrame API and in SQL


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Tables], DataFrame]
    sql: str
    ordered: bool = False

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


col = F.col

# Spark casts text to an integer by trimming it and truncating a fractional part; anything else
# (an exponent, letters, empty text, overflow) is null. DuckDB's TRY_CAST rounds '3.7' to 4, so
# the SQL keeps the integral part of well-formed text itself.
_SPARK_INT_OF_CODE = r"""CASE WHEN regexp_full_match(trim(code), '[+-]?[0-9]+(\.[0-9]*)?')
    THEN TRY_CAST(split_part(trim(code), '.', 1) AS INTEGER) END"""

PROJECTIONS = [
    Case("arithmetic_keeps_spark_result_types",
         lambda t: t.orders.select(
             "o_id", (col("qty") * col("price")).alias("gross"),
             (col("qty") + 1).alias("qty_plus_one"), (col("o_id") - col("qty")).alias("diff"),
             (-col("qty")).alias("neg_qty"), (col("price") * 2 + col("discount")).alias("mixed")),
         "SELECT o_id, qty * price AS gross, qty + 1 AS qty_plus_one, o_id - qty AS diff, "
         "-qty AS neg_qty, price * 2 + discount AS mixed FROM orders"),
    # Spark's `/` always gives a double, and a zero divisor gives null (non-ANSI mode).
    # DuckDB raises on a zero divisor, hence NULLIF.
    Case("division_gives_double_and_null_for_zero_divisor",
         lambda t: t.orders.select(
             "o_id", (col("o_id") / col("qty")).alias("ratio"), (col("qty") / 4).alias("quarter"),
             (col("price") / col("discount")).alias("per_discount")),
         "SELECT o_id, CAST(o_id AS DOUBLE) / NULLIF(qty, 0) AS ratio, qty / 4 AS quarter, "
         "price / NULLIF(discount, 0.0) AS per_discount FROM orders"),
    # Java's `%` takes the sign of the dividend, as DuckDB's; a zero divisor gives null.
    Case("remainder_takes_sign_of_dividend",
         lambda t: t.orders.select(
             "o_id", (col("qty") % 3).alias("m3"), (col("o_id") % col("qty")).alias("by_qty"),
             (col("price") % 7).alias("price_m7"), (col("qty") % -4).alias("m_neg4")),
         "SELECT o_id, qty % 3 AS m3, o_id % NULLIF(qty, 0) AS by_qty, price % 7 AS price_m7, "
         "qty % -4 AS m_neg4 FROM orders"),
    Case("remainder_of_doubles_by_zero_is_null",
         lambda t: t.orders.select(
             "o_id", (col("price") % col("discount")).alias("m"),
             (col("price") % 0).alias("by_zero")),
         "SELECT o_id, price % NULLIF(discount, 0) AS m, CAST(NULL AS DOUBLE) AS by_zero "
         "FROM orders"),
    Case("comparisons_with_null_operand_are_null",
         lambda t: t.orders.select(
             "o_id", (col("qty") > 10).alias("big"), (col("price") <= 100.0).alias("cheap"),
             (col("status") == "shipped").alias("shipped"),
             (col("qty") != col("priority")).alias("differs"),
             (col("o_date") >= datetime.date(2022, 1, 1)).alias("recent"),
             (col("code") < "5").alias("low_code")),
         "SELECT o_id, qty > 10 AS big, price <= 100.0 AS cheap, status = 'shipped' AS shipped, "
         "qty <> priority AS differs, o_date >= DATE '2022-01-01' AS recent, "
         "code < '5' AS low_code FROM orders"),
    # Spark (non-ANSI) compares a string with a number or a date by casting the string to the
    # other side's type, and does arithmetic on a string as a double.
    Case("string_compared_with_number_or_date_is_cast",
         lambda t: t.orders.select(
             "o_id", (col("code") == 3).alias("is_three"), (col("code") > 100).alias("big"),
             (col("code") + 1).alias("plus_one"),
             (col("o_date") >= "2022-06-15").alias("recent")),
         rf"""SELECT o_id, ({_SPARK_INT_OF_CODE}) = 3 AS is_three,
                 ({_SPARK_INT_OF_CODE}) > 100 AS big, TRY_CAST(code AS DOUBLE) + 1 AS plus_one,
                 o_date >= DATE '2022-06-15' AS recent FROM orders"""),
    Case("math_functions",
         lambda t: t.orders.select(
             "o_id", F.abs("qty").alias("abs_qty"), F.abs("price").alias("abs_price"),
             F.sqrt(F.abs("price")).alias("root"), (-col("price")).alias("neg")),
         "SELECT o_id, abs(qty) AS abs_qty, abs(price) AS abs_price, sqrt(abs(price)) AS root, "
         "-price AS neg FROM orders"),
    # Spark rounds a double as the decimal Java prints for it (1.005 prints as 1.005, so it
    # rounds up to 1.01), half away from zero; bround rounds half to even. DuckDB rounds the
    # binary value, so the SQL rounds the printed decimal instead.
    Case("round_and_bround_work_on_the_printed_decimal",
         lambda t: t.orders.select(
             "o_id", F.round("price", 1).alias("r1"), F.round(col("price") / 7, 3).alias("r3"),
             F.round("price").alias("r0"), F.bround("price", 1).alias("b1"),
             F.round("qty").alias("q")),
         "SELECT o_id, CAST(round(CAST(CAST(price AS VARCHAR) AS DECIMAL(18, 6)), 1) AS DOUBLE) "
         "AS r1, CAST(round(CAST(CAST(price / 7 AS VARCHAR) AS DECIMAL(38, 20)), 3) AS DOUBLE) "
         "AS r3, CAST(round(CAST(CAST(price AS VARCHAR) AS DECIMAL(18, 6)), 0) AS DOUBLE) AS r0, "
         "CAST(round_even(CAST(CAST(price AS VARCHAR) AS DECIMAL(18, 6)), 1) AS DOUBLE) AS b1, "
         "qty AS q FROM orders"),
    Case("boolean_logic_is_three_valued",
         lambda t: t.orders.select(
             "o_id", ((col("qty") > 10) & col("flag")).alias("a"),
             ((col("qty") > 10) | col("flag")).alias("o"), (~col("flag")).alias("n"),
             (col("flag") & F.lit(None)).alias("and_null"),
             (col("flag") | F.lit(None)).alias("or_null")),
         "SELECT o_id, (qty > 10) AND flag AS a, (qty > 10) OR flag AS o, NOT flag AS n, "
         "flag AND NULL AS and_null, flag OR NULL AS or_null FROM orders"),
    Case("is_null_and_is_not_null",
         lambda t: t.orders.select(
             "o_id", col("qty").isNull().alias("no_qty"),
             col("status").isNotNull().alias("has_status"), F.isnull("o_date").alias("no_date"),
             (col("price").isNull() | col("flag").isNotNull()).alias("either")),
         "SELECT o_id, qty IS NULL AS no_qty, status IS NOT NULL AS has_status, "
         "o_date IS NULL AS no_date, price IS NULL OR flag IS NOT NULL AS either FROM orders"),
    Case("null_safe_equality_is_never_null",
         lambda t: t.orders.select(
             "o_id", col("qty").eqNullSafe(col("priority")).alias("same"),
             col("status").eqNullSafe(None).alias("status_is_null")),
         "SELECT o_id, qty IS NOT DISTINCT FROM priority AS same, "
         "status IS NOT DISTINCT FROM NULL AS status_is_null FROM orders"),
    Case("isin_without_null_in_list",
         lambda t: t.orders.filter(col("status").isin("shipped", "pending")).select(
             "o_id", "status", col("qty").isin(1, 2, 3).alias("small"),
             col("code").isin(["0", "123"]).alias("known_code")),
         "SELECT o_id, status, qty IN (1, 2, 3) AS small, code IN ('0', '123') AS known_code "
         "FROM orders WHERE status IN ('shipped', 'pending')"),
    Case("isin_with_null_in_list_is_true_or_null",
         lambda t: t.orders.select(
             "o_id", col("qty").isin(1, 2, None).alias("q"),
             col("status").isin("shipped", None).alias("s")),
         "SELECT o_id, qty IN (1, 2, NULL) AS q, status IN ('shipped', NULL) AS s FROM orders"),
    Case("isin_with_column_values",
         lambda t: t.orders.select(
             "o_id", col("qty").isin(col("priority"), F.lit(5)).alias("q"),
             col("status").isin(col("code"), "pending").alias("s")),
         "SELECT o_id, qty IN (priority, 5) AS q, status IN (code, 'pending') AS s FROM orders"),
    Case("filter_on_boolean_column_drops_nulls",
         lambda t: t.orders.filter(col("flag")).select("o_id", "flag")
         .union(t.orders.filter(~col("flag")).select("o_id", "flag")),
         "SELECT o_id, flag FROM orders WHERE flag UNION ALL "
         "SELECT o_id, flag FROM orders WHERE NOT flag"),
    Case("select_star_with_extra_column",
         lambda t: t.customers.select("*", (col("credit") * 2).alias("double_credit")),
         "SELECT *, credit * 2 AS double_credit FROM customers"),
    Case("between_is_inclusive",
         lambda t: t.orders.filter(col("price").between(10, 100)).select(
             "o_id", "price", col("qty").between(0, 5).alias("few"),
             col("o_date").between(datetime.date(2021, 1, 1),
                                   datetime.date(2021, 12, 31)).alias("in_2021")),
         "SELECT o_id, price, qty BETWEEN 0 AND 5 AS few, "
         "o_date BETWEEN DATE '2021-01-01' AND DATE '2021-12-31' AS in_2021 "
         "FROM orders WHERE price BETWEEN 10 AND 100"),
    Case("case_when_takes_first_true_branch_else_otherwise",
         lambda t: t.orders.select(
             "o_id", F.when(col("qty") < 0, "negative").when(col("qty") == 0, "zero")
             .when(col("qty") < 10, "small").otherwise("large").alias("size")),
         "SELECT o_id, CASE WHEN qty < 0 THEN 'negative' WHEN qty = 0 THEN 'zero' "
         "WHEN qty < 10 THEN 'small' ELSE 'large' END AS size FROM orders"),
    Case("case_when_without_otherwise_is_null",
         lambda t: t.orders.select(
             "o_id", F.when(col("price") > 400, col("price") * 2).when(col("flag"), F.lit(0))
             .alias("adjusted"),
             F.when(col("status") == "shipped", col("qty")).alias("shipped_qty")),
         "SELECT o_id, CASE WHEN price > 400 THEN price * 2 WHEN flag THEN 0 END AS adjusted, "
         "CASE WHEN status = 'shipped' THEN qty END AS shipped_qty FROM orders"),
    Case("cast_string_to_number_gives_null_when_invalid",
         lambda t: t.orders.select(
             "o_id", "code", col("code").cast("int").alias("as_int"),
             col("code").cast("bigint").alias("as_long"),
             col("code").cast("double").alias("as_double")),
         f"""SELECT o_id, code, {_SPARK_INT_OF_CODE} AS as_int,
                {_SPARK_INT_OF_CODE.replace("INTEGER", "BIGINT")} AS as_long,
                TRY_CAST(code AS DOUBLE) AS as_double
             FROM orders"""),
    # Spark truncates a double towards zero when casting to an integer; DuckDB rounds.
    Case("cast_double_to_integer_truncates",
         lambda t: t.orders.select(
             "o_id", col("price").cast("int").alias("p_int"),
             col("price").cast("bigint").alias("p_long"),
             (col("price") / 3).cast("int").alias("third")),
         "SELECT o_id, CAST(trunc(price) AS INTEGER) AS p_int, "
         "CAST(trunc(price) AS BIGINT) AS p_long, CAST(trunc(price / 3) AS INTEGER) AS third "
         "FROM orders"),
    # Spark narrows integers as Java does, keeping the low bits; DuckDB raises on overflow.
    Case("cast_to_narrower_integer_wraps",
         lambda t: t.orders.select(
             "o_id", (col("o_id") * 1000).cast("tinyint").alias("b"),
             (col("o_id") * 1000).cast("smallint").alias("s"),
             (col("o_id") * 1_000_000).cast("int").alias("i")),
         "SELECT o_id, CAST(((o_id * 1000 + 128) % 256 + 256) % 256 - 128 AS TINYINT) AS b, "
         "CAST(((o_id * 1000 + 32768) % 65536 + 65536) % 65536 - 32768 AS SMALLINT) AS s, "
         "CAST(((o_id * 1000000 + 2147483648) % 4294967296 + 4294967296) % 4294967296 "
         "- 2147483648 AS INTEGER) AS i FROM orders"),
    Case("cast_to_string_and_boolean",
         lambda t: t.orders.select(
             "o_id", col("qty").cast("string").alias("qty_s"),
             col("o_id").cast("string").alias("id_s"), col("flag").cast("string").alias("flag_s"),
             col("o_date").cast("string").alias("date_s"),
             col("price").cast("string").alias("price_s"),
             col("qty").cast("boolean").alias("qty_b"), col("qty").cast("double").alias("qty_d")),
         "SELECT o_id, CAST(qty AS VARCHAR) AS qty_s, CAST(o_id AS VARCHAR) AS id_s, "
         "CAST(flag AS VARCHAR) AS flag_s, CAST(o_date AS VARCHAR) AS date_s, "
         "CAST(price AS VARCHAR) AS price_s, CAST(qty AS BOOLEAN) AS qty_b, "
         "CAST(qty AS DOUBLE) AS qty_d FROM orders"),
    # Spark reads 'yyyy-mm' as the first of that month, DuckDB does not; both give null for a
    # day the month lacks (2024-02-30).
    Case("cast_string_to_date_gives_null_when_invalid",
         lambda t: t.orders.select(
             "o_id", "datestr", col("datestr").cast("date").alias("d"),
             col("o_date").cast("string").cast("date").alias("round_trip")),
         "SELECT o_id, datestr, "
         "COALESCE(TRY_CAST(datestr AS DATE), TRY_CAST(trim(datestr) || '-01' AS DATE)) AS d, "
         "CAST(CAST(o_date AS VARCHAR) AS DATE) AS round_trip FROM orders"),
    Case("coalesce_takes_first_non_null_at_common_type",
         lambda t: t.orders.select(
             "o_id", F.coalesce(col("qty"), col("priority"), F.lit(0)).alias("q"),
             F.coalesce(col("status"), F.lit("n/a")).alias("s"),
             F.coalesce(col("price"), col("qty")).alias("p"),
             F.coalesce(col("o_date"), F.lit(datetime.date(2000, 1, 1))).alias("d")),
         "SELECT o_id, COALESCE(qty, priority, 0) AS q, COALESCE(status, 'n/a') AS s, "
         "COALESCE(price, qty) AS p, COALESCE(o_date, DATE '2000-01-01') AS d FROM orders"),
    # Spark's concat is null when any argument is; DuckDB's concat() skips nulls, `||` does not.
    # Spark's length is an int; DuckDB's a bigint.
    Case("string_functions_propagate_nulls",
         lambda t: t.orders.select(
             "o_id", F.upper("status").alias("up"), F.lower("status").alias("low"),
             F.length("status").alias("len"), F.trim("status").alias("trimmed"),
             F.concat("status", F.lit("/"), "code").alias("joined"),
             F.concat(F.trim("status"), F.lit("-"), "o_id").alias("with_id")),
         "SELECT o_id, upper(status) AS up, lower(status) AS low, "
         "CAST(length(status) AS INTEGER) AS len, trim(status) AS trimmed, "
         "status || '/' || code AS joined, trim(status) || '-' || CAST(o_id AS VARCHAR) AS with_id "
         "FROM orders"),
    Case("case_when_with_null_branch_value",
         lambda t: t.orders.select(
             "o_id", F.when(col("flag"), None).otherwise(col("qty")).alias("q"),
             F.coalesce(F.when(col("qty") > 25, "many"), col("status"), F.lit("?")).alias("s")),
         "SELECT o_id, CASE WHEN flag THEN NULL ELSE qty END AS q, "
         "COALESCE(CASE WHEN qty > 25 THEN 'many' END, status, '?') AS s FROM orders"),
    # Spark widens a string and a number or date to a string in CASE, coalesce and union.
    Case("case_when_and_coalesce_widen_mixed_branches_to_string",
         lambda t: t.orders.select(
             "o_id", F.when(col("qty") > 40, col("status")).otherwise(col("qty")).alias("w"),
             F.coalesce(col("status"), col("o_date")).alias("c"),
             F.coalesce(col("code"), col("o_id")).alias("k")),
         "SELECT o_id, CASE WHEN qty > 40 THEN status ELSE CAST(qty AS VARCHAR) END AS w, "
         "COALESCE(status, CAST(o_date AS VARCHAR)) AS c, "
         "COALESCE(code, CAST(o_id AS VARCHAR)) AS k FROM orders"),
    Case("string_functions_on_non_ascii_text",
         lambda t: t.customers.select(
             "c_id", "name", F.upper("name").alias("up"), F.lower("name").alias("low"),
             F.length("name").alias("len"), F.trim("name").alias("trimmed"),
             F.concat("name", F.lit(None)).alias("with_null")),
         "SELECT c_id, name, upper(name) AS up, lower(name) AS low, "
         "CAST(length(name) AS INTEGER) AS len, trim(name) AS trimmed, "
         "CAST(NULL AS VARCHAR) AS with_null FROM customers"),
    # Spark's int arithmetic wraps around on overflow (non-ANSI); DuckDB raises, so the SQL
    # wraps a bigint product into the int range itself.
    Case("int_multiplication_wraps_on_overflow",
         lambda t: t.orders.select("o_id", (col("qty") * 100_000_000).alias("wrapped")),
         "SELECT o_id, CAST(((CAST(qty AS BIGINT) * 100000000 + 2147483648) % 4294967296 "
         "+ 4294967296) % 4294967296 - 2147483648 AS INTEGER) AS wrapped FROM orders"),
    Case("concat_casts_dates_and_booleans_to_text",
         lambda t: t.orders.select(
             "o_id", F.concat(col("o_date"), F.lit(" "), col("flag"), col("qty")).alias("s")),
         "SELECT o_id, CAST(o_date AS VARCHAR) || ' ' || CAST(flag AS VARCHAR) "
         "|| CAST(qty AS VARCHAR) AS s FROM orders"),
    # Spark's rlike finds the pattern anywhere in the text, as DuckDB's regexp_matches.
    Case("like_ilike_and_rlike",
         lambda t: t.orders.select(
             "o_id", col("status").like("%ship%").alias("l1"),
             col("status").like("_ending").alias("l2"), col("status").ilike("pEND%").alias("i"),
             col("code").rlike("^[+-]?[0-9]+$").alias("r1"), col("code").rlike("[a-z]").alias("r2")),
         "SELECT o_id, status LIKE '%ship%' AS l1, status LIKE '_ending' AS l2, "
         "status ILIKE 'pEND%' AS i, regexp_matches(code, '^[+-]?[0-9]+$') AS r1, "
         "regexp_matches(code, '[a-z]') AS r2 FROM orders"),
    Case("explode_split_gives_one_row_per_part",
         lambda t: t.orders.select("o_id", F.explode(F.split("datestr", "-"))),
         "SELECT o_id, unnest(string_split(datestr, '-')) AS col FROM orders"),
    Case("explode_outer_keeps_rows_without_parts",
         lambda t: t.orders.select("o_id", F.explode_outer(F.split("datestr", "-"))),
         "SELECT o_id, unnest(CASE WHEN datestr IS NULL THEN [NULL] "
         "ELSE string_split(datestr, '-') END) AS col FROM orders"),
    Case("filter_chain_keeps_rows_where_every_condition_is_true",
         lambda t: t.orders.filter(col("qty") > 0).filter(col("price") < 300)
         .filter(col("status") != "cancelled").filter(col("flag") | col("o_date").isNull())
         .select("o_id", "qty", "price", "status"),
         "SELECT o_id, qty, price, status FROM orders WHERE qty > 0 AND price < 300 "
         "AND status <> 'cancelled' AND (flag OR o_date IS NULL)"),
    Case("limit_zero_is_empty",
         lambda t: t.orders.select("o_id", "status").limit(0),
         "SELECT o_id, status FROM orders LIMIT 0"),
    Case("drop_by_column_object_and_select_after_sort",
         lambda t: t.orders.orderBy(F.desc("o_id")).drop(t.orders.code).select(
             "o_id", "qty").limit(7),
         "SELECT o_id, qty FROM orders ORDER BY o_id DESC LIMIT 7", ordered=True),
    Case("filter_by_column_dropped_by_select",
         lambda t: t.orders.select("o_id", "price").filter(col("qty") > 45),
         "SELECT o_id, price FROM orders WHERE qty > 45"),
    Case("with_column_replaces_in_place_rename_and_drop",
         lambda t: t.orders.withColumn("total", col("qty") * col("price"))
         .withColumn("qty", col("qty") + 100).withColumnRenamed("status", "state")
         .drop("code", "datestr", "discount"),
         "SELECT o_id, c_id, qty + 100 AS qty, price, status AS state, flag, o_date, priority, "
         "qty * price AS total FROM orders"),
]

# DuckDB sums integers into a HUGEINT; Spark's sum of integers is a bigint.
AGGREGATES = [
    Case("group_by_with_every_aggregate_function",
         lambda t: t.orders.groupBy("status").agg(
             F.count("*"), F.count("qty"), F.sum("qty"), F.avg("price"), F.min("price"),
             F.max("o_date"), F.countDistinct("c_id")),
         'SELECT status, count(*) AS "count(1)", count(qty) AS "count(qty)", '
         'CAST(sum(qty) AS BIGINT) AS "sum(qty)", avg(price) AS "avg(price)", '
         'min(price) AS "min(price)", max(o_date) AS "max(o_date)", '
         'count(DISTINCT c_id) AS "count(DISTINCT c_id)" FROM orders GROUP BY status'),
    Case("group_by_null_key_forms_its_own_group",
         lambda t: t.customers.groupBy("segment").agg(
             F.count("*").alias("n"), F.sum("credit").alias("credit"),
             F.max("name").alias("last_name"), F.avg("balance").alias("balance")),
         "SELECT segment, count(*) AS n, CAST(sum(credit) AS BIGINT) AS credit, "
         "max(name) AS last_name, avg(balance) AS balance FROM customers GROUP BY segment"),
    Case("group_by_multiple_keys",
         lambda t: t.orders.groupBy("status", "flag").agg(
             F.sum("price"), F.max("qty"), F.min("code")),
         'SELECT status, flag, sum(price) AS "sum(price)", max(qty) AS "max(qty)", '
         'min(code) AS "min(code)" FROM orders GROUP BY status, flag'),
    Case("group_by_aliased_expression_key",
         lambda t: t.orders.groupBy((col("o_id") % 3).alias("bucket"), "priority").agg(
             F.sum("qty").alias("total_qty"), F.avg("discount").alias("avg_discount")),
         "SELECT o_id % 3 AS bucket, priority, CAST(sum(qty) AS BIGINT) AS total_qty, "
         "avg(discount) AS avg_discount FROM orders GROUP BY bucket, priority"),
    Case("group_by_unaliased_expression_key_is_named_by_its_text",
         lambda t: t.orders.groupBy(col("qty") % 3).count(),
         'SELECT qty % 3 AS "(qty % 3)", count(*) AS count FROM orders GROUP BY qty % 3'),
    Case("group_by_date_and_boolean_keys",
         lambda t: t.customers.groupBy("active", "country").agg(
             F.min("signup").alias("first_signup"), F.max("balance").alias("max_balance"),
             F.countDistinct("segment").alias("segments")),
         "SELECT active, country, min(signup) AS first_signup, max(balance) AS max_balance, "
         "count(DISTINCT segment) AS segments FROM customers GROUP BY active, country"),
    Case("global_aggregate_of_no_rows_counts_zero_and_sums_null",
         lambda t: t.orders.filter(col("qty") > 1000).agg(
             F.count("*"), F.count("price"), F.sum("qty"), F.avg("price"), F.min("status"),
             F.max("o_date")),
         'SELECT count(*) AS "count(1)", count(price) AS "count(price)", '
         'CAST(sum(qty) AS BIGINT) AS "sum(qty)", avg(price) AS "avg(price)", '
         'min(status) AS "min(status)", max(o_date) AS "max(o_date)" FROM orders WHERE qty > 1000'),
    Case("global_distinct_aggregate_of_no_rows",
         lambda t: t.orders.filter(col("qty") > 1000).agg(
             F.countDistinct("status").alias("statuses"), F.sum("price").alias("total")),
         "SELECT count(DISTINCT status) AS statuses, sum(price) AS total "
         "FROM orders WHERE qty > 1000"),
    Case("global_aggregate_with_count_distinct",
         lambda t: t.orders.agg(
             F.countDistinct("status").alias("statuses"), F.sum("price").alias("total"),
             F.avg("qty").alias("mean_qty"), F.count("*").alias("n"), F.max("code").alias("mc")),
         "SELECT count(DISTINCT status) AS statuses, sum(price) AS total, avg(qty) AS mean_qty, "
         "count(*) AS n, max(code) AS mc FROM orders"),
    Case("agg_with_dict_names_columns_like_spark",
         lambda t: t.orders.groupBy("flag").agg({"price": "max", "qty": "sum", "*": "count"}),
         'SELECT flag, max(price) AS "max(price)", CAST(sum(qty) AS BIGINT) AS "sum(qty)", '
         'count(*) AS "count(1)" FROM orders GROUP BY flag'),
    Case("group_by_count",
         lambda t: t.orders.groupBy("status", "priority").count(),
         "SELECT status, priority, count(*) AS count FROM orders GROUP BY status, priority"),
    Case("group_by_nothing_counts_all_rows",
         lambda t: t.events.groupBy().count(),
         "SELECT count(*) AS count FROM events"),
    Case("arithmetic_over_aggregates",
         lambda t: t.orders.groupBy("priority").agg(
             (F.sum("price") / F.count("*")).alias("mean_price"),
             (F.max("qty") - F.min("qty")).alias("qty_range"),
             F.sum(col("qty") * col("price")).alias("revenue")),
         "SELECT priority, sum(price) / count(*) AS mean_price, max(qty) - min(qty) AS qty_range, "
         "sum(qty * price) AS revenue FROM orders GROUP BY priority"),
    Case("group_by_unaliased_function_key",
         lambda t: t.orders.groupBy(F.upper("status")).agg(F.avg("o_id"), F.sum("discount")),
         'SELECT upper(status) AS "upper(status)", avg(o_id) AS "avg(o_id)", '
         'sum(discount) AS "sum(discount)" FROM orders GROUP BY upper(status)'),
    Case("sum_of_int_products_widens_to_bigint",
         lambda t: t.orders.groupBy("flag").agg(
             F.sum(col("qty") * 1000000).alias("big"), F.sum("o_id").alias("ids")),
         "SELECT flag, CAST(sum(CAST(qty AS BIGINT) * 1000000) AS BIGINT) AS big, "
         "CAST(sum(o_id) AS BIGINT) AS ids FROM orders GROUP BY flag"),
    Case("order_by_aggregate_result",
         lambda t: t.orders.groupBy("status").count().orderBy(F.desc("count"), "status"),
         "SELECT status, count(*) AS count FROM orders GROUP BY status "
         "ORDER BY count DESC, status NULLS FIRST", ordered=True),
    Case("distinct_after_union_and_drop_duplicates_of_all_columns",
         lambda t: t.orders.select("priority", "flag").union(
             t.customers.select("score", "active")).dropDuplicates(),
         "SELECT DISTINCT priority, flag FROM (SELECT priority, flag FROM orders "
         "UNION ALL SELECT score, active FROM customers)"),
    Case("aggregate_after_ordered_limit",
         lambda t: t.orders.orderBy("o_id").limit(100).groupBy("status").agg(
             F.count("*").alias("n"), F.sum("qty").alias("q")),
         "SELECT status, count(*) AS n, CAST(sum(qty) AS BIGINT) AS q FROM "
         "(SELECT * FROM orders ORDER BY o_id LIMIT 100) GROUP BY status"),
    Case("aggregate_after_union",
         lambda t: t.orders.select("c_id", "price").union(
             t.events.select("c_id", "amount")).groupBy("c_id").agg(
             F.sum("price").alias("total"), F.count("*").alias("n")),
         "SELECT c_id, sum(price) AS total, count(*) AS n FROM (SELECT c_id, price FROM orders "
         "UNION ALL SELECT c_id, amount FROM events) GROUP BY c_id"),
    Case("filter_on_aliased_expression_key_after_aggregate",
         lambda t: t.orders.groupBy((col("o_id") % 3).alias("bucket"), "status")
         .agg(F.max("price").alias("top")).filter((col("bucket") == 1) & (col("top") > 400)),
         "SELECT o_id % 3 AS bucket, status, max(price) AS top FROM orders "
         "GROUP BY bucket, status HAVING bucket = 1 AND max(price) > 400"),
    Case("group_by_of_no_rows_is_empty",
         lambda t: t.orders.filter(col("qty") > 1000).groupBy("status").count(),
         "SELECT status, count(*) AS count FROM orders WHERE qty > 1000 GROUP BY status"),
    Case("aggregates_of_all_null_groups",
         lambda t: t.orders.groupBy("status").agg(
             F.sum(F.when(col("qty") > 100, col("qty"))).alias("s"),
             F.avg(F.when(col("qty") > 100, col("price"))).alias("a"),
             F.count(F.when(col("qty") > 100, col("qty"))).alias("n"),
             F.max(F.when(col("qty") > 100, col("code"))).alias("m")),
         "SELECT status, CAST(sum(CASE WHEN qty > 100 THEN qty END) AS BIGINT) AS s, "
         "avg(CASE WHEN qty > 100 THEN price END) AS a, "
         "count(CASE WHEN qty > 100 THEN qty END) AS n, "
         "max(CASE WHEN qty > 100 THEN code END) AS m FROM orders GROUP BY status"),
    Case("conditional_counts_and_sums",
         lambda t: t.orders.groupBy("priority").agg(
             F.count(F.when(col("flag"), 1)).alias("flagged"),
             F.sum(F.when(col("status") == "shipped", 1).otherwise(0)).alias("shipped")),
         "SELECT priority, count(CASE WHEN flag THEN 1 END) AS flagged, "
         "CAST(sum(CASE WHEN status = 'shipped' THEN 1 ELSE 0 END) AS BIGINT) AS shipped "
         "FROM orders GROUP BY priority"),
    Case("min_max_of_booleans_strings_and_dates",
         lambda t: t.customers.groupBy("country").agg(
             F.min("active").alias("any_inactive"), F.max("active").alias("any_active"),
             F.min("name").alias("first_name"), F.max("signup").alias("last_signup")),
         "SELECT country, min(active) AS any_inactive, max(active) AS any_active, "
         "min(name) AS first_name, max(signup) AS last_signup FROM customers GROUP BY country"),
    Case("count_distinct_of_several_columns_skips_rows_with_a_null",
         lambda t: t.orders.groupBy("priority").agg(
             F.countDistinct("status", "flag").alias("pairs")),
         "SELECT priority, count(DISTINCT (status, flag)) FILTER "
         "(WHERE status IS NOT NULL AND flag IS NOT NULL) AS pairs FROM orders GROUP BY priority"),
    Case("sum_distinct",
         lambda t: t.orders.groupBy("status").agg(
             F.sum_distinct("qty").alias("distinct_qty"), F.count("*").alias("n")),
         "SELECT status, CAST(sum(DISTINCT qty) AS BIGINT) AS distinct_qty, count(*) AS n "
         "FROM orders GROUP BY status"),
    Case("group_by_double_key_with_nulls",
         lambda t: t.orders.groupBy("discount").agg(F.avg("qty").alias("q"),
                                                    F.max("price").alias("p")),
         "SELECT discount, avg(qty) AS q, max(price) AS p FROM orders GROUP BY discount"),
    Case("filter_on_aggregate_result_and_on_key",
         lambda t: t.orders.groupBy("status", "priority").agg(F.count("*").alias("n"))
         .filter((col("n") > 150) & col("status").isNotNull()),
         "SELECT status, priority, count(*) AS n FROM orders GROUP BY status, priority "
         "HAVING count(*) > 150 AND status IS NOT NULL"),
    Case("distinct_rows_treat_nulls_as_equal",
         lambda t: t.orders.select("status", "flag").distinct(),
         "SELECT DISTINCT status, flag FROM orders"),
    Case("distinct_over_strings_with_nulls_and_empties",
         lambda t: t.customers.select("segment", "country").distinct(),
         "SELECT DISTINCT segment, country FROM customers"),
    Case("repartition_by_column_then_aggregate",
         lambda t: t.events.repartition(6, "kind").groupBy("kind").agg(
             F.count("*").alias("n"), F.sum("amount").alias("total")),
         "SELECT kind, count(*) AS n, sum(amount) AS total FROM events GROUP BY kind"),
    Case("round_robin_repartition_then_aggregate",
         lambda t: t.events.repartition(3).groupBy("c_id").agg(
             F.max("e_day").alias("last_day"), F.countDistinct("kind").alias("kinds")),
         "SELECT c_id, max(e_day) AS last_day, count(DISTINCT kind) AS kinds "
         "FROM events GROUP BY c_id"),
]

# Spark sorts nulls first in ascending order and last in descending order; DuckDB sorts nulls
# last either way, so the SQL spells the placement out.
ORDERING = [
    Case("order_by_ascending_puts_nulls_first",
         lambda t: t.orders.select("o_id", "qty").orderBy("qty", "o_id"),
         "SELECT o_id, qty FROM orders ORDER BY qty ASC NULLS FIRST, o_id", ordered=True),
    Case("order_by_descending_puts_nulls_last",
         lambda t: t.orders.select("o_id", "price").orderBy(F.desc("price"), "o_id"),
         "SELECT o_id, price FROM orders ORDER BY price DESC NULLS LAST, o_id", ordered=True),
    Case("order_by_explicit_null_placement",
         lambda t: t.orders.select("o_id", "status", "qty").orderBy(
             col("status").asc_nulls_last(), col("qty").desc_nulls_first(), "o_id"),
         "SELECT o_id, status, qty FROM orders "
         "ORDER BY status ASC NULLS LAST, qty DESC NULLS FIRST, o_id", ordered=True),
    Case("order_by_with_ascending_flags",
         lambda t: t.orders.select("o_id", "priority", "o_date").orderBy(
             ["priority", "o_date", "o_id"], ascending=[False, True, True]),
         "SELECT o_id, priority, o_date FROM orders "
         "ORDER BY priority DESC NULLS LAST, o_date ASC NULLS FIRST, o_id", ordered=True),
    Case("order_by_strings_and_dates",
         lambda t: t.customers.select("c_id", "name", "signup").orderBy(
             "name", F.desc("signup"), "c_id"),
         "SELECT c_id, name, signup FROM customers "
         "ORDER BY name ASC NULLS FIRST, signup DESC NULLS LAST, c_id ASC NULLS FIRST",
         ordered=True),
    Case("order_by_across_partitions_then_limit",
         lambda t: t.events.select("e_id", "amount", "kind").orderBy("amount", "e_id").limit(30),
         "SELECT e_id, amount, kind FROM events ORDER BY amount ASC NULLS FIRST, e_id LIMIT 30",
         ordered=True),
    Case("order_by_boolean_and_date_descending",
         lambda t: t.events.select("e_id", "e_day", "kind").orderBy(
             F.desc("e_day"), col("kind").desc_nulls_first(), "e_id"),
         "SELECT e_id, e_day, kind FROM events "
         "ORDER BY e_day DESC NULLS LAST, kind DESC NULLS FIRST, e_id", ordered=True),
    Case("order_by_column_dropped_by_select",
         lambda t: t.orders.select("o_id", "price").orderBy(F.desc("qty"), "o_id"),
         "SELECT o_id, price FROM orders ORDER BY qty DESC NULLS LAST, o_id", ordered=True),
    Case("order_by_then_limit_takes_top_rows",
         lambda t: t.orders.select("o_id", "price", "status").orderBy(
             col("price").desc(), "o_id").limit(10),
         "SELECT o_id, price, status FROM orders ORDER BY price DESC NULLS LAST, o_id LIMIT 10",
         ordered=True),
    Case("order_by_expression_then_limit",
         lambda t: t.orders.select("o_id", "qty", "price").orderBy(
             (col("qty") * col("price")).desc(), "o_id").limit(25),
         "SELECT o_id, qty, price FROM orders ORDER BY qty * price DESC NULLS LAST, o_id LIMIT 25",
         ordered=True),
]


def _o(t: Tables) -> DataFrame:
    return t.orders.select("o_id", "c_id", "qty", "status")


def _c(t: Tables) -> DataFrame:
    return t.customers.select("c_id", "name", "score", "country")


_USING_SELECT = "o.o_id, o.qty, o.status, c.name, c.score, c.country"

JOINS = [
    Case("inner_join_using_column_keeps_one_key",
         lambda t: _o(t).join(_c(t), "c_id"),
         f"SELECT o.c_id, {_USING_SELECT} FROM orders o JOIN customers c ON o.c_id = c.c_id"),
    Case("left_join_using_column",
         lambda t: _o(t).join(_c(t), "c_id", "left"),
         f"SELECT o.c_id, {_USING_SELECT} FROM orders o LEFT JOIN customers c ON o.c_id = c.c_id"),
    Case("right_join_using_column_takes_right_key",
         lambda t: _o(t).join(_c(t), "c_id", "right"),
         f"SELECT c.c_id, {_USING_SELECT} FROM orders o RIGHT JOIN customers c "
         "ON o.c_id = c.c_id"),
    Case("full_join_using_column_coalesces_key",
         lambda t: _o(t).join(_c(t), "c_id", "full"),
         f"SELECT COALESCE(o.c_id, c.c_id) AS c_id, {_USING_SELECT} FROM orders o "
         "FULL JOIN customers c ON o.c_id = c.c_id"),
    Case("left_semi_join_keeps_matching_left_rows_once",
         lambda t: _o(t).join(_c(t), "c_id", "left_semi"),
         "SELECT c_id, o_id, qty, status FROM orders o "
         "WHERE EXISTS (SELECT 1 FROM customers c WHERE c.c_id = o.c_id)"),
    # NOT EXISTS, not NOT IN: a null key matches nothing, so its row stays.
    Case("left_anti_join_keeps_unmatched_and_null_key_rows",
         lambda t: _o(t).join(_c(t), "c_id", "left_anti"),
         "SELECT c_id, o_id, qty, status FROM orders o "
         "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.c_id = o.c_id)"),
    Case("cross_join_of_small_tables",
         lambda t: t.customers.filter(col("c_id") <= 5).select("c_id", "name")
         .crossJoin(t.orders.select("status").distinct()),
         "SELECT c.c_id, c.name, s.status FROM (SELECT c_id, name FROM customers "
         "WHERE c_id <= 5) c CROSS JOIN (SELECT DISTINCT status FROM orders) s"),
    Case("join_on_expression_keeps_both_key_columns",
         lambda t: t.orders.join(t.customers, t.orders.c_id == t.customers.c_id).select(
             t.orders.o_id, t.orders.c_id, t.customers.c_id.alias("cust_id"), t.customers.name),
         "SELECT o.o_id, o.c_id, c.c_id AS cust_id, c.name FROM orders o "
         "JOIN customers c ON o.c_id = c.c_id"),
    Case("inner_join_with_extra_non_equi_condition",
         lambda t: t.orders.join(
             t.customers,
             (t.orders.c_id == t.customers.c_id) & (t.orders.qty > t.customers.score)).select(
             t.orders.o_id, t.orders.qty, t.customers.c_id.alias("cust"), t.customers.score),
         "SELECT o.o_id, o.qty, c.c_id AS cust, c.score FROM orders o "
         "JOIN customers c ON o.c_id = c.c_id AND o.qty > c.score"),
    Case("left_join_with_non_equi_condition_keeps_failing_rows",
         lambda t: t.orders.join(
             t.customers,
             (t.orders.c_id == t.customers.c_id) & (t.orders.qty > t.customers.score),
             "left").select(
             t.orders.o_id, t.orders.qty, t.customers.c_id.alias("cust"), t.customers.score),
         "SELECT o.o_id, o.qty, c.c_id AS cust, c.score FROM orders o "
         "LEFT JOIN customers c ON o.c_id = c.c_id AND o.qty > c.score"),
    Case("right_join_with_non_equi_condition",
         lambda t: t.orders.join(
             t.customers,
             (t.orders.c_id == t.customers.c_id) & (t.orders.qty > t.customers.score),
             "right").select(
             t.orders.o_id, t.orders.qty, t.customers.c_id.alias("cust"), t.customers.score),
         "SELECT o.o_id, o.qty, c.c_id AS cust, c.score FROM orders o "
         "RIGHT JOIN customers c ON o.c_id = c.c_id AND o.qty > c.score"),
    Case("full_join_on_expression_never_matches_null_keys",
         lambda t: t.orders.join(
             t.customers,
             (t.orders.c_id == t.customers.c_id) & (t.orders.qty > t.customers.score),
             "full").select(
             t.orders.o_id, t.orders.c_id.alias("o_cid"), t.customers.c_id.alias("c_cid"),
             t.customers.name),
         "SELECT o.o_id, o.c_id AS o_cid, c.c_id AS c_cid, c.name FROM orders o "
         "FULL JOIN customers c ON o.c_id = c.c_id AND o.qty > c.score"),
    Case("join_using_multiple_columns",
         lambda t: t.events.select("e_id", "o_id", "c_id", "amount")
         .join(t.orders.select("o_id", "c_id", "qty"), ["o_id", "c_id"]),
         "SELECT e.o_id, e.c_id, e.e_id, e.amount, o.qty FROM events e "
         "JOIN orders o ON e.o_id = o.o_id AND e.c_id = o.c_id"),
    Case("left_join_on_multiple_expression_keys",
         lambda t: t.events.join(
             t.orders, (t.events.o_id == t.orders.o_id) & (t.events.c_id == t.orders.c_id),
             "left").select(t.events.e_id, t.events.kind, t.orders.o_id, t.orders.status),
         "SELECT e.e_id, e.kind, o.o_id, o.status FROM events e "
         "LEFT JOIN orders o ON e.o_id = o.o_id AND e.c_id = o.c_id"),
    Case("self_join_through_aliases",
         lambda t: t.orders.filter(col("qty") > 40).alias("a").join(
             t.orders.filter(col("qty") < 0).alias("b"),
             (col("a.c_id") == col("b.c_id")) & (col("a.o_id") < col("b.o_id"))).select(
             col("a.o_id").alias("first"), col("b.o_id").alias("second"), col("a.c_id")),
         "SELECT a.o_id AS first, b.o_id AS second, a.c_id FROM orders a JOIN orders b "
         "ON a.c_id = b.c_id AND a.o_id < b.o_id WHERE a.qty > 40 AND b.qty < 0"),
    Case("join_keys_of_different_integer_types",
         lambda t: t.orders.join(t.customers, t.orders.qty == t.customers.c_id).select(
             t.orders.o_id, t.orders.qty, t.customers.c_id, t.customers.country),
         "SELECT o.o_id, o.qty, c.c_id, c.country FROM orders o "
         "JOIN customers c ON o.qty = c.c_id"),
    Case("join_on_expression_keys",
         lambda t: t.orders.join(
             t.customers, (t.orders.c_id + 1) == (t.customers.c_id + 1), "left").select(
             t.orders.o_id, t.customers.c_id.alias("cust"), t.customers.segment),
         "SELECT o.o_id, c.c_id AS cust, c.segment FROM orders o "
         "LEFT JOIN customers c ON o.c_id + 1 = c.c_id + 1"),
    Case("join_on_string_key_matches_empty_strings_but_not_nulls",
         lambda t: t.customers.filter(col("c_id") <= 40).select("c_id", "segment").join(
             t.customers.select(col("c_id").alias("other"), "segment"), "segment"),
         "SELECT a.segment, a.c_id, b.c_id AS other FROM customers a "
         "JOIN customers b ON a.segment = b.segment WHERE a.c_id <= 40"),
    Case("left_join_condition_on_right_side_only_restricts_matches",
         lambda t: t.orders.join(
             t.customers, (t.orders.c_id == t.customers.c_id) & (t.customers.score > 5),
             "left").select(t.orders.o_id, t.customers.c_id.alias("cust"), t.customers.score),
         "SELECT o.o_id, c.c_id AS cust, c.score FROM orders o "
         "LEFT JOIN customers c ON o.c_id = c.c_id AND c.score > 5"),
    Case("right_join_condition_on_left_side_only_restricts_matches",
         lambda t: t.orders.join(
             t.customers, (t.orders.c_id == t.customers.c_id) & (t.orders.qty > 30),
             "right").select(t.orders.o_id, t.customers.c_id.alias("cust"), t.customers.name),
         "SELECT o.o_id, c.c_id AS cust, c.name FROM orders o "
         "RIGHT JOIN customers c ON o.c_id = c.c_id AND o.qty > 30"),
    Case("filter_after_left_join_on_right_column_is_not_pushed_below_it",
         lambda t: t.orders.select("o_id", "c_id").join(
             t.customers.select("c_id", "name"), "c_id", "left").filter(col("name").isNull()),
         "SELECT o.c_id, o.o_id, c.name FROM orders o LEFT JOIN customers c "
         "ON o.c_id = c.c_id WHERE c.name IS NULL"),
    Case("outer_joins_with_an_empty_side",
         lambda t: _o(t).join(_c(t).filter(col("c_id") > 10_000), "c_id", "left").union(
             _o(t).filter(col("o_id") < 0).join(_c(t), "c_id", "full")),
         f"SELECT o.c_id, {_USING_SELECT} FROM orders o "
         "LEFT JOIN (SELECT * FROM customers WHERE c_id > 10000) c ON o.c_id = c.c_id "
         f"UNION ALL SELECT COALESCE(o.c_id, c.c_id), {_USING_SELECT} "
         "FROM (SELECT * FROM orders WHERE o_id < 0) o FULL JOIN customers c ON o.c_id = c.c_id"),
    Case("three_way_join",
         lambda t: t.events.select("e_id", "o_id", "amount")
         .join(t.orders.select("o_id", "c_id", "status"), "o_id")
         .join(t.customers.select("c_id", "country"), "c_id", "left")
         .filter(col("amount") > 100),
         "SELECT o.c_id, e.o_id, e.e_id, e.amount, o.status, c.country FROM events e "
         "JOIN orders o ON e.o_id = o.o_id LEFT JOIN customers c ON o.c_id = c.c_id "
         "WHERE e.amount > 100"),
    Case("join_aggregate_back_to_its_source",
         lambda t: t.orders.groupBy("c_id").agg(F.sum("price").alias("spent"))
         .join(t.customers.select("c_id", "name", "balance"), "c_id", "right")
         .withColumn("headroom", col("balance") - col("spent")),
         "SELECT c.c_id, s.spent, c.name, c.balance, c.balance - s.spent AS headroom FROM "
         "(SELECT c_id, sum(price) AS spent FROM orders GROUP BY c_id) s "
         "RIGHT JOIN customers c ON s.c_id = c.c_id"),
    Case("inner_join_with_an_empty_side",
         lambda t: _o(t).join(_c(t).filter(col("c_id") > 10_000), "c_id"),
         f"SELECT o.c_id, {_USING_SELECT} FROM orders o "
         "JOIN (SELECT * FROM customers WHERE c_id > 10000) c ON o.c_id = c.c_id"),
    Case("left_join_without_equality_is_a_nested_loop",
         lambda t: t.orders.filter(col("qty") > 48).join(
             t.customers, (t.orders.c_id == t.customers.c_id) | (t.orders.qty == t.customers.score),
             "left").select(t.orders.o_id, t.customers.c_id.alias("cust")),
         "SELECT o.o_id, c.c_id AS cust FROM orders o LEFT JOIN customers c "
         "ON o.c_id = c.c_id OR o.qty = c.score WHERE o.qty > 48"),
]

SET_OPERATIONS = [
    Case("union_keeps_duplicates",
         lambda t: t.orders.filter(col("qty") > 45).union(t.orders.filter(col("qty") > 40)),
         "SELECT * FROM orders WHERE qty > 45 UNION ALL SELECT * FROM orders WHERE qty > 40"),
    Case("union_is_positional",
         lambda t: t.orders.select("o_id", "status").union(t.customers.select("c_id", "name")),
         "SELECT o_id, status FROM orders UNION ALL SELECT c_id, name FROM customers"),
    Case("union_widens_column_types",
         lambda t: t.orders.select("qty", "price").union(t.customers.select("c_id", "credit")),
         "SELECT CAST(qty AS BIGINT) AS qty, price FROM orders "
         "UNION ALL SELECT c_id, CAST(credit AS DOUBLE) FROM customers"),
    Case("union_widens_string_and_number_to_string",
         lambda t: t.orders.select("status", "o_date").union(
             t.orders.select("qty", "code")),
         "SELECT status, CAST(o_date AS VARCHAR) AS o_date FROM orders "
         "UNION ALL SELECT CAST(qty AS VARCHAR), code FROM orders"),
    Case("union_by_name_matches_columns_by_name",
         lambda t: t.orders.select("o_id", "status", "qty").unionByName(
             t.orders.filter(col("qty") > 40).select("qty", "o_id", "status")),
         "SELECT o_id, status, qty FROM orders "
         "UNION ALL SELECT o_id, status, qty FROM orders WHERE qty > 40"),
    Case("union_by_name_fills_missing_columns_with_nulls",
         lambda t: t.orders.select("o_id", "status").unionByName(
             t.customers.select(col("c_id").alias("o_id"), "country"), allowMissingColumns=True),
         "SELECT o_id, status, NULL::VARCHAR AS country FROM orders "
         "UNION ALL SELECT c_id, NULL, country FROM customers"),
]

MULTI_STAGE = [
    Case("filter_join_aggregate_order_limit",
         lambda t: t.orders.filter(col("status").isNotNull() & (col("qty") > 0))
         .join(t.customers.filter(col("active")), "c_id")
         .groupBy("country", "segment")
         .agg(F.sum(col("qty") * col("price")).alias("revenue"),
              F.countDistinct("c_id").alias("buyers"), F.count("*").alias("n"))
         .orderBy(F.desc("revenue"), "country", "segment").limit(5),
         "SELECT c.country, c.segment, sum(o.qty * o.price) AS revenue, "
         "count(DISTINCT o.c_id) AS buyers, count(*) AS n "
         "FROM orders o JOIN customers c ON o.c_id = c.c_id "
         "WHERE o.status IS NOT NULL AND o.qty > 0 AND c.active "
         "GROUP BY c.country, c.segment "
         "ORDER BY revenue DESC NULLS LAST, c.country NULLS FIRST, c.segment NULLS FIRST LIMIT 5",
         ordered=True),
    Case("big_join_then_aggregate",
         lambda t: t.events.join(t.orders.select("o_id", "status", "priority"), "o_id")
         .groupBy("status", "kind").agg(F.sum("amount").alias("amount"),
                                        F.max("priority").alias("top_priority"),
                                        F.count("*").alias("n")),
         "SELECT o.status, e.kind, sum(e.amount) AS amount, max(o.priority) AS top_priority, "
         "count(*) AS n FROM events e JOIN orders o ON e.o_id = o.o_id "
         "GROUP BY o.status, e.kind"),
]

def _printed_round(func: str, digits: int) -> str:
    """Spark's round of a double in DuckDB: round the printed decimal, leave NaN, infinities and
    numbers too large for a fraction alone."""
    return (f"CASE WHEN isfinite(x) AND abs(x) < 1e17 THEN CAST({func}(CAST(CAST(x AS VARCHAR) "
            f"AS DECIMAL(38, 20)), {digits}) AS DOUBLE) ELSE x END")


# Spark treats NaN as equal to itself and larger than any other double (+inf included), and
# -0.0 as equal to 0.0 (it normalises both before grouping and joining). DuckDB does the same.
NAN = float("nan")
SPECIAL_FLOATS = [
    Case("nan_equals_nan_and_is_above_infinity",
         lambda t: t.floats.select(
             "f_id", (col("x") == NAN).alias("is_nan"), (col("x") > 1e308).alias("huge"),
             (col("x") < float("inf")).alias("finite"), (col("x") != 0.0).alias("non_zero"),
             (col("x") >= -0.0).alias("non_negative"), col("x").eqNullSafe(NAN).alias("safe")),
         "SELECT f_id, x = 'NaN'::DOUBLE AS is_nan, x > 1e308 AS huge, "
         "x < 'inf'::DOUBLE AS finite, x <> 0.0 AS non_zero, x >= -0.0 AS non_negative, "
         "x IS NOT DISTINCT FROM 'NaN'::DOUBLE AS safe FROM floats"),
    Case("isin_matches_nan_and_both_zeros",
         lambda t: t.floats.select(
             "f_id", col("x").isin(NAN, 0.0).alias("lit"),
             col("x").isin(col("x") * 1, -2.25).alias("cols")),
         "SELECT f_id, x IN ('NaN'::DOUBLE, 0.0) AS lit, x IN (x * 1, -2.25) AS cols FROM floats"),
    Case("group_by_puts_nans_together_and_zeros_together",
         lambda t: t.floats.groupBy("x").agg(F.count("*").alias("n"), F.max("f_id").alias("m")),
         "SELECT x, count(*) AS n, max(f_id) AS m FROM floats GROUP BY x"),
    Case("distinct_of_nan_and_signed_zeros",
         lambda t: t.floats.select("x").distinct(),
         "SELECT DISTINCT x FROM floats"),
    Case("max_is_nan_when_a_nan_is_present_and_min_skips_it",
         lambda t: t.floats.groupBy("grp").agg(
             F.max("x").alias("hi"), F.min("x").alias("lo"), F.count("x").alias("n")),
         "SELECT grp, max(x) AS hi, min(x) AS lo, count(x) AS n FROM floats GROUP BY grp"),
    Case("join_on_double_key_matches_nan_and_signed_zeros",
         lambda t: t.floats.join(
             t.floats.select(col("f_id").alias("other"), col("x").alias("y")),
             col("x") == col("y")).select("f_id", "other"),
         "SELECT a.f_id, b.f_id AS other FROM floats a JOIN floats b ON a.x = b.x"),
    # Java's double-to-int conversion saturates at the type's bounds and turns NaN into 0.
    Case("cast_special_doubles_to_integers_saturates",
         lambda t: t.floats.select(
             "f_id", col("x").cast("int").alias("i"), col("x").cast("bigint").alias("l")),
         "SELECT f_id, CASE WHEN isnan(x) THEN 0 WHEN x >= 2147483647 THEN 2147483647 "
         "WHEN x <= -2147483648 THEN -2147483648 ELSE CAST(trunc(x) AS INTEGER) END AS i, "
         "CASE WHEN isnan(x) THEN 0 WHEN x >= 9223372036854775807 THEN 9223372036854775807 "
         "WHEN x <= -9223372036854775808 THEN -9223372036854775808 "
         "ELSE CAST(trunc(x) AS BIGINT) END AS l FROM floats"),
    Case("round_of_special_doubles",
         lambda t: t.floats.select(
             "f_id", F.round("x", 2).alias("r2"), F.bround("x", 2).alias("b2"),
             F.round("x").alias("r0")),
         f"SELECT f_id, {_printed_round('round', 2)} AS r2, {_printed_round('round_even', 2)} "
         f"AS b2, {_printed_round('round', 0)} AS r0 FROM floats"),
    Case("order_by_double_ascending_puts_nan_last_before_nulls_last",
         lambda t: t.floats.select("f_id", "x").orderBy(col("x").asc_nulls_last(), "f_id"),
         "SELECT f_id, x FROM floats ORDER BY x ASC NULLS LAST, f_id", ordered=True),
    Case("order_by_double_descending_puts_nan_first",
         lambda t: t.floats.select("f_id", "x").orderBy(F.desc("x"), "f_id"),
         "SELECT f_id, x FROM floats ORDER BY x DESC NULLS LAST, f_id", ordered=True),
]

CASES = (PROJECTIONS + AGGREGATES + ORDERING + JOINS + SET_OPERATIONS + MULTI_STAGE
         + SPECIAL_FLOATS)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_query_matches_duckdb(case: Case, t: Tables, duck: duckdb.DuckDBPyConnection) -> None:
    assert_same(case.build(t), duck, case.sql, ordered=case.ordered)


# ---------------------------------------------------------------------------------------------
# Broadcast and shuffled variants of the same joins


JOIN_SQL = {"inner": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL JOIN"}


@pytest.mark.parametrize("strategy", ["broadcast", "shuffled"])
@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "left_semi", "left_anti"])
def test_join_strategies_agree(spark: SparkSession, t: Tables, duck: duckdb.DuckDBPyConnection,
                               how: str, strategy: str) -> None:
    events = t.events.select("e_id", "o_id", "amount")
    orders = t.orders.select("o_id", "qty", "status")
    cond = (events.o_id == orders.o_id) & (events.amount > orders.qty)
    on = "ON e.o_id = o.o_id AND e.amount > o.qty"
    if how in {"left_semi", "left_anti"}:
        df = events.join(orders, cond, how)
        exists = "EXISTS" if how == "left_semi" else "NOT EXISTS"
        sql = (f"SELECT e_id, o_id, amount FROM events e WHERE {exists} "
               "(SELECT 1 FROM orders o WHERE e.o_id = o.o_id AND e.amount > o.qty)")
    else:
        df = events.join(orders, cond, how).select(
            events.e_id, events.amount, orders.o_id.alias("order_id"), orders.status)
        sql = (f"SELECT e.e_id, e.amount, o.o_id AS order_id, o.status FROM events e "
               f"{JOIN_SQL[how]} orders o {on}")
    with broadcast_threshold(spark, -1 if strategy == "shuffled" else None):
        plan = physical_plan(df)
        # As in Spark, a full outer join keeps both sides' unmatched rows and is never broadcast.
        broadcast = strategy == "broadcast" and how != "full"
        assert ("BroadcastHashJoin" if broadcast else "ShuffledHashJoin") in plan, plan
        assert_same(df, duck, sql)


# ---------------------------------------------------------------------------------------------
# Results only partly determined by Spark's semantics


def test_drop_duplicates_on_subset_keeps_one_input_row_per_key(
        t: Tables, duck: duckdb.DuckDBPyConnection) -> None:
    # Which row survives is not determined; the keys are, and the row must be an input row.
    out = t.orders.select("o_id", "status", "flag", "priority").dropDuplicates(
        ["status", "flag"]).toArrow()
    keys = sorted(((r["status"], r["flag"]) for r in out.to_pylist()), key=_sort_key)
    want = duck.sql("SELECT DISTINCT status, flag FROM orders").fetchall()
    assert keys == sorted(want, key=_sort_key)
    inputs = {tuple(r) for r in duck.sql(
        "SELECT o_id, status, flag, priority FROM orders").fetchall()}
    assert all(tuple(r.values()) in inputs for r in out.to_pylist())


def test_limit_without_order_returns_that_many_input_rows(
        t: Tables, duck: duckdb.DuckDBPyConnection) -> None:
    out = t.orders.filter(col("qty") > 20).select("o_id", "qty").limit(37).toArrow()
    assert out.num_rows == 37
    inputs = set(duck.sql("SELECT o_id, qty FROM orders WHERE qty > 20").fetchall())
    assert {tuple(r.values()) for r in out.to_pylist()} <= inputs


def test_count_action_matches_sql_count(t: Tables, duck: duckdb.DuckDBPyConnection) -> None:
    got = t.events.filter(col("kind").isin("view", "buy") & col("amount").isNotNull()).count()
    (want,) = duck.sql(
        "SELECT count(*) FROM events WHERE kind IN ('view', 'buy') AND amount IS NOT NULL"
    ).fetchall()[0]
    assert got == want
