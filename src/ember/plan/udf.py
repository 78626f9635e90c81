"""Python user-defined functions: ``F.udf(lambda x: ..., "int")``.

The function runs once per row in the executor, on values converted from Arrow; the result is
converted back to the declared type. This is the one place where per-row Python runs, because
it is user code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ember.plan.expressions import Expression


@dataclass(frozen=True, eq=False)
class PythonUDF(Expression):
    func: Callable[..., Any]
    return_type: pa.DataType
    args: tuple[Expression, ...]
    name: str = "<lambda>"

    @property
    def dtype(self) -> pa.DataType:
        return self.return_type

    @property
    def nullable(self) -> bool:
        return True

    @property
    def foldable(self) -> bool:
        return False

    @property
    def deterministic(self) -> bool:
        return False

    def sql(self) -> str:
        return f"{self.name}({', '.join(a.sql() for a in self.args)})"

    def apply(self, columns: Sequence[pa.Array]) -> pa.Array:
        values = [c.to_pylist() for c in columns]
        out = [self.func(*row) for row in zip(*values, strict=True)] if values else []
        return pa.array(out, type=self.return_type)


@dataclass(frozen=True, eq=False)
class PandasUDF(PythonUDF):
    """A vectorised UDF (``pandas_udf``): called once per Arrow batch with one pandas Series per
    argument, it returns a Series of the batch's length, converted to the declared type."""

    def apply(self, columns: Sequence[pa.Array]) -> pa.Array:
        import pandas as pd

        rows = len(columns[0]) if columns else 0
        series = [c.to_pandas() for c in columns]
        out = self.func(*series)
        if not isinstance(out, pd.Series):
            msg = (f"the pandas_udf {self.name} returned {type(out).__name__}, not a "
                   "pandas.Series")
            raise TypeError(msg)
        if columns and len(out) != rows:
            msg = (f"the pandas_udf {self.name} returned {len(out)} values for a batch of "
                   f"{rows} rows: it must return one value per row")
            raise ValueError(msg)
        return pa.Array.from_pandas(out, type=self.return_type)
