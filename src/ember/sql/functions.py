"""``ember.sql.functions``: the PySpark functions module.

>>> from ember.sql import functions as F
>>> F.col("x") + 1
Column<'(x + 1)'>
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ember.plan.expressions import (
    CaseWhen,
    Literal,
    SortOrder,
    UnresolvedFunction,
)
from ember.sql.column import Column, name_to_expr, to_expr

ColumnOrName = Column | str


def col(name: str) -> Column:
    """A column by name, resolved against the DataFrame it is used in."""
    return Column(name_to_expr(name))


column = col


def lit(value: Any) -> Column:
    """A literal value; a Column is returned unchanged."""
    return value if isinstance(value, Column) else Column(to_expr(value))


def _call(name: str, *args: ColumnOrName, distinct: bool = False) -> Column:
    return Column(UnresolvedFunction(name, tuple(name_to_expr(a) for a in args), distinct))


def expr(str: str) -> Column:  # noqa: A002
    """A column from a SQL expression: ``F.expr("price * qty AS total")``."""
    from ember.sql.parser import parse_expression

    return Column(parse_expression(str))


def when(condition: Column, value: Any) -> Column:
    """``CASE WHEN``: chain ``.when(...)`` and finish with ``.otherwise(...)``."""
    return Column(CaseWhen(((to_expr(condition), to_expr(value)),), None))


# -- aggregates ---------------------------------------------------------------------------------


def count(col: ColumnOrName) -> Column:
    """Number of non-null values; ``count("*")`` counts rows."""
    if isinstance(col, str) and col == "*":
        return Column(UnresolvedFunction("count", (Literal(1, pa.int32()),)))
    return _call("count", col)


def sum(col: ColumnOrName) -> Column:  # noqa: A001
    return _call("sum", col)


def avg(col: ColumnOrName) -> Column:
    return _call("avg", col)


def mean(col: ColumnOrName) -> Column:
    return _call("avg", col)


def min(col: ColumnOrName) -> Column:  # noqa: A001
    return _call("min", col)


def max(col: ColumnOrName) -> Column:  # noqa: A001
    return _call("max", col)


def count_distinct(col: ColumnOrName, *cols: ColumnOrName) -> Column:
    """Number of distinct non-null values (rows where every column is non-null)."""
    return _call("count", col, *cols, distinct=True)


countDistinct = count_distinct


def sum_distinct(col: ColumnOrName) -> Column:
    return _call("sum", col, distinct=True)


sumDistinct = sum_distinct


# -- sorting ------------------------------------------------------------------------------------


def asc(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), True, None))


def desc(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), False, None))


def asc_nulls_first(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), True, True))


def asc_nulls_last(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), True, False))


def desc_nulls_first(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), False, True))


def desc_nulls_last(col: ColumnOrName) -> Column:
    return Column(SortOrder(name_to_expr(col), False, False))


# -- scalar functions ---------------------------------------------------------------------------


def coalesce(*cols: ColumnOrName) -> Column:
    return _call("coalesce", *cols)


def isnull(col: ColumnOrName) -> Column:
    from ember.plan.expressions import IsNull

    return Column(IsNull(name_to_expr(col)))


def isnan(col: ColumnOrName) -> Column:
    return _call("isnan", col)


def upper(col: ColumnOrName) -> Column:
    return _call("upper", col)


def lower(col: ColumnOrName) -> Column:
    return _call("lower", col)


def length(col: ColumnOrName) -> Column:
    return _call("length", col)


def trim(col: ColumnOrName) -> Column:
    return _call("trim", col)


def abs(col: ColumnOrName) -> Column:  # noqa: A001
    return _call("abs", col)


def sqrt(col: ColumnOrName) -> Column:
    return _call("sqrt", col)


def concat(*cols: ColumnOrName) -> Column:
    return _call("concat", *cols)


# -- user-defined functions ---------------------------------------------------------------------


def udf(f: Any = None, returnType: Any = "string") -> Any:
    """A Python function applied row by row: ``F.udf(lambda s: s[::-1], "string")``.

    Usable as a decorator too: ``@F.udf("int")`` or ``@F.udf(returnType=IntegerType())``.
    """
    from ember.plan.udf import PythonUDF
    from ember.sql.column import _spark_type_to_arrow

    if f is None or isinstance(f, str) or not callable(f):
        rt = returnType if f is None else f
        return lambda func: udf(func, rt)
    arrow_type = _spark_type_to_arrow(returnType)
    name = getattr(f, "__name__", "<lambda>")

    def call(*cols: ColumnOrName) -> Column:
        return Column(PythonUDF(f, arrow_type, tuple(name_to_expr(c) for c in cols), name))

    call.__name__ = name
    call.func = f  # type: ignore[attr-defined]
    call.returnType = returnType  # type: ignore[attr-defined]
    return call


# -- arrays and generators ----------------------------------------------------------------------


def split(str: ColumnOrName, pattern: str, limit: int = -1) -> Column:  # noqa: A002
    """Split strings around matches of a regular expression into an array."""
    return Column(UnresolvedFunction("split", (name_to_expr(str), to_expr(pattern),
                                               to_expr(limit))))


def explode(col: ColumnOrName) -> Column:
    """One row per array element (rows with null or empty arrays are dropped)."""
    from ember.plan.generate import Explode

    return Column(Explode(name_to_expr(col)))


def explode_outer(col: ColumnOrName) -> Column:
    """As explode, but a null or empty array gives one row with a null element."""
    from ember.plan.generate import Explode

    return Column(Explode(name_to_expr(col), outer=True))


def posexplode(col: ColumnOrName) -> Column:
    """As explode, with the element's position in a ``pos`` column."""
    from ember.plan.generate import Explode

    return Column(Explode(name_to_expr(col), position=True))


def round(col: ColumnOrName, scale: int = 0) -> Column:  # noqa: A001
    """Round to ``scale`` decimal places, halves away from zero (Spark's HALF_UP)."""
    return Column(UnresolvedFunction("round", (name_to_expr(col), to_expr(scale))))


def bround(col: ColumnOrName, scale: int = 0) -> Column:
    """Round to ``scale`` decimal places, halves to even (banker's rounding)."""
    return Column(UnresolvedFunction("bround", (name_to_expr(col), to_expr(scale))))


def __getattr__(name: str) -> Any:
    # A PySpark function ember lacks: say so, rather than a bare AttributeError.
    if name.startswith("__"):
        raise AttributeError(name)
    msg = f"pyspark.sql.functions.{name} is not supported by ember yet\n\nsee docs/compat.md"
    raise AttributeError(msg)


# ---------------------------------------------------------------------------------------------
# Window functions
#
# Use them with ``.over(window)``, where ``window`` comes from ``ember.sql.window.Window``.
# ``first`` and ``last`` are aggregates too, so they also work in ``groupBy().agg()``.


def _window_function(name: str, *args: Any) -> Column:
    from ember.plan.window import WindowFunction

    return Column(WindowFunction(name, tuple(args)))


def row_number() -> Column:
    """The row's position in its window partition, from 1; ties get different numbers.

    >>> from ember.sql.window import Window
    >>> row_number().over(Window.partitionBy("k").orderBy("t"))
    Column<'row_number() OVER (PARTITION BY k ORDER BY t ASC NULLS FIRST)'>
    """
    return _window_function("row_number")


def rank() -> Column:
    """The row's rank in its window partition, from 1: ties share a rank, leaving gaps."""
    return _window_function("rank")


def dense_rank() -> Column:
    """As ``rank``, without gaps after ties."""
    return _window_function("dense_rank")


def percent_rank() -> Column:
    """``(rank - 1) / (rows in the partition - 1)``, and 0 in a one-row partition."""
    return _window_function("percent_rank")


def cume_dist() -> Column:
    """The fraction of the partition's rows ordered before the row or tied with it."""
    return _window_function("cume_dist")


def ntile(n: int) -> Column:
    """The row's bucket, from 1 to ``n``, when the partition is cut into ``n`` ordered buckets
    whose sizes differ by at most one row (the first buckets get the extra rows)."""
    return _window_function("ntile", Literal(n, pa.int32()) if isinstance(n, int) else to_expr(n))


def _offset_function(name: str, col: ColumnOrName, offset: int, default: Any) -> Column:
    if not isinstance(offset, int) or isinstance(offset, bool):
        msg = f"{name}() takes a whole number of rows as its offset, got {offset!r}"
        raise TypeError(msg)
    return _window_function(name, name_to_expr(col), Literal(offset, pa.int32()),
                            to_expr(default))


def lag(col: ColumnOrName, offset: int = 1, default: Any = None) -> Column:
    """The value ``offset`` rows before the row in its window partition, or ``default`` (null
    unless given) where there is no such row."""
    return _offset_function("lag", col, offset, default)


def lead(col: ColumnOrName, offset: int = 1, default: Any = None) -> Column:
    """The value ``offset`` rows after the row in its window partition, or ``default`` (null
    unless given) where there is no such row."""
    return _offset_function("lead", col, offset, default)


def first(col: ColumnOrName, ignorenulls: bool = False) -> Column:
    """The first value of a group or window frame; with ``ignorenulls``, the first non-null."""
    return _call("first_ignore_nulls" if ignorenulls else "first", col)


def last(col: ColumnOrName, ignorenulls: bool = False) -> Column:
    """The last value of a group or window frame; with ``ignorenulls``, the last non-null.

    Over an ordered window the default frame ends at the row's last tie, so this is the value
    of the row's last peer, not of the partition's last row.
    """
    return _call("last_ignore_nulls" if ignorenulls else "last", col)
