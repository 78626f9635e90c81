"""``Window`` and ``WindowSpec``: the windows that window functions and aggregates run over.

>>> from ember.sql import functions as F
>>> w = Window.partitionBy("dept").orderBy(F.col("salary").desc())
>>> F.row_number().over(w)
Column<'row_number() OVER (PARTITION BY dept ORDER BY salary DESC NULLS LAST)'>
>>> F.sum("salary").over(Window.partitionBy("dept").rowsBetween(Window.unboundedPreceding, 0))
Column<'sum(salary) OVER (PARTITION BY dept ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)'>
"""

from __future__ import annotations

import sys
from typing import Any

from ember.errors import AnalysisException
from ember.plan.expressions import Expression, SortOrder
from ember.plan.window import WindowFrame, WindowSpecDefinition
from ember.sql.column import Column, name_to_expr


class Window:
    """Builds ``WindowSpec`` objects: ``Window.partitionBy("k").orderBy("t")``.

    Frame bounds are row offsets (``rowsBetween``) or ordering-value offsets (``rangeBetween``)
    from the current row; the constants mark the unbounded ends and the current row, with the
    same values as in PySpark.
    """

    _JAVA_MIN_LONG = -(1 << 63)
    _JAVA_MAX_LONG = (1 << 63) - 1
    _PRECEDING_THRESHOLD = max(-sys.maxsize, _JAVA_MIN_LONG)
    _FOLLOWING_THRESHOLD = min(sys.maxsize, _JAVA_MAX_LONG)

    unboundedPreceding: int = _JAVA_MIN_LONG
    unboundedFollowing: int = _JAVA_MAX_LONG
    currentRow: int = 0

    @staticmethod
    def partitionBy(*cols: Column | str | list) -> WindowSpec:
        return WindowSpec().partitionBy(*cols)

    @staticmethod
    def orderBy(*cols: Column | str | list) -> WindowSpec:
        return WindowSpec().orderBy(*cols)

    @staticmethod
    def rowsBetween(start: int, end: int) -> WindowSpec:
        return WindowSpec().rowsBetween(start, end)

    @staticmethod
    def rangeBetween(start: int, end: int) -> WindowSpec:
        return WindowSpec().rangeBetween(start, end)


class WindowSpec:
    """Partitioning, ordering and frame of a window. Each method returns a new spec."""

    __slots__ = ("_frame", "_orders", "_partition")

    def __init__(self, partition: tuple[Expression, ...] = (),
                 orders: tuple[SortOrder, ...] = (), frame: WindowFrame | None = None) -> None:
        self._partition = partition
        self._orders = orders
        self._frame = frame

    def partitionBy(self, *cols: Column | str | list) -> WindowSpec:
        """Rows with equal values of ``cols`` form one window partition."""
        partition = tuple(name_to_expr(c) for c in _flatten(cols))
        return WindowSpec(partition, self._orders, self._frame)

    def orderBy(self, *cols: Column | str | list) -> WindowSpec:
        """Order rows inside a window partition; ``col("x").desc()`` orders descending."""
        orders = []
        for c in _flatten(cols):
            e = name_to_expr(c)
            orders.append(e if isinstance(e, SortOrder) else SortOrder(e, True, None))
        return WindowSpec(self._partition, tuple(orders), self._frame)

    def rowsBetween(self, start: int, end: int) -> WindowSpec:
        """A frame from ``start`` rows to ``end`` rows away from the current row (negative:
        before it), or unbounded with ``Window.unboundedPreceding``/``unboundedFollowing``."""
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                msg = (f"rowsBetween() takes whole numbers of rows, got {name}={value!r}\n\n"
                       "use rangeBetween() for offsets in the ordering column's values")
                raise AnalysisException(msg)
        return WindowSpec(self._partition, self._orders, _frame("rows", start, end))

    def rangeBetween(self, start: int | float, end: int | float) -> WindowSpec:
        """A frame of the rows whose ordering value lies between the current row's plus
        ``start`` and plus ``end``; ``Window.currentRow`` means the row's peers (equal values)."""
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, int | float) or isinstance(value, bool):
                msg = f"rangeBetween() takes numbers, got {name}={value!r}"
                raise AnalysisException(msg)
        return WindowSpec(self._partition, self._orders, _frame("range", start, end))

    def _definition(self) -> WindowSpecDefinition:
        return WindowSpecDefinition(self._partition, self._orders, self._frame)

    def __repr__(self) -> str:
        return f"WindowSpec<{self._definition().sql()}>"


def _flatten(cols: tuple[Any, ...]) -> list[Any]:
    if len(cols) == 1 and isinstance(cols[0], list | tuple):
        return list(cols[0])
    return list(cols)


def _frame(kind: str, start: int | float, end: int | float) -> WindowFrame:
    if start >= Window._FOLLOWING_THRESHOLD:
        msg = (f"a window frame cannot start at Window.unboundedFollowing\n\n"
               f"start it before its end, e.g. {kind}Between(Window.currentRow, "
               "Window.unboundedFollowing)")
        raise AnalysisException(msg)
    if end <= Window._PRECEDING_THRESHOLD:
        msg = (f"a window frame cannot end at Window.unboundedPreceding\n\n"
               f"end it after its start, e.g. {kind}Between(Window.unboundedPreceding, "
               "Window.currentRow)")
        raise AnalysisException(msg)
    lower = None if start <= Window._PRECEDING_THRESHOLD else start
    upper = None if end >= Window._FOLLOWING_THRESHOLD else end
    if lower is not None and upper is not None and lower > upper:
        msg = (f"the lower bound of a window frame ({start}) must not be above its upper "
               f"bound ({end})\n\nswap them: {kind}Between({end}, {start})")
        raise AnalysisException(msg)
    return WindowFrame(kind, lower, upper)
