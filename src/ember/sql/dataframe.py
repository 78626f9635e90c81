"""``DataFrame``: the PySpark DataFrame API over ember's logical plans.

Every transformation builds a new logical node and analyzes it at once, so mistakes (an unknown
column, a type mismatch) are reported by the call that makes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan.analyzer import analyze, cast_to
from ember.plan.expressions import (
    AggregateCall,
    Alias,
    AttributeReference,
    BinaryOp,
    Call,
    Expression,
    Literal,
    SortOrder,
    UnresolvedAttribute,
    conjoin,
    new_expr_id,
)
from ember.plan.generate import find_generator, plan_generate
from ember.plan.logical import (
    JOIN_TYPES,
    Aggregate,
    Filter,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Repartition,
    Sort,
    SubqueryAlias,
    Union,
)
from ember.plan.physical import explain_physical
from ember.plan.typesys import common_type, type_sql
from ember.sql.column import Column, name_to_expr, to_expr

if TYPE_CHECKING:
    import pandas as pd

    from ember.sql.group import GroupedData
    from ember.sql.readwriter import DataFrameWriter
    from ember.sql.row import Row
    from ember.sql.session import SparkSession
    from ember.sql.types import StructType

ColumnOrName = Column | str


class DataFrame:
    """A distributed collection of rows with named columns, evaluated lazily."""

    def __init__(self, plan: LogicalPlan, session: SparkSession, *,
                 parsed: LogicalPlan | None = None) -> None:
        self._plan = plan
        self._parsed = parsed if parsed is not None else plan
        self.sparkSession = session

    # -- plumbing ------------------------------------------------------------------------------

    def _derive(self, build: Callable[[LogicalPlan], LogicalPlan], *,
                parsed: Callable[[LogicalPlan], LogicalPlan] | None = None) -> DataFrame:
        """A new DataFrame of ``build`` over this one's plan, analyzed at once.

        ``parsed`` builds the node for the parsed (unresolved) plan shown by explain, when
        ``build`` needs resolved input, as generators and windows do.
        """
        analyzed = analyze(build(self._plan))
        return DataFrame(analyzed, self.sparkSession, parsed=(parsed or build)(self._parsed))

    def _derive2(self, other: DataFrame,
                 build: Callable[[LogicalPlan, LogicalPlan], LogicalPlan]) -> DataFrame:
        analyzed = analyze(build(self._plan, other._plan))
        return DataFrame(analyzed, self.sparkSession, parsed=build(self._parsed, other._parsed))

    def _attr(self, name: str) -> AttributeReference:
        from ember.plan.analyzer import resolve_name
        from ember.sql.column import parse_name

        return resolve_name(parse_name(name), self._plan.output)

    # -- schema --------------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return [a.name for a in self._plan.output]

    @property
    def schema(self) -> StructType:
        from ember.sql.types import StructField, StructType, from_arrow_type

        return StructType([StructField(a.name, from_arrow_type(a.dtype), a.nullable)
                           for a in self._plan.output])

    @property
    def dtypes(self) -> list[tuple[str, str]]:
        return [(a.name, type_sql(a.dtype)) for a in self._plan.output]

    def printSchema(self, level: int | None = None) -> None:
        print(self.schema.treeString())

    def __getitem__(self, item: str | int | Column | list | tuple) -> Any:
        if isinstance(item, str):
            return Column(self._attr(item))
        if isinstance(item, int):
            return Column(self._plan.output[item])
        if isinstance(item, Column):
            return self.filter(item)
        if isinstance(item, list | tuple):
            return self.select(*item)
        msg = f"unexpected item type: {type(item).__name__}"
        raise TypeError(msg)

    def __getattr__(self, name: str) -> Column:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return Column(self._attr(name))
        except AnalysisException:
            if name in _PYSPARK_DATAFRAME_API:
                msg = (f"DataFrame.{name} is not supported by ember yet\n\n"
                       "see docs/compat.md for what is supported")
            else:
                msg = (f"'DataFrame' object has no attribute '{name}'\n\n"
                       f"the columns are {self.columns}")
            raise AttributeError(msg) from None

    def __repr__(self) -> str:
        cols = ", ".join(f"{n}: {t}" for n, t in self.dtypes)
        return f"DataFrame[{cols}]"

    # -- transformations -----------------------------------------------------------------------

    def select(self, *cols: ColumnOrName | list) -> DataFrame:
        if len(cols) == 1 and isinstance(cols[0], list | tuple):
            cols = tuple(cols[0])
        exprs = tuple(name_to_expr(c) for c in cols)  # type: ignore[arg-type]
        if any(_has_aggregate(e) for e in exprs):
            return self._derive(lambda p: Aggregate((), exprs, p))
        return self._project(exprs)

    def selectExpr(self, *expr: str | list[str]) -> DataFrame:
        """Select SQL expressions: ``df.selectExpr("a", "b * 2 AS b2", "count(*)")``."""
        from ember.sql.parser import parse_expression

        texts = list(expr[0]) if len(expr) == 1 and isinstance(expr[0], list) else list(expr)
        return self.select(*[Column(parse_expression(t)) for t in texts])  # type: ignore[arg-type]

    def _project(self, exprs: tuple[Expression, ...]) -> DataFrame:
        # Window expressions become a Window node below the projection (a plain Project if
        # there are none).
        from ember.plan.window import plan_project

        index = find_generator(exprs)
        as_parsed = lambda p: Project(exprs, p)  # noqa: E731
        if index is None:
            return self._derive(lambda p: plan_project(exprs, p), parsed=as_parsed)
        return self._derive(lambda p: plan_project(*plan_generate(exprs, p, index)),
                            parsed=as_parsed)

    def filter(self, condition: Column | str) -> DataFrame:
        if isinstance(condition, str):
            from ember.sql.parser import parse_expression

            cond = parse_expression(condition)
        else:
            cond = to_expr(condition)
        return self._derive(lambda p: Filter(cond, p))

    where = filter

    def withColumn(self, colName: str, col: Column) -> DataFrame:
        return self.withColumns({colName: col})

    def withColumns(self, *colsMap: dict[str, Column]) -> DataFrame:
        mapping = colsMap[0] if colsMap else {}
        for name, c in mapping.items():
            if not isinstance(c, Column):
                msg = f"withColumn({name!r}, ...) needs a Column, got {type(c).__name__}"
                raise TypeError(msg)
        exprs: list[Expression] = []
        replaced: set[str] = set()
        for a in self._plan.output:
            new = next((n for n in mapping if n.lower() == a.name.lower()), None)
            if new is not None:
                exprs.append(Alias(mapping[new].expr, new))
                replaced.add(new)
            else:
                exprs.append(a)
        exprs += [Alias(c.expr, n) for n, c in mapping.items() if n not in replaced]
        return self._project(tuple(exprs))

    def withColumnRenamed(self, existing: str, new: str) -> DataFrame:
        return self.withColumnsRenamed({existing: new})

    def withColumnsRenamed(self, colsMap: dict[str, str]) -> DataFrame:
        lowered = {k.lower(): v for k, v in colsMap.items()}
        exprs = tuple(Alias(a, lowered[a.name.lower()]) if a.name.lower() in lowered else a
                      for a in self._plan.output)
        return self._derive(lambda p: Project(exprs, p))

    def drop(self, *cols: ColumnOrName) -> DataFrame:
        drop_ids: set[int] = set()
        for c in cols:
            if isinstance(c, str):
                drop_ids |= {a.expr_id for a in self._plan.output if a.name.lower() == c.lower()}
            elif isinstance(c, Column) and isinstance(c.expr, AttributeReference):
                drop_ids.add(c.expr.expr_id)
            elif isinstance(c, Column) and isinstance(c.expr, UnresolvedAttribute):
                drop_ids |= {self._attr(c.expr.name).expr_id}
            else:
                msg = f"drop() takes column names or columns, got {c!r}"
                raise TypeError(msg)
        exprs = tuple(a for a in self._plan.output if a.expr_id not in drop_ids)
        return self._derive(lambda p: Project(exprs, p))

    def alias(self, alias: str) -> DataFrame:
        return self._derive(lambda p: SubqueryAlias(alias, p))

    def toDF(self, *cols: str) -> DataFrame:
        out = self._plan.output
        if len(cols) != len(out):
            msg = f"toDF() got {len(cols)} names for {len(out)} columns {self.columns}"
            raise AnalysisException(msg)
        exprs = tuple(Alias(a, n) for a, n in zip(out, cols, strict=True))
        return self._derive(lambda p: Project(exprs, p))

    def groupBy(self, *cols: ColumnOrName | list) -> GroupedData:
        from ember.sql.group import GroupedData

        if len(cols) == 1 and isinstance(cols[0], list | tuple):
            cols = tuple(cols[0])
        return GroupedData(self, [name_to_expr(c) for c in cols])  # type: ignore[arg-type]

    groupby = groupBy

    def agg(self, *exprs: Column | dict[str, str]) -> DataFrame:
        return self.groupBy().agg(*exprs)

    def orderBy(self, *cols: ColumnOrName | list, ascending: bool | list[bool] = True,
                **_: Any) -> DataFrame:
        orders = _sort_orders(cols, ascending)
        return self._derive(lambda p: Sort(orders, True, p))

    sort = orderBy

    def sortWithinPartitions(self, *cols: ColumnOrName | list,
                             ascending: bool | list[bool] = True) -> DataFrame:
        orders = _sort_orders(cols, ascending)
        return self._derive(lambda p: Sort(orders, False, p))

    def limit(self, num: int) -> DataFrame:
        if num < 0:
            msg = f"the limit must not be negative, got {num}"
            raise AnalysisException(msg)
        return self._derive(lambda p: Limit(num, p))

    def distinct(self) -> DataFrame:
        out = tuple(self._plan.output)
        return self._derive(lambda p: Aggregate(out, out, p))

    def dropDuplicates(self, subset: list[str] | None = None) -> DataFrame:
        if subset is None:
            return self.distinct()
        if isinstance(subset, str):
            subset = [subset]
        keys = tuple(self._attr(c) for c in subset)
        key_ids = {k.expr_id for k in keys}
        aggs = tuple(a if a.expr_id in key_ids else
                     Alias(AggregateCall("first", (a,)), a.name, a.expr_id)
                     for a in self._plan.output)
        return self._derive(lambda p: Aggregate(keys, aggs, p))

    drop_duplicates = dropDuplicates

    def repartition(self, numPartitions: int | ColumnOrName, *cols: ColumnOrName) -> DataFrame:
        if not isinstance(numPartitions, int):
            cols = (numPartitions, *cols)
            numPartitions = self.sparkSession._shuffle_partitions()
        keys = tuple(name_to_expr(c) for c in cols)
        n = numPartitions
        return self._derive(lambda p: Repartition(n, keys, True, p))

    def coalesce(self, numPartitions: int) -> DataFrame:
        return self._derive(lambda p: Repartition(numPartitions, (), False, p))

    # -- joins and set operations --------------------------------------------------------------

    def join(self, other: DataFrame, on: str | list | Column | None = None,
             how: str | None = None) -> DataFrame:
        how_key = (how or "inner").lower().replace(" ", "")
        if how_key not in JOIN_TYPES:
            msg = (f"unsupported join type '{how}'\n\nuse one of: inner, cross, outer, full, "
                   "fullouter, left, leftouter, right, rightouter, semi, leftsemi, anti, leftanti")
            raise AnalysisException(msg)
        kind = JOIN_TYPES[how_key]
        right = other._dedup_against(self)
        if on is None:
            return self._derive2(right, lambda lp, rp: Join(lp, rp, kind, None))
        if isinstance(on, str):
            on = [on]
        if isinstance(on, list | tuple) and all(isinstance(c, str) for c in on):
            return self._using_join(right, list(on), kind)
        conds = [to_expr(c) for c in (on if isinstance(on, list | tuple) else [on])]
        cond = conjoin(conds)
        if kind == "cross":
            kind = "inner"
        return self._derive2(right, lambda lp, rp: Join(lp, rp, kind, cond))

    def _dedup_against(self, other: DataFrame) -> DataFrame:
        """A self-join needs distinct attribute ids on its two sides (Spark does the same)."""
        if not (self._plan.output_set() & other._plan.output_set()):
            return self
        exprs = tuple(Alias(a, a.name) for a in self._plan.output)
        qualifiers = {a.qualifier for a in self._plan.output}
        qualifier = qualifiers.pop() if len(qualifiers) == 1 else None
        if qualifier is None:
            return self._derive(lambda p: Project(exprs, p))
        # Keep the alias, so that col("b.x") still finds the renumbered columns.
        return self._derive(lambda p: SubqueryAlias(qualifier, Project(exprs, p)))

    def _using_join(self, right: DataFrame, names: list[str], kind: str) -> DataFrame:
        left_keys = [self._attr(n) for n in names]
        right_keys = [right._attr(n) for n in names]
        conds: list[Expression] = [BinaryOp("=", lk, rk)
                                   for lk, rk in zip(left_keys, right_keys, strict=True)]
        joined = self._derive2(right, lambda lp, rp: Join(lp, rp, kind, conjoin(conds)))
        lk_ids = {k.expr_id for k in left_keys}
        rk_ids = {k.expr_id for k in right_keys}
        exprs: list[Expression] = []
        for lk, rk in zip(left_keys, right_keys, strict=True):
            if kind == "full":
                exprs.append(Alias(Call("coalesce", (lk, rk)), lk.name))
            elif kind == "right":
                exprs.append(rk)
            else:
                exprs.append(lk)
        exprs += [a for a in self._plan.output if a.expr_id not in lk_ids]
        if kind not in {"left_semi", "left_anti"}:
            exprs += [a for a in right._plan.output if a.expr_id not in rk_ids]
        return joined._derive(lambda p: Project(tuple(exprs), p))

    def _null_safe_match(self, other: DataFrame, how: str) -> DataFrame:
        """Rows of self that have (semi) or lack (anti) an equal row in other, nulls equal."""
        if len(self.columns) != len(other.columns):
            msg = (f"[NUM_COLUMNS_MISMATCH] set operations need inputs with the same number of "
                   f"columns, got {self.columns} and {other.columns}")
            raise AnalysisException(msg)
        right = other._dedup_against(self)
        conds = [BinaryOp("<=>", a, b)
                 for a, b in zip(self._plan.output, right._plan.output, strict=True)]
        return self._derive2(right, lambda lp, rp: Join(lp, rp, how, conjoin(conds)))

    def intersect(self, other: DataFrame) -> DataFrame:
        """Distinct rows present in both (INTERSECT); nulls compare equal."""
        return self.distinct()._null_safe_match(other, "left_semi")

    def subtract(self, other: DataFrame) -> DataFrame:
        """Distinct rows of self absent from other (EXCEPT DISTINCT); nulls compare equal."""
        return self.distinct()._null_safe_match(other, "left_anti")

    def _multiset(self, other: DataFrame, keep: Callable[[Column, Column], Column]) -> DataFrame:
        """Rows with multiplicities: count each distinct row on both sides, keep
        ``keep(left_count, right_count)`` copies (EXCEPT ALL / INTERSECT ALL)."""
        from ember.sql import functions as F

        names = [f"_c{i}" for i in range(len(self.columns))]
        left = self.toDF(*names).groupBy(*names).agg(F.count("*").alias("_l"))
        right = other.toDF(*names).groupBy(*names).agg(F.count("*").alias("_r"))
        joined = left.join(right, Column(conjoin([
            BinaryOp("<=>", left._attr(n), right._attr(n)) for n in names])), "left")
        copies = keep(F.col("_l"), F.coalesce(F.col("_r"), F.lit(0)))
        repeated = joined.select(*[left[n] for n in names],
                                 F.explode(Column(Call("array_repeat", (Literal(0, pa.int32()),
                                                                         copies.expr)))))
        return repeated.select(*names).toDF(*self.columns)

    def exceptAll(self, other: DataFrame) -> DataFrame:
        """Rows of self not in other, keeping duplicates (EXCEPT ALL); nulls compare equal."""
        from ember.sql import functions as F

        return self._multiset(other, lambda lc, rc: F.when(lc > rc, lc - rc).otherwise(0))

    def intersectAll(self, other: DataFrame) -> DataFrame:
        """Rows in both, as many times as in both (INTERSECT ALL); nulls compare equal."""
        from ember.sql import functions as F

        return self._multiset(other, lambda lc, rc: F.when(lc < rc, lc).otherwise(rc))

    # -- statistics ----------------------------------------------------------------------------

    def describe(self, *cols: str | list[str]) -> DataFrame:
        """count, mean, stddev, min and max of numeric and string columns, as strings."""
        return self._summary(["count", "mean", "stddev", "min", "max"], _flatten_names(cols))

    def summary(self, *statistics: str) -> DataFrame:
        """describe() plus percentiles: count, mean, stddev, min, 25%, 50%, 75%, max by
        default; any of those names or other percentages may be asked for."""
        stats = list(statistics) or ["count", "mean", "stddev", "min", "25%", "50%", "75%", "max"]
        return self._summary(stats, [])

    def _summary(self, stats: list[str], names: list[str]) -> DataFrame:
        from ember.exec.java_format import format_double
        from ember.plan.typesys import is_numeric, is_string
        from ember.sql import functions as F

        attrs = [self._attr(n) for n in names] if names else [
            a for a in self._plan.output if is_numeric(a.dtype) or is_string(a.dtype)]
        exprs: list[Column] = []
        for i, a in enumerate(attrs):
            c = Column(a)
            numeric = is_numeric(a.dtype)
            for j, stat in enumerate(stats):
                name = f"_s{i}_{j}"
                if stat == "count":
                    exprs.append(F.count(c).alias(name))
                elif stat == "mean":
                    exprs.append((F.avg(c) if numeric else F.lit(None)).alias(name))
                elif stat == "stddev":
                    exprs.append((F.stddev(c) if numeric else F.lit(None)).alias(name))
                elif stat in {"min", "max"}:
                    exprs.append((F.min(c) if stat == "min" else F.max(c)).alias(name))
                elif stat.endswith("%"):
                    try:
                        fraction = float(stat[:-1]) / 100
                    except ValueError:
                        fraction = -1.0
                    if not 0 <= fraction <= 1:
                        msg = f"{stat} is not a valid percentile for summary()"
                        raise AnalysisException(msg)
                    exprs.append((F.percentile_approx(c, fraction) if numeric
                                  else F.lit(None)).alias(name))
                else:
                    msg = (f"{stat} is not a recognised statistic\n\nuse count, mean, stddev, "
                           "min, max or a percentage such as 50%")
                    raise AnalysisException(msg)
        row = self.agg(*exprs).collect()[0] if exprs else None

        def text(value: Any) -> str | None:
            if value is None:
                return None
            if isinstance(value, float):
                return format_double(value)
            return str(value)

        data = [tuple([stat] + [text(row[f"_s{i}_{j}"]) if row is not None else None
                                for i in range(len(attrs))])
                for j, stat in enumerate(stats)]
        schema = ", ".join(["summary STRING"] + [f"`{a.name}` STRING" for a in attrs])
        return self.sparkSession.createDataFrame(data, schema)

    # -- sampling and missing values -----------------------------------------------------------

    def sample(self, withReplacement: bool | float | None = None, fraction: float | None = None,
               seed: int | None = None) -> DataFrame:
        """A random fraction of the rows: ``sample(0.1, seed=3)`` or
        ``sample(withReplacement=True, fraction=0.5)``."""
        import random

        from ember.plan.sample import Sample

        if isinstance(withReplacement, float) and fraction is None:
            withReplacement, fraction = False, withReplacement
        elif isinstance(fraction, int) and not isinstance(withReplacement, bool) and seed is None:
            withReplacement, fraction, seed = False, withReplacement, fraction
        if fraction is None or fraction < 0:
            msg = f"sample() needs a non-negative fraction, got {fraction}"
            raise AnalysisException(msg)
        with_replacement = bool(withReplacement)
        if not with_replacement and fraction > 1:
            msg = f"without replacement the fraction must be at most 1, got {fraction}"
            raise AnalysisException(msg)
        chosen = seed if seed is not None else random.randrange(1 << 31)
        return self._derive(lambda p: Sample(0.0, float(fraction), with_replacement, chosen, p))

    def randomSplit(self, weights: list[float], seed: int | None = None) -> list[DataFrame]:
        """Disjoint random parts in proportion to ``weights``, covering every row."""
        import random

        from ember.plan.sample import Sample

        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            msg = f"weights must be non-negative with a positive sum, got {weights}"
            raise AnalysisException(msg)
        chosen = seed if seed is not None else random.randrange(1 << 31)
        total = float(sum(weights))
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        bounds[-1] = 1.0
        return [self._derive(lambda p, lo=lo, hi=hi: Sample(lo, hi, False, chosen, p))
                for lo, hi in zip(bounds, bounds[1:], strict=False)]

    @property
    def na(self) -> Any:
        from ember.sql.na import DataFrameNaFunctions

        return DataFrameNaFunctions(self)

    def fillna(self, value: Any, subset: Any = None) -> DataFrame:
        return self.na.fill(value, subset)

    def dropna(self, how: str = "any", thresh: int | None = None, subset: Any = None) -> DataFrame:
        return self.na.drop(how, thresh, subset)

    def replace(self, to_replace: Any, value: Any = None, subset: Any = None) -> DataFrame:
        return self.na.replace(to_replace, value, subset)

    def crossJoin(self, other: DataFrame) -> DataFrame:
        return self.join(other, how="cross")

    def union(self, other: DataFrame) -> DataFrame:
        left, right = self._plan.output, other._plan.output
        if len(left) != len(right):
            msg = (f"[NUM_COLUMNS_MISMATCH] union can only be performed on inputs with the same "
                   f"number of columns, but the first has {len(left)} and the second has "
                   f"{len(right)}\n\ncolumns: {self.columns} and {other.columns}")
            raise AnalysisException(msg)
        types = []
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            t = common_type(a.dtype, b.dtype)
            if t is None:
                msg = (f"union: column {i + 1} ({a.name}) has incompatible types "
                       f"{type_sql(a.dtype)} and {type_sql(b.dtype)}\n\ncast one of them")
                raise AnalysisException(msg)
            types.append(t)
        lhs = self._cast_columns(types)
        rhs = other._cast_columns(types)
        ids = tuple(new_expr_id() for _ in left)
        return lhs._derive2(rhs, lambda lp, rp: Union((lp, rp), ids))

    unionAll = union

    def _cast_columns(self, types: list[pa.DataType]) -> DataFrame:
        out = self._plan.output
        if all(a.dtype == t for a, t in zip(out, types, strict=True)):
            return self
        exprs = tuple(a if a.dtype == t else Alias(cast_to(a, t), a.name)
                      for a, t in zip(out, types, strict=True))
        return self._derive(lambda p: Project(exprs, p))

    def unionByName(self, other: DataFrame, allowMissingColumns: bool = False) -> DataFrame:
        exprs: list[Expression] = []
        other_names = {n.lower(): n for n in other.columns}
        for a in self._plan.output:
            if a.name.lower() in other_names:
                exprs.append(other._attr(other_names[a.name.lower()]))
            elif allowMissingColumns:
                exprs.append(Alias(Literal(None, a.dtype), a.name))
            else:
                msg = (f"[UNRESOLVED_COLUMN] cannot resolve column {a.name} of the first input in "
                       f"the second input {other.columns}\n\npass allowMissingColumns=True to "
                       "fill missing columns with nulls")
                raise AnalysisException(msg)
        left = self
        mine = {n.lower() for n in self.columns}
        extra = [a for a in other._plan.output if a.name.lower() not in mine]
        if extra:
            if not allowMissingColumns:
                msg = (f"the second input has columns {[a.name for a in extra]} that the first "
                       "lacks\n\npass allowMissingColumns=True to fill them with nulls")
                raise AnalysisException(msg)
            exprs += extra
            left = self.withColumns({a.name: Column(Literal(None, a.dtype)) for a in extra})
        reordered = other._derive(lambda p: Project(tuple(exprs), p))
        return left.union(reordered)

    # -- actions -------------------------------------------------------------------------------

    def _execute_table(self) -> pa.Table:
        return self.sparkSession._runtime().collect(self._plan)

    def toArrow(self) -> pa.Table:
        table = self._execute_table()
        return table.rename_columns(self.columns)

    def collect(self) -> list[Row]:
        from ember.sql.conversion import arrow_to_rows

        return arrow_to_rows(self._execute_table(), names=self.columns)

    def take(self, num: int) -> list[Row]:
        return self.limit(num).collect()

    def head(self, n: int | None = None) -> Row | None | list[Row]:
        if n is None:
            rows = self.take(1)
            return rows[0] if rows else None
        return self.take(n)

    def first(self) -> Row | None:
        return self.head()  # type: ignore[return-value]

    def tail(self, num: int) -> list[Row]:
        rows = self.collect()
        return rows[-num:] if num else []

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator[Row]:
        """The rows, one partition at a time, so the driver holds one partition's rows."""
        return self.rdd.toLocalIterator(prefetchPartitions)

    def foreach(self, f: Callable[[Row], Any]) -> None:
        """Run ``f`` on every row, in the executors (for side effects)."""
        self.rdd.foreach(f)

    def foreachPartition(self, f: Callable[[Iterator[Row]], Any]) -> None:
        """Run ``f`` on an iterator over each partition's rows, in the executors."""
        self.rdd.foreachPartition(f)

    def isEmpty(self) -> bool:
        return not self.take(1)

    def count(self) -> int:
        from ember.sql import functions as F

        rows = self.select(F.count("*")).collect()
        return int(rows[0][0])

    def toPandas(self) -> pd.DataFrame:
        table = self._execute_table()
        df = table.to_pandas(date_as_object=True)
        df.columns = self.columns
        return df

    def show(self, n: int = 20, truncate: bool | int = True, vertical: bool = False) -> None:
        print(self._show_string(n, truncate, vertical))

    def _show_string(self, n: int = 20, truncate: bool | int = True,
                     vertical: bool = False) -> str:
        from ember.sql.show_format import format_show

        table = self.limit(n + 1)._execute_table()
        has_more = table.num_rows > n
        return format_show(table.slice(0, n), n=n, truncate=truncate, vertical=vertical,
                           names=self.columns, has_more=has_more)

    def explain(self, extended: bool | str | None = None, mode: str | None = None) -> None:
        print(self._explain_string(extended, mode))

    def _explain_string(self, extended: bool | str | None = None, mode: str | None = None) -> str:
        if isinstance(extended, str):
            mode, extended = extended, None
        runtime = self.sparkSession._runtime()
        optimized = runtime.optimize(self._plan)
        physical = runtime.physical_plan(optimized)
        physical_text = "== Physical Plan ==\n" + explain_physical(physical)
        if not extended and mode in (None, "simple"):
            return physical_text + "\n"
        return "\n".join([
            "== Parsed Logical Plan ==", self._parsed.tree_string(unresolved=True),
            "", "== Analyzed Logical Plan ==",
            ", ".join(f"{n}: {t}" for n, t in self.dtypes), self._plan.tree_string(),
            "", "== Optimized Logical Plan ==", optimized.tree_string(),
            "", physical_text, "",
        ])

    def cache(self) -> DataFrame:
        """Persist at MEMORY_AND_DISK_DESER, PySpark's default for DataFrames; see `persist`."""
        from ember.core.storagelevel import StorageLevel

        return self.persist(StorageLevel.MEMORY_AND_DISK_DESER)

    def persist(self, storageLevel: Any = None) -> DataFrame:
        """Keep this DataFrame's partitions once computed, in the block managers of the executors
        that compute them; later actions on it, or on DataFrames built from it, read them.

        A partition lost with its executor, or evicted at MEMORY_ONLY, is recomputed from the
        plan. Returns this DataFrame.

        >>> df = spark.range(3).persist()  # doctest: +SKIP
        >>> df.storageLevel  # doctest: +SKIP
        StorageLevel(True, True, False, True, 1)
        """
        from ember.core.storagelevel import StorageLevel, checked

        level = checked(StorageLevel.MEMORY_AND_DISK_DESER if storageLevel is None
                        else storageLevel, setting="storageLevel of DataFrame.persist")
        runtime = self.sparkSession._runtime()
        if runtime.cached_entry(self._plan) is None:
            sc = self.sparkSession.sparkContext
            runtime.cache_plan(self._plan, sc._new_rdd_id(), level, new_id=sc._new_rdd_id)
        return self

    def unpersist(self, blocking: bool = False) -> DataFrame:
        """Stop caching this DataFrame and drop its stored partitions."""
        self.sparkSession._runtime().uncache_plan(self._plan)
        return self

    @property
    def storageLevel(self) -> Any:
        from ember.core.storagelevel import StorageLevel

        entry = self.sparkSession._runtime().cached_entry(self._plan)
        return entry.level if entry is not None else StorageLevel(False, False, False, False, 1)

    @property
    def is_cached(self) -> bool:
        return self.sparkSession._runtime().cached_entry(self._plan) is not None

    def checkpoint(self, eager: bool = True) -> DataFrame:
        """A DataFrame over this one's rows written to the checkpoint directory
        (``sc.setCheckpointDir``), one Arrow IPC file per partition: its plan no longer holds
        the lineage. ember writes the files at once, whatever ``eager`` says."""
        from ember.exec.task import ResultSink
        from ember.plan.logical import CheckpointRelation
        from ember.plan.physical import CheckpointWriteExec, checkpoint_files

        runtime = self.sparkSession._runtime()
        directory = runtime.new_checkpoint_path(
            f"dataframe-{self.sparkSession.sparkContext._new_rdd_id()}")
        root = runtime.physical_plan(runtime.optimize(self._plan))
        outcomes = runtime.run_job(CheckpointWriteExec(directory, root), ResultSink())
        relation = CheckpointRelation(tuple(self._plan.output),
                                      checkpoint_files(directory, len(outcomes)))
        return DataFrame(relation, self.sparkSession)

    def localCheckpoint(self, eager: bool = True, storageLevel: Any = None) -> DataFrame:
        """A DataFrame over this one's rows stored in the executors' block managers, without
        lineage: faster than ``checkpoint()``, but lost with an executor. ember stores the
        rows at once, whatever ``eager`` says."""
        from ember.core.storagelevel import StorageLevel, checked
        from ember.exec.task import ResultSink
        from ember.plan.logical import CacheData, CachedRelation
        from ember.plan.physical import DiscardExec

        level = checked(StorageLevel.MEMORY_AND_DISK if storageLevel is None else storageLevel,
                        setting="storageLevel of DataFrame.localCheckpoint")
        runtime = self.sparkSession._runtime()
        attrs = tuple(self._plan.output)
        data = CacheData(self.sparkSession.sparkContext._new_rdd_id(), level,
                         runtime.optimize(self._plan))
        root = runtime.physical_plan(CachedRelation(attrs, data))
        runtime.run_job(DiscardExec(root), ResultSink())
        return DataFrame(CachedRelation(attrs, CacheData(data.cache_id, level, None)),
                         self.sparkSession)

    @property
    def write(self) -> DataFrameWriter:
        from ember.sql.readwriter import DataFrameWriter

        return DataFrameWriter(self)

    def transform(self, func: Callable[..., DataFrame], *args: Any, **kwargs: Any) -> DataFrame:
        return func(self, *args, **kwargs)

    def createOrReplaceTempView(self, name: str) -> None:
        self.sparkSession.catalog._register(name, self, replace=True, is_global=False)

    def createTempView(self, name: str) -> None:
        self.sparkSession.catalog._register(name, self, replace=False, is_global=False)

    def createOrReplaceGlobalTempView(self, name: str) -> None:
        self.sparkSession.catalog._register(name, self, replace=True, is_global=True)

    def createGlobalTempView(self, name: str) -> None:
        self.sparkSession.catalog._register(name, self, replace=False, is_global=True)

    registerTempTable = createOrReplaceTempView

    @property
    def rdd(self) -> Any:
        """The rows as an ``RDD`` of ``Row`` objects, computed from this DataFrame's plan."""
        from ember.core.rdd import from_dataframe

        return from_dataframe(self)


def _flatten_names(cols: tuple) -> list[str]:
    out: list[str] = []
    for c in cols:
        out.extend(c if isinstance(c, list | tuple) else [c])
    return out


def _has_aggregate(e: Expression) -> bool:
    from ember.plan import aggregates
    from ember.plan.expressions import UnresolvedFunction

    return any(isinstance(x, AggregateCall) or
               (isinstance(x, UnresolvedFunction) and aggregates.exists(x.name))
               for x in e.walk())


def _sort_orders(cols: Sequence[Any], ascending: bool | list[bool]) -> tuple[SortOrder, ...]:
    if len(cols) == 1 and isinstance(cols[0], list | tuple):
        cols = tuple(cols[0])
    if not cols:
        msg = "orderBy() needs at least one column"
        raise AnalysisException(msg)
    flags: Iterable[bool]
    if isinstance(ascending, list | tuple):
        if len(ascending) != len(cols):
            msg = f"ascending has {len(ascending)} flags for {len(cols)} columns"
            raise AnalysisException(msg)
        flags = [bool(a) for a in ascending]
    else:
        flags = [bool(ascending)] * len(cols)
    orders = []
    for c, asc in zip(cols, flags, strict=True):
        e = name_to_expr(c)
        if isinstance(e, SortOrder):
            orders.append(e)
        else:
            orders.append(SortOrder(e, asc, None))
    return tuple(orders)


# Names of PySpark's DataFrame API, so a missing one is reported as unsupported rather than as
# an unknown column.
_PYSPARK_DATAFRAME_API = frozenset("""
agg alias approxQuantile cache checkpoint coalesce colRegex collect columns corr count cov
createGlobalTempView createOrReplaceGlobalTempView createOrReplaceTempView createTempView
crossJoin crosstab cube describe distinct drop dropDuplicates dropDuplicatesWithinWatermark
drop_duplicates dropna dtypes exceptAll explain fillna filter first foreach foreachPartition
freqItems groupBy groupby head hint inputFiles intersect intersectAll isEmpty isLocal
isStreaming join limit localCheckpoint mapInArrow mapInPandas melt na observe offset orderBy
pandas_api persist printSchema randomSplit rdd registerTempTable repartition
repartitionByRange replace rollup sameSemantics sample sampleBy schema select selectExpr
semanticHash show sort sortWithinPartitions sparkSession stat storageLevel subtract summary
tail take to toDF toJSON toLocalIterator toPandas transform union unionAll unionByName
unpersist unpivot where withColumn withColumnRenamed withColumns withColumnsRenamed
withMetadata withWatermark write writeStream writeTo mergeInto lateralJoin toArrow groupingSets
""".split())
