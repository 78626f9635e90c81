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
