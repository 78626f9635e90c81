"""``GroupedData``: what ``DataFrame.groupBy`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan.expressions import Alias, Expression, Literal, UnresolvedFunction
from ember.plan.logical import Aggregate
from ember.sql.column import Column, name_to_expr

if TYPE_CHECKING:
    from ember.sql.dataframe import DataFrame

_DICT_FUNCS = {"avg", "mean", "sum", "min", "max", "count", "first"}


class GroupedData:
    """Aggregations over the groups of a DataFrame."""

    def __init__(self, df: DataFrame, keys: list[Expression]) -> None:
        self._df = df
        self._keys = keys

    def agg(self, *exprs: Column | dict[str, str]) -> DataFrame:
        """Aggregate with Columns (``F.sum("x")``) or a dict ``{"x": "sum"}``.

        The result has the grouping columns first, then one column per aggregate.
        """
        if not exprs:
            msg = "agg() needs at least one aggregate expression"
            raise AnalysisException(msg)
        aggs: list[Expression] = []
        if len(exprs) == 1 and isinstance(exprs[0], dict):
            for column, func in exprs[0].items():
                if func.lower() not in _DICT_FUNCS:
                    msg = f"unknown aggregate function {func!r} for column {column!r}"
                    raise AnalysisException(msg)
                arg = Literal(1, pa.int32()) if column == "*" else name_to_expr(column)
                aggs.append(UnresolvedFunction(func.lower() if func != "mean" else "avg", (arg,)))
        else:
            for e in exprs:
                if not isinstance(e, Column):
                    msg = f"agg() takes Columns or one dict, got {type(e).__name__}"
                    raise TypeError(msg)
                aggs.append(e.expr)
        return self._aggregate(aggs)

    def _aggregate(self, aggs: list[Expression]) -> DataFrame:
        return self._aggregate_exprs(list(aggs), keys_in_output=True)

    def _aggregate_exprs(self, exprs: list[Expression], *, keys_in_output: bool) -> DataFrame:
        """Aggregate into ``exprs``, after the grouping columns unless SQL lists them itself."""
        keys = tuple(self._keys)
        outputs = (keys if keys_in_output else ()) + tuple(exprs)
        return self._df._derive(lambda p: Aggregate(keys, outputs, p))

    def pivot(self, pivot_col: str, values: list[Any] | None = None) -> GroupedData:
        """Turn the values of ``pivot_col`` into columns: ``groupBy("a").pivot("b").sum("c")``.

        Without ``values`` the distinct values are found first (a job), sorted as Spark does.
        """
        if values is None:
            found = self._df.select(pivot_col).distinct().collect()
            values = sorted((r[0] for r in found), key=lambda v: (v is not None, v))
        return _PivotedData(self._df, self._keys, name_to_expr(pivot_col), list(values))

    def count(self) -> DataFrame:
        return self._aggregate([Alias(UnresolvedFunction("count", (Literal(1, pa.int32()),)),
                                      "count")])

    def _numeric(self, func: str, cols: tuple[str, ...]) -> DataFrame:
        from ember.plan.typesys import is_numeric

        if not cols:
            cols = tuple(a.name for a in self._df._plan.output
                         if is_numeric(a.dtype) and not any(
                             a.name == getattr(k, "name", None) for k in self._keys))
        return self._aggregate([UnresolvedFunction(func, (name_to_expr(c),)) for c in cols])

    def sum(self, *cols: str) -> DataFrame:
        return self._numeric("sum", cols)

    def avg(self, *cols: str) -> DataFrame:
        return self._numeric("avg", cols)

    mean = avg

    def min(self, *cols: str) -> DataFrame:
        return self._numeric("min", cols)

    def max(self, *cols: str) -> DataFrame:
        return self._numeric("max", cols)


class _PivotedData(GroupedData):
    """``groupBy(...).pivot(col, values)``: each aggregate is computed once per value, over the
    rows holding it (``agg(when(col == v, x))``), as Spark's pivot."""

    def __init__(self, df: DataFrame, keys: list[Expression], pivot: Expression,
                 values: list[Any]) -> None:
        super().__init__(df, keys)
        self._pivot = pivot
        self._values = values

    def _aggregate(self, aggs: list[Expression]) -> DataFrame:
        from ember.plan.expressions import BinaryOp, CaseWhen, IsNull, literal, output_name

        pivoted: list[Expression] = []
        for v in self._values:
            match = IsNull(self._pivot) if v is None else BinaryOp("=", self._pivot, literal(v))
            for agg in aggs:
                inner = agg.child if isinstance(agg, Alias) else agg
                assert isinstance(inner, UnresolvedFunction)
                args = tuple(CaseWhen(((match, a),), None) for a in inner.args)
                label = "null" if v is None else str(v)
                name = label if len(aggs) == 1 else f"{label}_{output_name(agg)}"
                value = UnresolvedFunction(inner.name, args, inner.distinct)
                # A group without any row for this value gets null, even from count.
                rows = UnresolvedFunction("count", (CaseWhen(((match, Literal(1, pa.int32())),),
                                                             None),))
                present = BinaryOp(">", rows, Literal(0, pa.int64()))
                pivoted.append(Alias(CaseWhen(((present, value),), None), name))
        return self._aggregate_exprs(pivoted, keys_in_output=True)

    def count(self) -> DataFrame:
        return self._aggregate([UnresolvedFunction("count", (Literal(1, pa.int32()),))])
