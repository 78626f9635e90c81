"""spark.sql over temporary views, compared with DuckDB running the same query.

Where Spark's SQL and DuckDB's differ in spelling or defaults, the DuckDB text says the same
thing in DuckDB's words (noted per case); the data has nulls in every column.
"""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pytest

from ember.errors import AnalysisException, ParseException
from ember.sql import functions as F

PEOPLE = pa.table({
    "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
    "name": ["ann", "bob", "cid", "dan", None, "eve"],
    "age": pa.array([30, None, 25, 41, 30, 19], pa.int64()),
    "country": ["de", "fr", "de", None, "fr", "de"],
    "score": [1.5, 2.0, None, 4.25, 0.5, 3.0],
})
ORDERS = pa.table({
    "oid": pa.array(range(1, 9), pa.int64()),
    "pid": pa.array([1, 1, 3, 9, 2, None, 3, 6], pa.int64()),
    "amount": [9.5, 3.0, 7.25, 1.0, None, 2.0, 4.0, 8.0],
    "item": ["pen", "ink", "pen", "cup", "pen", "ink", None, "cup"],
})


@pytest.fixture(scope="module")
def views(spark):  # type: ignore[no-untyped-def]
    spark.createDataFrame(PEOPLE).createOrReplaceTempView("people")
    spark.createDataFrame(ORDERS).createOrReplaceTempView("orders")
    con = duckdb.connect()
    con.register("people", PEOPLE)
    con.register("orders", ORDERS)
    yield spark, con
    spark.catalog.dropTempView("people")
    spark.catalog.dropTempView("orders")


def _norm(value):  # type: ignore[no-untyped-def]
    if isinstance(value, float):
        return round(value, 9)
    return value


def _key(row: tuple) -> tuple:
    return tuple((v is None, "" if v is None else str(v)) for v in row)


CASES = [
    ("projection_and_filter", "SELECT name, age + 1 AS next FROM people WHERE age > 20", None),
    ("is_null_and_between",
     "SELECT id FROM people WHERE age IS NULL OR age BETWEEN 20 AND 30", None),
    ("in_list_and_like", "SELECT id FROM people WHERE country IN ('fr', 'xx') OR name LIKE 'a%'",
     None),
    ("group_by_with_aggregates",
     "SELECT country, count(*) AS n, count(age) AS ages, sum(score) AS s, avg(age) AS a, "
     "min(name) AS lo, max(name) AS hi FROM people GROUP BY country", None),
    ("group_by_ordinal_and_having",
     "SELECT country, count(*) AS n FROM people GROUP BY 1 HAVING count(*) > 1", None),
    ("having_an_aggregate_not_selected",
     "SELECT country FROM people GROUP BY country HAVING avg(age) > 25", None),
    ("count_distinct", "SELECT count(DISTINCT age) AS d, count(DISTINCT country) AS c FROM people",
     None),
    ("global_aggregate_of_nothing",
     "SELECT count(*) AS n, sum(age) AS s FROM people WHERE age > 100", None),
    ("inner_join", "SELECT p.name, o.amount FROM people p JOIN orders o ON p.id = o.pid", None),
    ("left_join", "SELECT p.id, o.oid FROM people p LEFT JOIN orders o ON p.id = o.pid", None),
    ("right_join", "SELECT p.id, o.oid FROM people p RIGHT JOIN orders o ON p.id = o.pid", None),
    ("full_join", "SELECT p.id, o.oid FROM people p FULL OUTER JOIN orders o ON p.id = o.pid",
     None),
    ("semi_and_anti_join",
     "SELECT id FROM people p LEFT SEMI JOIN orders o ON p.id = o.pid",
     "SELECT id FROM people p SEMI JOIN orders o ON p.id = o.pid"),
    ("anti_join", "SELECT id FROM people p LEFT ANTI JOIN orders o ON p.id = o.pid",
     "SELECT id FROM people p ANTI JOIN orders o ON p.id = o.pid"),
    ("join_using", "SELECT * FROM people JOIN (SELECT pid AS id, amount FROM orders) USING (id)",
     None),
    ("join_with_extra_condition",
     "SELECT p.id, o.oid FROM people p JOIN orders o ON p.id = o.pid AND o.amount > 3", None),
    ("aggregate_over_join",
     "SELECT p.country, sum(o.amount) AS total FROM people p JOIN orders o ON p.id = o.pid "
     "GROUP BY p.country", None),
    ("in_subquery", "SELECT name FROM people WHERE id IN (SELECT pid FROM orders)", None),
    ("not_in_subquery_without_nulls",
     "SELECT name FROM people WHERE id NOT IN (SELECT pid FROM orders WHERE pid IS NOT NULL)",
     None),
    ("exists", "SELECT id FROM people p WHERE EXISTS "
               "(SELECT 1 FROM orders o WHERE o.pid = p.id AND o.amount > 5)", None),
    ("not_exists", "SELECT id FROM people p WHERE NOT EXISTS "
                   "(SELECT 1 FROM orders o WHERE o.pid = p.id)", None),
    ("scalar_subquery", "SELECT id FROM people WHERE age > (SELECT avg(age) FROM people)", None),
    ("subquery_in_from",
     "SELECT c, n FROM (SELECT country AS c, count(*) AS n FROM people GROUP BY country) t "
     "WHERE n >= 2", None),
    ("cte", "WITH rich AS (SELECT pid, sum(amount) AS total FROM orders GROUP BY pid) "
            "SELECT p.name, r.total FROM people p JOIN rich r ON p.id = r.pid", None),
    ("union_distinct", "SELECT country FROM people UNION SELECT item FROM orders", None),
    ("union_all", "SELECT country FROM people UNION ALL SELECT item FROM orders", None),
    ("intersect", "SELECT pid FROM orders INTERSECT SELECT id FROM people", None),
    ("except", "SELECT id FROM people EXCEPT SELECT pid FROM orders", None),
    ("case_when",
     "SELECT id, CASE WHEN age IS NULL THEN 'unknown' WHEN age >= 30 THEN 'old' "
     "ELSE 'young' END AS band FROM people", None),
    ("simple_case", "SELECT id, CASE country WHEN 'de' THEN 1 WHEN 'fr' THEN 2 END AS c "
                    "FROM people", None),
    ("casts", "SELECT CAST(age AS STRING) AS s, CAST('7' AS INT) + id AS n, "
              "CAST(score AS BIGINT) AS b FROM people",
     "SELECT CAST(age AS VARCHAR) AS s, TRY_CAST('7' AS INT) + id AS n, "
     "CAST(trunc(score) AS BIGINT) AS b FROM people"),  # Spark truncates doubles to integers
    ("distinct", "SELECT DISTINCT country FROM people", None),
    ("arithmetic_and_division",
     "SELECT id, age / 4 AS q, age % 7 AS r, -age AS neg FROM people",
     "SELECT id, CAST(age AS DOUBLE) / 4 AS q, age % 7 AS r, -age AS neg FROM people"),
    ("window_ranking", "SELECT id, row_number() OVER (PARTITION BY country ORDER BY age DESC, id) "
                       "AS rn, rank() OVER (ORDER BY age DESC) AS r FROM people", None),
    ("window_frame_and_lag",
     "SELECT id, sum(score) OVER (PARTITION BY country ORDER BY id ROWS BETWEEN 1 PRECEDING "
     "AND CURRENT ROW) AS s, lag(age, 1) OVER (ORDER BY id) AS prev, "
     "avg(age) OVER () AS a FROM people", None),
    ("string_functions", "SELECT upper(name) AS u, length(name) AS l, "
                         "concat(name, '-', country) AS c FROM people",
     # Spark's concat is null when any input is; DuckDB's || behaves so, its concat does not.
     "SELECT upper(name) AS u, length(name) AS l, name || '-' || country AS c FROM people"),
]

ORDERED = [
    ("order_by_alias_desc_nulls_last",
     "SELECT name, age AS a FROM people ORDER BY a DESC NULLS LAST, name",
     "SELECT name, age AS a FROM people ORDER BY a DESC NULLS LAST, name NULLS FIRST"),
    ("order_by_column_not_selected", "SELECT name FROM people ORDER BY id DESC", None),
    ("order_by_ordinal_with_limit", "SELECT id, score FROM people ORDER BY 2 LIMIT 3",
     "SELECT id, score FROM people ORDER BY 2 NULLS FIRST LIMIT 3"),  # Spark: nulls first asc
    ("order_by_aggregate",
     "SELECT country, count(*) AS n FROM people GROUP BY country ORDER BY count(*) DESC, country",
     "SELECT country, count(*) AS n FROM people GROUP BY country "
     "ORDER BY count(*) DESC, country NULLS FIRST"),
    ("union_then_order", "SELECT id FROM people UNION SELECT pid FROM orders ORDER BY id",
     "SELECT id FROM people UNION SELECT pid FROM orders ORDER BY id NULLS FIRST"),
]


def _compare(got: list[tuple], want: list[tuple], *, ordered: bool) -> None:
    got = [tuple(_norm(v) for v in r) for r in got]
    want = [tuple(_norm(v) for v in r) for r in want]
    if not ordered:
        got, want = sorted(got, key=_key), sorted(want, key=_key)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9)
            else:
                assert a == b, (g, w)


@pytest.mark.parametrize(("case", "query", "duck"), CASES, ids=[c[0] for c in CASES])
def test_query_matches_duckdb(views, case, query, duck) -> None:  # type: ignore[no-untyped-def]
    spark, con = views
    got = [tuple(r) for r in spark.sql(query).collect()]
    want = con.execute(duck or query).fetchall()
    _compare(got, want, ordered=False)


@pytest.mark.parametrize(("case", "query", "duck"), ORDERED, ids=[c[0] for c in ORDERED])
def test_ordered_query_matches_duckdb(views, case, query, duck) -> None:  # type: ignore[no-untyped-def]
    spark, con = views
    got = [tuple(r) for r in spark.sql(query).collect()]
    want = con.execute(duck or query).fetchall()
    _compare(got, want, ordered=True)


def test_column_names_follow_the_select_list(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    df = spark.sql("SELECT name, age + 1, upper(country) AS c FROM people")
    assert df.columns == ["name", "(age + 1)", "c"]


def test_string_expressions_in_the_dataframe_api(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    people = spark.table("people")
    assert sorted(r.id for r in people.filter("age > 26 AND country = 'de'").collect()) == [1]
    rows = people.selectExpr("id", "age * 2 AS twice").where("id <= 2").orderBy("id").collect()
    assert [(r.id, r.twice) for r in rows] == [(1, 60), (2, None)]
    total = people.select(F.expr("sum(age) AS total")).collect()[0].total
    assert total == 30 + 25 + 41 + 30 + 19


def test_global_temp_views_are_shared_by_sessions(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    spark.range(3).createOrReplaceGlobalTempView("three")
    other = spark.newSession()
    try:
        assert other.sql("SELECT count(*) AS n FROM global_temp.three").collect()[0].n == 3
        # temporary views are per session
        with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
            other.sql("SELECT * FROM people")
    finally:
        spark.catalog.dropGlobalTempView("three")


def test_catalog_lists_views(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    names = [t.name for t in spark.catalog.listTables()]
    assert {"people", "orders"} <= set(names)
    assert all(t.isTemporary for t in spark.catalog.listTables())
    assert spark.catalog.tableExists("people")
    assert not spark.catalog.tableExists("nope")
    cols = [(c.name, c.dataType) for c in spark.catalog.listColumns("people")]
    assert cols[:3] == [("id", "bigint"), ("name", "string"), ("age", "bigint")]
    spark.range(1).createTempView("once")
    with pytest.raises(AnalysisException, match="already exists"):
        spark.range(1).createTempView("once")
    assert spark.catalog.dropTempView("once")


def test_malformed_sql_raises_parse_exception_with_position(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    with pytest.raises(ParseException) as info:
        spark.sql("SELECT name FROM people WHERE")
    assert info.value.line == 1
    assert "PARSE_SYNTAX_ERROR" in str(info.value)
    assert "== SQL ==" in str(info.value)
    with pytest.raises(ParseException):
        spark.sql("SELEC name FROM people")
    # the session is still usable
    assert spark.sql("SELECT count(*) AS n FROM people").collect()[0].n == 6


def test_unknown_names_raise_analysis_exception(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    with pytest.raises(AnalysisException, match="(?s)TABLE_OR_VIEW_NOT_FOUND.*createOrReplaceTempView"):
        spark.sql("SELECT * FROM nowhere")
    with pytest.raises(AnalysisException, match="`nmae` cannot be resolved.*`name`"):
        spark.sql("SELECT nmae FROM people")
    with pytest.raises(AnalysisException, match="undefined function"):
        spark.sql("SELECT no_such_function(name) FROM people")


def test_show_tables_lists_temporary_views(views) -> None:  # type: ignore[no-untyped-def]
    spark, _ = views
    rows = spark.sql("SHOW TABLES").collect()
    assert {(r.tableName, r.isTemporary) for r in rows} >= {("people", True), ("orders", True)}
