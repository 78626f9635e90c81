"""Struct construction and value extraction: ``struct(a, b)``, ``col[0]``, ``col.getField("b")``.

Both need more than their arguments' types: a struct names its fields after its arguments,
and a field's type depends on the field's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.computed import ComputedExpression, RowPosition
from ember.plan.expressions import (
    Alias,
    AttributeReference,
    Expression,
    Literal,
    UnresolvedAttribute,
)


def field_name(e: Expression, index: int) -> str:
    """The name Spark gives a struct field built from ``e``: a column's or alias's name, else
    ``col1``, ``col2``..."""
    if isinstance(e, Alias | AttributeReference):
        return e.name
    if isinstance(e, UnresolvedAttribute):
        return e.parts[-1]
    return f"col{index + 1}"


@dataclass(frozen=True)
class CreateStruct(ComputedExpression):
    values: tuple[Expression, ...]

    @property
    def names(self) -> list[str]:
        return [field_name(v, i) for i, v in enumerate(self.values)]

    @property
    def dtype(self) -> pa.DataType:
        return pa.struct([pa.field(n, v.dtype, v.nullable)
                          for n, v in zip(self.names, self.values, strict=True)])

    @property
    def nullable(self) -> bool:
        return False

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Array:
        if not args:
            return pa.array([{}] * rows, pa.struct([]))
        return pa.StructArray.from_arrays(list(args), fields=list(self.dtype))

    def sql(self) -> str:
        return f"struct({', '.join(v.sql() for v in self.values)})"


@dataclass(frozen=True)
class ExtractValue(ComputedExpression):
    """``col[key]``, ``col.getItem(key)``, ``col.getField(name)``: an array element (from 0,
    null out of bounds), a map value (null when absent) or a struct field (by name, null where
    the struct is null), chosen by the type of ``child`` as Spark's ExtractValue does."""

    child: Expression
    key: Expression

    def _field_index(self) -> int:
        t = self.child.dtype
        name = self.key.value if isinstance(self.key, Literal) else None
        if not isinstance(name, str):
            msg = (f"a field of the struct {self.child.sql()} must be named by a string, got "
                   f"{self.key.sql()}")
            raise AnalysisException(msg)
        names = [f.name for f in t]
        matches = [i for i, n in enumerate(names) if n.lower() == name.lower()]
        if not matches:
            msg = (f"[FIELD_NOT_FOUND] no such struct field {name} in {', '.join(names)}\n\n"
                   f"the fields of {self.child.sql()} are {names}")
            raise AnalysisException(msg)
        exact = [i for i in matches if names[i] == name]
        return (exact or matches)[0]

    @property
    def dtype(self) -> pa.DataType:
        t = self.child.dtype
        if pa.types.is_struct(t):
            return t.field(self._field_index()).type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return t.value_type
        if pa.types.is_map(t):
            return t.item_type
        msg = (f"[INVALID_EXTRACT_BASE_FIELD_TYPE] cannot extract a value from "
               f"{self.child.sql()}: it is {t}, not an array, a map or a struct")
        raise AnalysisException(msg)

    @property
    def nullable(self) -> bool:
        return True

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Array:
        from ember.plan import collection_functions

        container, key = args
        t = container.type
        if pa.types.is_struct(t):
            return pc.struct_field(container, [self._field_index()])
        if pa.types.is_map(t):
            return collection_functions.map_value(container, key.cast(t.key_type))
        return collection_functions.list_item(container, key.cast(pa.int32()), one_based=False)

    def sql(self) -> str:
        if self.child.resolved and pa.types.is_struct(self.child.dtype):
            return f"{self.child.sql()}.{self.key.sql()}"
        return f"{self.child.sql()}[{self.key.sql()}]"
