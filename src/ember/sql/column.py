"""``Column``: a PySpark-compatible wrapper around an expression tree."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ember.plan.expressions import (
    Alias,
    And,
    BinaryOp,
    CaseWhen,
    Cast,
    Expression,
    In,
    IsNotNull,
    IsNull,
    Negative,
    Not,
    Or,
    SortOrder,
    UnresolvedAttribute,
    UnresolvedFunction,
    UnresolvedStar,
    literal,
    strip_alias,
)


def to_expr(value: Any) -> Expression:
    """A Column, a literal value or (where PySpark allows it) a column name, as an expression."""
    if isinstance(value, Column):
        return value.expr
    if isinstance(value, Expression):
        return value
    return literal(value)


def name_to_expr(value: Column | str) -> Expression:
    """A Column or a column name (``"*"`` and ``"t.*"`` included)."""
    if isinstance(value, Column):
        return value.expr
    if isinstance(value, str):
        if value == "*":
            return UnresolvedStar()
        if value.endswith(".*"):
            return UnresolvedStar(value[:-2])
        return UnresolvedAttribute(parse_name(value))
    msg = f"expected a Column or a column name, got {type(value).__name__}: {value!r}"
    raise TypeError(msg)


def parse_name(name: str) -> tuple[str, ...]:
    """Split ``a.b`` into parts; backquotes protect dots: ``\\`a.b\\``` is one name."""
    if "`" not in name:
        return tuple(name.split(".")) if "." in name else (name,)
    parts, current, quoted = [], "", False
    for ch in name:
        if ch == "`":
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return tuple(parts)


def _binary(op: str):  # type: ignore[no-untyped-def]
    def method(self: Column, other: Any) -> Column:
        return Column(BinaryOp(op, self.expr, to_expr(other)))

    return method


def _reflected(op: str):  # type: ignore[no-untyped-def]
    def method(self: Column, other: Any) -> Column:
        return Column(BinaryOp(op, to_expr(other), self.expr))

    return method


def _spark_type_to_arrow(data_type: Any) -> pa.DataType:
    from ember.sql import types as T

    if isinstance(data_type, str):
        data_type = T.parse_ddl(data_type)
    if isinstance(data_type, pa.DataType):
        return data_type
    return T.to_arrow_type(data_type)


class Column:
    """A column expression, built lazily and resolved when used in a DataFrame."""

    __slots__ = ("expr",)

    def __init__(self, expr: Expression) -> None:
        self.expr = expr

    # arithmetic
    __add__ = _binary("+")
    __sub__ = _binary("-")
    __mul__ = _binary("*")
    __truediv__ = _binary("/")
    __div__ = _binary("/")
    __mod__ = _binary("%")
    __radd__ = _reflected("+")
    __rsub__ = _reflected("-")
    __rmul__ = _reflected("*")
    __rtruediv__ = _reflected("/")
    __rmod__ = _reflected("%")

    def __neg__(self) -> Column:
        return Column(Negative(self.expr))

    def __pow__(self, other: Any) -> Column:
        return Column(UnresolvedFunction("pow", (self.expr, to_expr(other))))

    # comparison
    __eq__ = _binary("=")  # type: ignore[assignment]
    __ne__ = _binary("!=")  # type: ignore[assignment]
    __lt__ = _binary("<")
    __le__ = _binary("<=")
    __gt__ = _binary(">")
    __ge__ = _binary(">=")
    eqNullSafe = _binary("<=>")

    # logic
    def __and__(self, other: Any) -> Column:
        return Column(And(self.expr, to_expr(other)))

    def __or__(self, other: Any) -> Column:
        return Column(Or(self.expr, to_expr(other)))

    def __rand__(self, other: Any) -> Column:
        return Column(And(to_expr(other), self.expr))

    def __ror__(self, other: Any) -> Column:
        return Column(Or(to_expr(other), self.expr))

    def __invert__(self) -> Column:
        return Column(Not(self.expr))

    def __bool__(self) -> bool:
        msg = ("cannot convert a Column into bool: use '&' for 'and', '|' for 'or', '~' for "
               "'not' when building DataFrame boolean expressions")
        raise ValueError(msg)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> None:  # type: ignore[override]
        msg = "a Column is not iterable"
        raise TypeError(msg)

    # predicates
    def isNull(self) -> Column:
        return Column(IsNull(self.expr))

    def isNotNull(self) -> Column:
        return Column(IsNotNull(self.expr))

    def isin(self, *values: Any) -> Column:
        if len(values) == 1 and isinstance(values[0], list | tuple | set):
            values = tuple(values[0])
        return Column(In(self.expr, tuple(to_expr(v) for v in values)))

    def between(self, lower: Any, upper: Any) -> Column:
        return (self >= lower) & (self <= upper)

    # string predicates
    def like(self, other: str) -> Column:
        return Column(UnresolvedFunction("like", (self.expr, to_expr(other))))

    def ilike(self, other: str) -> Column:
        return Column(UnresolvedFunction("ilike", (self.expr, to_expr(other))))

    def rlike(self, other: str) -> Column:
        return Column(UnresolvedFunction("rlike", (self.expr, to_expr(other))))

    def startswith(self, other: Any) -> Column:
        return Column(UnresolvedFunction("startswith", (self.expr, to_expr(other))))

    def endswith(self, other: Any) -> Column:
        return Column(UnresolvedFunction("endswith", (self.expr, to_expr(other))))

    def contains(self, other: Any) -> Column:
        return Column(UnresolvedFunction("contains", (self.expr, to_expr(other))))

    def substr(self, startPos: Any, length: Any) -> Column:
        """``length`` characters from the 1-based ``startPos`` (Spark's ``substring``)."""
        return Column(UnresolvedFunction("substring",
                                         (self.expr, to_expr(startPos), to_expr(length))))

    # arrays, maps and structs
    def getItem(self, key: Any) -> Column:
        """An array element (from 0), a map's value for a key, or a struct field."""
        from ember.plan.complex_types import ExtractValue

        return Column(ExtractValue(self.expr, to_expr(key)))

    def getField(self, name: Any) -> Column:
        from ember.plan.complex_types import ExtractValue

        return Column(ExtractValue(self.expr, to_expr(name)))

    def __getitem__(self, key: Any) -> Column:
        if isinstance(key, slice):
            if key.step is not None:
                msg = "a Column slice takes no step"
                raise ValueError(msg)
            return self.substr(key.start, key.stop)
        return self.getItem(key)

    # naming and types
    def alias(self, *alias: str, **kwargs: Any) -> Column:
        if len(alias) != 1:
            msg = "alias() takes exactly one name for a single column"
            raise ValueError(msg)
        return Column(Alias(strip_alias(self.expr), alias[0]))

    name = alias

    def cast(self, dataType: Any) -> Column:
        return Column(Cast(self.expr, _spark_type_to_arrow(dataType)))

    astype = cast

    # sorting
    def asc(self) -> Column:
        return Column(SortOrder(self.expr, True, None))

    def desc(self) -> Column:
        return Column(SortOrder(self.expr, False, None))

    def asc_nulls_first(self) -> Column:
        return Column(SortOrder(self.expr, True, True))

    def asc_nulls_last(self) -> Column:
        return Column(SortOrder(self.expr, True, False))

    def desc_nulls_first(self) -> Column:
        return Column(SortOrder(self.expr, False, True))

    def desc_nulls_last(self) -> Column:
        return Column(SortOrder(self.expr, False, False))

    # conditionals
    def when(self, condition: Column, value: Any) -> Column:
        if not isinstance(self.expr, CaseWhen) or self.expr.otherwise is not None:
            msg = "when() can only be applied on a Column built by functions.when()"
            raise TypeError(msg)
        branches = self.expr.branches + ((to_expr(condition), to_expr(value)),)
        return Column(CaseWhen(branches, None))

    def otherwise(self, value: Any) -> Column:
        if not isinstance(self.expr, CaseWhen) or self.expr.otherwise is not None:
            msg = "otherwise() can only be applied once on a Column built by functions.when()"
            raise TypeError(msg)
        return Column(CaseWhen(self.expr.branches, to_expr(value)))

    # windows
    def over(self, window: Any) -> Column:
        """This window function or aggregate, computed over ``window`` (a ``WindowSpec``)."""
        from ember.plan.window import over
        from ember.sql.window import WindowSpec

        if not isinstance(window, WindowSpec):
            msg = (f"over() needs a WindowSpec, got {type(window).__name__}\n\n"
                   "build one with Window.partitionBy(...).orderBy(...)")
            raise TypeError(msg)
        return Column(over(self.expr, window._definition()))

    def __repr__(self) -> str:
        return f"Column<'{self.expr.sql()}'>"
