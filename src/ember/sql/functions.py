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
    Expression,
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


# ---------------------------------------------------------------------------------------------
# The ETL catalogue: null logic, aggregates, math, strings, dates, collections, hashes
#
# Arguments named ``col``/``cols`` take a Column or a column name; parameters (patterns,
# formats, widths) take plain Python values, as in PySpark.


def _arg(value: Any) -> Expression:
    """A Column, or a literal parameter (a string here is a value, not a column name)."""
    return to_expr(value)


def _fn(name: str, *args: Expression) -> Column:
    return Column(UnresolvedFunction(name, tuple(args)))


def _cols(cols: tuple[Any, ...]) -> tuple[Expression, ...]:
    """``f(a, b)`` or ``f([a, b])``: the columns, as PySpark's varargs functions accept."""
    if len(cols) == 1 and isinstance(cols[0], list | tuple | set):
        cols = tuple(cols[0])
    return tuple(name_to_expr(c) for c in cols)


def isnotnull(col: ColumnOrName) -> Column:
    return _call("isnotnull", col)


def nanvl(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    """``col1`` unless it is NaN, else ``col2`` (both floating point)."""
    return _call("nanvl", col1, col2)


def greatest(*cols: ColumnOrName) -> Column:
    """The largest value of the row, skipping nulls: null only when all are null."""
    if len(cols) < 2:
        msg = "greatest should take at least 2 columns"
        raise ValueError(msg)
    return _call("greatest", *cols)


def least(*cols: ColumnOrName) -> Column:
    """The smallest value of the row, skipping nulls: null only when all are null."""
    if len(cols) < 2:
        msg = "least should take at least 2 columns"
        raise ValueError(msg)
    return _call("least", *cols)


def nullif(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    return _call("nullif", col1, col2)


def nvl(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    return _call("coalesce", col1, col2)


ifnull = nvl


def nvl2(col1: ColumnOrName, col2: ColumnOrName, col3: ColumnOrName) -> Column:
    return _call("nvl2", col1, col2, col3)


# -- aggregates ---------------------------------------------------------------------------------


def collect_list(col: ColumnOrName) -> Column:
    """The group's non-null values as an array (in no guaranteed order, as in Spark)."""
    return _call("collect_list", col)


def collect_set(col: ColumnOrName) -> Column:
    """The group's distinct non-null values as an array."""
    return _call("collect_set", col)


def stddev(col: ColumnOrName) -> Column:
    """Sample standard deviation; null for fewer than two values."""
    return _call("stddev", col)


def std(col: ColumnOrName) -> Column:
    return _call("std", col)


def stddev_samp(col: ColumnOrName) -> Column:
    return _call("stddev_samp", col)


def stddev_pop(col: ColumnOrName) -> Column:
    return _call("stddev_pop", col)


def variance(col: ColumnOrName) -> Column:
    """Sample variance; null for fewer than two values."""
    return _call("variance", col)


def var_samp(col: ColumnOrName) -> Column:
    return _call("var_samp", col)


def var_pop(col: ColumnOrName) -> Column:
    return _call("var_pop", col)


def corr(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    """Pearson correlation over the rows where both are non-null."""
    return _call("corr", col1, col2)


def covar_samp(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    return _call("covar_samp", col1, col2)


def covar_pop(col1: ColumnOrName, col2: ColumnOrName) -> Column:
    return _call("covar_pop", col1, col2)


def percentile_approx(col: ColumnOrName, percentage: Any, accuracy: Any = 10000) -> Column:
    """The smallest value whose rank reaches ``percentage`` of the group (an array of them for
    a list of percentages). Computed exactly; ``accuracy`` is accepted for compatibility."""
    if isinstance(percentage, list | tuple):
        pct: Expression = Literal(tuple(float(p) for p in percentage), pa.list_(pa.float64()))
    else:
        pct = _arg(percentage)
    return Column(UnresolvedFunction("percentile_approx",
                                     (name_to_expr(col), pct, _arg(accuracy))))


approx_percentile = percentile_approx


def median(col: ColumnOrName) -> Column:
    """The exact median, interpolating between the two middle values."""
    return _call("median", col)


def approx_count_distinct(col: ColumnOrName, rsd: float | None = None) -> Column:
    """Number of distinct non-null values (computed exactly, within any ``rsd``)."""
    return _call("approx_count_distinct", col)


approxCountDistinct = approx_count_distinct


# -- math ---------------------------------------------------------------------------------------


def _num(value: Any) -> Expression:
    """A Column, a column name, or a number (PySpark's ``Union[ColumnOrName, float]``)."""
    return name_to_expr(value) if isinstance(value, Column | str) else to_expr(value)


def pow(col1: Any, col2: Any) -> Column:  # noqa: A001
    return _fn("pow", _num(col1), _num(col2))


power = pow


def exp(col: ColumnOrName) -> Column:
    return _call("exp", col)


def log(arg1: Any, arg2: Any = None) -> Column:
    """``log(col)`` is the natural logarithm; ``log(base, col)`` the logarithm in ``base``.
    Both are null for values (or bases) <= 0, as in Spark."""
    if arg2 is None:
        return _fn("log", name_to_expr(arg1))
    return _fn("log", _num(arg1), name_to_expr(arg2))


def ln(col: ColumnOrName) -> Column:
    return _call("ln", col)


def log10(col: ColumnOrName) -> Column:
    return _call("log10", col)


def log2(col: ColumnOrName) -> Column:
    return _call("log2", col)


def log1p(col: ColumnOrName) -> Column:
    return _call("log1p", col)


def floor(col: ColumnOrName, scale: Any = None) -> Column:
    """Round down; a bigint for doubles and integers, as in Spark."""
    if scale is None:
        return _call("floor", col)
    return _fn("floor", name_to_expr(col), _arg(scale))


def ceil(col: ColumnOrName, scale: Any = None) -> Column:
    """Round up; a bigint for doubles and integers, as in Spark."""
    if scale is None:
        return _call("ceil", col)
    return _fn("ceil", name_to_expr(col), _arg(scale))


ceiling = ceil


def signum(col: ColumnOrName) -> Column:
    return _call("signum", col)


sign = signum


def cbrt(col: ColumnOrName) -> Column:
    return _call("cbrt", col)


def sin(col: ColumnOrName) -> Column:
    return _call("sin", col)


def cos(col: ColumnOrName) -> Column:
    return _call("cos", col)


def tan(col: ColumnOrName) -> Column:
    return _call("tan", col)


def atan2(col1: Any, col2: Any) -> Column:
    return _fn("atan2", _num(col1), _num(col2))


def degrees(col: ColumnOrName) -> Column:
    return _call("degrees", col)


def radians(col: ColumnOrName) -> Column:
    return _call("radians", col)


def rand(seed: int | None = None) -> Column:
    """Uniform random doubles in [0, 1): the same per seed, partition and row position."""
    from ember.plan.runtime_values import Rand, new_seed

    return Column(Rand(new_seed() if seed is None else int(seed)))


def randn(seed: int | None = None) -> Column:
    """Standard normal random doubles: the same per seed, partition and row position."""
    from ember.plan.runtime_values import Rand, new_seed

    return Column(Rand(new_seed() if seed is None else int(seed), gaussian=True))


# -- strings ------------------------------------------------------------------------------------


def ltrim(col: ColumnOrName) -> Column:
    return _call("ltrim", col)


def rtrim(col: ColumnOrName) -> Column:
    return _call("rtrim", col)


def lpad(col: ColumnOrName, len: int, pad: str) -> Column:  # noqa: A002
    """Pad on the left with repetitions of ``pad`` to ``len`` characters (or cut to it)."""
    return _fn("lpad", name_to_expr(col), _arg(len), _arg(pad))


def rpad(col: ColumnOrName, len: int, pad: str) -> Column:  # noqa: A002
    """Pad on the right with repetitions of ``pad`` to ``len`` characters (or cut to it)."""
    return _fn("rpad", name_to_expr(col), _arg(len), _arg(pad))


def substring(str: ColumnOrName, pos: int, len: int) -> Column:  # noqa: A002
    """``len`` characters from the 1-based ``pos``; a negative ``pos`` counts from the end."""
    return _fn("substring", name_to_expr(str), _arg(pos), _arg(len))


def substr(str: ColumnOrName, pos: Any, len: Any = None) -> Column:  # noqa: A002
    args = (name_to_expr(str), _arg(pos)) + ((_arg(len),) if len is not None else ())
    return _fn("substring", *args)


def concat_ws(sep: str, *cols: ColumnOrName) -> Column:
    """The strings (and arrays of strings) joined by ``sep``, skipping nulls."""
    return _fn("concat_ws", _arg(sep), *(name_to_expr(c) for c in cols))


def regexp_replace(string: ColumnOrName, pattern: Any, replacement: Any) -> Column:
    """Every match of the regular expression replaced; ``$1`` refers to a group."""
    return _fn("regexp_replace", name_to_expr(string), _arg(pattern), _arg(replacement))


def regexp_extract(str: ColumnOrName, pattern: str, idx: int) -> Column:  # noqa: A002
    """Group ``idx`` of the first match (0 is the whole match); '' when nothing matches."""
    return _fn("regexp_extract", name_to_expr(str), _arg(pattern), _arg(idx))


def instr(str: ColumnOrName, substr: str) -> Column:  # noqa: A002
    """The 1-based position of the first ``substr``, 0 if absent."""
    return _fn("instr", name_to_expr(str), _arg(substr))


def locate(substr: str, str: ColumnOrName, pos: int = 1) -> Column:  # noqa: A002
    """The 1-based position of the first ``substr`` at or after ``pos``, 0 if absent."""
    return _fn("locate", _arg(substr), name_to_expr(str), _arg(pos))


def initcap(col: ColumnOrName) -> Column:
    return _call("initcap", col)


def reverse(col: ColumnOrName) -> Column:
    """A string's characters, or an array's elements, in reverse order."""
    return _call("reverse", col)


def translate(srcCol: ColumnOrName, matching: str, replace: str) -> Column:
    """Each character of ``matching`` replaced by the one at its position in ``replace``
    (or removed when ``replace`` is shorter)."""
    return _fn("translate", name_to_expr(srcCol), _arg(matching), _arg(replace))


def format_string(format: str, *cols: ColumnOrName) -> Column:  # noqa: A002
    """Java's ``String.format`` over the columns: ``format_string("%s: %.2f", "k", "v")``."""
    return _fn("format_string", _arg(format), *(name_to_expr(c) for c in cols))


def printf(format: Any, *cols: ColumnOrName) -> Column:  # noqa: A002
    return _fn("printf", _arg(format), *(name_to_expr(c) for c in cols))


def startswith(str: ColumnOrName, prefix: Any) -> Column:  # noqa: A002
    return _fn("startswith", name_to_expr(str), name_to_expr(prefix))


def endswith(str: ColumnOrName, suffix: Any) -> Column:  # noqa: A002
    return _fn("endswith", name_to_expr(str), name_to_expr(suffix))


def contains(left: ColumnOrName, right: ColumnOrName) -> Column:
    return _fn("contains", name_to_expr(left), name_to_expr(right))


# -- dates and times ----------------------------------------------------------------------------


def to_date(col: ColumnOrName, format: str | None = None) -> Column:  # noqa: A002
    """A date from text (with a Spark/Java pattern such as ``dd/MM/yyyy``) or a timestamp;
    text that does not fit gives null."""
    if format is None:
        return _call("to_date", col)
    return _fn("to_date", name_to_expr(col), _arg(format))


def to_timestamp(col: ColumnOrName, format: str | None = None) -> Column:  # noqa: A002
    if format is None:
        return _call("to_timestamp", col)
    return _fn("to_timestamp", name_to_expr(col), _arg(format))


def date_format(date: ColumnOrName, format: str) -> Column:  # noqa: A002
    """A date or timestamp as text in a Spark/Java pattern, e.g. ``"yyyy-MM-dd HH:mm"``."""
    return _fn("date_format", name_to_expr(date), _arg(format))


def year(col: ColumnOrName) -> Column:
    return _call("year", col)


def month(col: ColumnOrName) -> Column:
    return _call("month", col)


def dayofmonth(col: ColumnOrName) -> Column:
    return _call("dayofmonth", col)


def day(col: ColumnOrName) -> Column:
    return _call("day", col)


def dayofweek(col: ColumnOrName) -> Column:
    """The day of the week, from Sunday = 1 to Saturday = 7."""
    return _call("dayofweek", col)


def weekday(col: ColumnOrName) -> Column:
    """The day of the week, from Monday = 0 to Sunday = 6."""
    return _call("weekday", col)


def dayofyear(col: ColumnOrName) -> Column:
    return _call("dayofyear", col)


def weekofyear(col: ColumnOrName) -> Column:
    """The ISO 8601 week number."""
    return _call("weekofyear", col)


def quarter(col: ColumnOrName) -> Column:
    return _call("quarter", col)


def hour(col: ColumnOrName) -> Column:
    return _call("hour", col)


def minute(col: ColumnOrName) -> Column:
    return _call("minute", col)


def second(col: ColumnOrName) -> Column:
    return _call("second", col)


def date_add(start: ColumnOrName, days: Any) -> Column:
    return _fn("date_add", name_to_expr(start), _arg(days))


def date_sub(start: ColumnOrName, days: Any) -> Column:
    return _fn("date_sub", name_to_expr(start), _arg(days))


def datediff(end: ColumnOrName, start: ColumnOrName) -> Column:
    """Days from ``start`` to ``end``."""
    return _call("datediff", end, start)


def months_between(date1: ColumnOrName, date2: ColumnOrName, roundOff: bool = True) -> Column:
    """Months from ``date2`` to ``date1``: whole when the days of month are equal or both are
    month ends, else fractional over 31-day months (rounded to 8 digits unless ``roundOff``
    is False)."""
    return _fn("months_between", name_to_expr(date1), name_to_expr(date2), _arg(roundOff))


def add_months(start: ColumnOrName, months: Any) -> Column:
    """The date ``months`` later, clamped to the end of a shorter month."""
    return _fn("add_months", name_to_expr(start), _arg(months))


def last_day(date: ColumnOrName) -> Column:
    return _call("last_day", date)


def trunc(date: ColumnOrName, format: str) -> Column:  # noqa: A002
    """The date truncated to 'year', 'quarter', 'month' or 'week' (null for other units)."""
    return _fn("trunc", name_to_expr(date), _arg(format))


def date_trunc(format: str, timestamp: ColumnOrName) -> Column:  # noqa: A002
    """The timestamp truncated to 'year', 'quarter', 'month', 'week', 'day', 'hour', 'minute',
    'second', 'millisecond' or 'microsecond'."""
    return _fn("date_trunc", _arg(format), name_to_expr(timestamp))


def current_date() -> Column:
    """Today in the session time zone; one value for the whole query."""
    from ember.plan.runtime_values import CurrentTime

    return Column(CurrentTime(date=True))


def current_timestamp() -> Column:
    """Now in the session time zone; one value for the whole query."""
    from ember.plan.runtime_values import CurrentTime

    return Column(CurrentTime())


now = current_timestamp


def unix_timestamp(timestamp: ColumnOrName | None = None,
                   format: str = "yyyy-MM-dd HH:mm:ss") -> Column:  # noqa: A002
    """Seconds since the epoch of a timestamp, a date or text in ``format``; of now when no
    column is given."""
    from ember.plan.runtime_values import CurrentTime

    ts = CurrentTime() if timestamp is None else name_to_expr(timestamp)
    return _fn("unix_timestamp", ts, _arg(format))


def from_unixtime(timestamp: ColumnOrName,
                  format: str = "yyyy-MM-dd HH:mm:ss") -> Column:  # noqa: A002
    """Seconds since the epoch as text in ``format``, in the session time zone."""
    return _fn("from_unixtime", name_to_expr(timestamp), _arg(format))


# -- arrays, maps and structs -------------------------------------------------------------------


def size(col: ColumnOrName) -> Column:
    """The length of an array or map; -1 for null (Spark's default)."""
    return _call("size", col)


def array(*cols: Any) -> Column:
    """An array of the columns' values: ``array("a", "b")`` or ``array([col1, col2])``."""
    return Column(UnresolvedFunction("array", _cols(cols)))


def array_contains(col: ColumnOrName, value: Any) -> Column:
    """True if the array holds ``value``; null if not but the array has a null."""
    return _fn("array_contains", name_to_expr(col), _arg(value))


def sort_array(col: ColumnOrName, asc: bool = True) -> Column:
    """The array sorted; nulls first ascending, last descending."""
    return _fn("sort_array", name_to_expr(col), _arg(asc))


def element_at(col: ColumnOrName, extraction: Any) -> Column:
    """The array element at a 1-based index (negative from the end), or the map's value for a
    key; null when there is none."""
    return _fn("element_at", name_to_expr(col), _arg(extraction))


def struct(*cols: Any) -> Column:
    """A struct whose fields are the columns, named after them."""
    from ember.plan.complex_types import CreateStruct

    return Column(CreateStruct(_cols(cols)))


def create_map(*cols: Any) -> Column:
    """A map from alternating key and value columns: ``create_map("k1", "v1", "k2", "v2")``."""
    return Column(UnresolvedFunction("map", _cols(cols)))


def map_keys(col: ColumnOrName) -> Column:
    return _call("map_keys", col)


def map_values(col: ColumnOrName) -> Column:
    return _call("map_values", col)


def array_distinct(col: ColumnOrName) -> Column:
    return _call("array_distinct", col)


def array_join(col: ColumnOrName, delimiter: str, null_replacement: str | None = None) -> Column:
    """The elements joined by ``delimiter``; nulls skipped unless ``null_replacement``."""
    args = (name_to_expr(col), _arg(delimiter))
    if null_replacement is not None:
        args += (_arg(null_replacement),)
    return _fn("array_join", *args)


def cardinality(col: ColumnOrName) -> Column:
    return _call("cardinality", col)


# -- ids and hashes -----------------------------------------------------------------------------


def monotonically_increasing_id() -> Column:
    """Unique, increasing 64-bit ids: the partition index in the upper 31 bits and the row
    number within the partition in the lower 33, as in Spark."""
    from ember.plan.runtime_values import MonotonicallyIncreasingId

    return Column(MonotonicallyIncreasingId())


def spark_partition_id() -> Column:
    from ember.plan.runtime_values import SparkPartitionId

    return Column(SparkPartitionId())


def hash(*cols: ColumnOrName) -> Column:  # noqa: A001
    """Spark's Murmur3 hash of the columns (seed 42): the same int as Spark's ``hash()``."""
    return Column(UnresolvedFunction("hash", _cols(cols)))


def xxhash64(*cols: ColumnOrName) -> Column:
    """Spark's 64-bit xxHash of the columns (seed 42)."""
    return Column(UnresolvedFunction("xxhash64", _cols(cols)))


def md5(col: ColumnOrName) -> Column:
    return _call("md5", col)


def sha1(col: ColumnOrName) -> Column:
    return _call("sha1", col)


def sha2(col: ColumnOrName, numBits: int) -> Column:
    """The SHA-2 hex digest of 224, 256 (or 0), 384 or 512 bits; other sizes give null."""
    return _fn("sha2", name_to_expr(col), _arg(numBits))


def crc32(col: ColumnOrName) -> Column:
    return _call("crc32", col)


# -- vectorised user-defined functions ----------------------------------------------------------


def pandas_udf(f: Any = None, returnType: Any = None, functionType: Any = None) -> Any:
    """A Python function from pandas Series to a Series, run once per Arrow batch in the
    executors: ``pandas_udf(lambda s: s * 2, "double")``, or as a decorator,
    ``@pandas_udf("double")``. Only the Series-to-Series (scalar) kind is supported.
    """
    from ember.plan.udf import PandasUDF
    from ember.sql.column import _spark_type_to_arrow

    if functionType not in (None, 200):  # 200 is PandasUDFType.SCALAR
        msg = ("ember supports only Series-to-Series pandas_udf functions so far\n\n"
               "write the function as Series -> Series, or use a plain udf")
        raise NotImplementedError(msg)
    if f is None or not callable(f):
        rt = returnType if f is None else f
        return lambda func: pandas_udf(func, rt, functionType)
    if returnType is None:
        msg = "pandas_udf needs a returnType, e.g. pandas_udf(f, 'double')"
        raise TypeError(msg)
    arrow_type = _spark_type_to_arrow(returnType)
    name = getattr(f, "__name__", "<lambda>")

    def call(*cols: ColumnOrName) -> Column:
        return Column(PandasUDF(f, arrow_type, tuple(name_to_expr(c) for c in cols), name))

    call.__name__ = name
    call.func = f  # type: ignore[attr-defined]
    call.returnType = returnType  # type: ignore[attr-defined]
    call.evalType = 200  # type: ignore[attr-defined]
    return call


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
