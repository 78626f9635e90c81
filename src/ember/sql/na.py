"""``df.na``: filling, dropping and replacing missing values (``DataFrameNaFunctions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.errors import IllegalArgumentException
from ember.plan.expressions import (
    Alias,
    AttributeReference,
    BinaryOp,
    Call,
    CaseWhen,
    Expression,
    IsNotNull,
    Literal,
)
from ember.plan.typesys import is_numeric, is_string
from ember.sql.column import Column

if TYPE_CHECKING:
    from ember.sql.dataframe import DataFrame


def _accepts(t: pa.DataType, value: Any) -> bool:
    """Spark fills (and replaces in) only the columns whose type matches the value's."""
    if isinstance(value, bool):
        return pa.types.is_boolean(t)
    if isinstance(value, int | float):
        return is_numeric(t)
    if isinstance(value, str):
        return is_string(t)
    return False


def _targets(df: DataFrame, subset: Any) -> list[AttributeReference]:
    if subset is None:
        return list(df._plan.output)
    names = [subset] if isinstance(subset, str) else list(subset)
    return [df._attr(n) for n in names]


def _rewrite(df: DataFrame, columns: dict[int, Expression]) -> DataFrame:
    from ember.plan.logical import Project

    exprs = tuple(Alias(columns[a.expr_id], a.name) if a.expr_id in columns else a
                  for a in df._plan.output)
    return df._derive(lambda p: Project(exprs, p))


def fill(df: DataFrame, value: Any, subset: Any = None) -> DataFrame:
    if isinstance(value, dict):
        out = df
        for name, v in value.items():
            out = fill(out, v, [name])
        return out
    if not isinstance(value, bool | int | float | str):
        msg = f"fillna() takes a bool, int, float, str or dict, got {type(value).__name__}"
        raise IllegalArgumentException(msg)
    columns: dict[int, Expression] = {}
    for a in _targets(df, subset):
        if _accepts(a.dtype, value):
            filler = Literal(_as_column_value(value, a.dtype), a.dtype)
            columns[a.expr_id] = Call("coalesce", (a, filler))
    return _rewrite(df, columns)


def _as_column_value(value: Any, t: pa.DataType) -> Any:
    """A float filler for an integer column is truncated, as Spark casts it."""
    return int(value) if pa.types.is_integer(t) and isinstance(value, float) else value


def drop(df: DataFrame, how: str = "any", thresh: int | None = None,
         subset: Any = None) -> DataFrame:
    if how not in {"any", "all"}:
        msg = f"how must be 'any' or 'all', got {how!r}"
        raise IllegalArgumentException(msg)
    targets = _targets(df, subset)
    if thresh is None:
        thresh = len(targets) if how == "any" else 1
    present: Expression = Literal(0, pa.int32())
    for a in targets:
        present = BinaryOp("+", present, CaseWhen(((IsNotNull(a), Literal(1, pa.int32())),),
                                                  Literal(0, pa.int32())))
    return df.filter(Column(BinaryOp(">=", present, Literal(thresh, pa.int32()))))


def replace(df: DataFrame, to_replace: Any, value: Any = None, subset: Any = None) -> DataFrame:
    if isinstance(to_replace, dict):
        pairs = list(to_replace.items())
    elif isinstance(to_replace, list | tuple):
        values = value if isinstance(value, list | tuple) else [value] * len(to_replace)
        if len(values) != len(to_replace):
            msg = "to_replace and value lists must have the same length"
            raise IllegalArgumentException(msg)
        pairs = list(zip(to_replace, values, strict=True))
    else:
        pairs = [(to_replace, value)]
    columns: dict[int, Expression] = {}
    for a in _targets(df, subset):
        branches = tuple((BinaryOp("=", a, Literal(old, a.dtype)),
                          Literal(new, a.dtype))
                         for old, new in pairs
                         if _accepts(a.dtype, old) and (new is None or _accepts(a.dtype, new)))
        if branches:
            columns[a.expr_id] = CaseWhen(branches, a)
    return _rewrite(df, columns)


class DataFrameNaFunctions:
    def __init__(self, df: DataFrame) -> None:
        self._df = df

    def fill(self, value: Any, subset: Any = None) -> DataFrame:
        return fill(self._df, value, subset)

    def drop(self, how: str = "any", thresh: int | None = None, subset: Any = None) -> DataFrame:
        return drop(self._df, how, thresh, subset)

    def replace(self, to_replace: Any, value: Any = None, subset: Any = None) -> DataFrame:
        return replace(self._df, to_replace, value, subset)

