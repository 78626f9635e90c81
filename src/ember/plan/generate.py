"""Generators: ``explode`` and ``posexplode`` turn each array element into a row.

As in Spark, a generator in a projection becomes a ``Generate`` node below the projection,
whose output is the child's columns plus the generated ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ember.errors import AnalysisException
from ember.plan.expressions import Alias, AttributeReference, Expression
from ember.plan.logical import LogicalPlan, attr_string, expr_string
from ember.plan.typesys import type_sql


@dataclass(frozen=True, eq=False)
class Explode(Expression):
    child: Expression
    outer: bool = False
    position: bool = False

    @property
    def dtype(self) -> pa.DataType:
        t = self.child.dtype
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return t.value_type
        msg = (f"{self._name()}() needs an array, but {self.child.sql()} is "
               f"{type_sql(t)}\n\nbuild one with split(...) or array(...)")
        raise AnalysisException(msg)

    @property
    def foldable(self) -> bool:
        return False

    def _name(self) -> str:
        return ("pos" if self.position else "") + "explode" + ("_outer" if self.outer else "")

    def sql(self) -> str:
        return f"{self._name()}({self.child.sql()})"


@dataclass(frozen=True, eq=False)
class Generate(LogicalPlan):
    generator: Explode
    attrs: tuple[AttributeReference, ...]
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output + list(self.attrs)

    def simple_string(self) -> str:
        attrs = ", ".join(attr_string(a) for a in self.attrs)
        return f"Generate {expr_string(self.generator)}, {str(self.generator.outer).lower()}, [{attrs}]"


def find_generator(exprs: Sequence[Expression]) -> int | None:
    """Index of the one projected expression that is a generator (possibly aliased)."""
    found = [i for i, e in enumerate(exprs)
             if isinstance(e.child if isinstance(e, Alias) else e, Explode)]
    nested = [e for e in exprs for x in e.walk()
              if isinstance(x, Explode) and x is not e and not (isinstance(e, Alias) and x is e.child)]
    if nested:
        msg = ("a generator such as explode() must be a whole column of select(), not nested "
               "inside another expression\n\nexplode in one select, then transform the column")
        raise AnalysisException(msg)
    if len(found) > 1:
        msg = "only one generator such as explode() is allowed per select()"
        raise AnalysisException(msg)
    return found[0] if found else None


def plan_generate(exprs: Sequence[Expression], child: LogicalPlan,
                  index: int) -> tuple[tuple[Expression, ...], LogicalPlan]:
    """Split a projection with a generator into (projection, Generate node)."""
    from ember.plan.analyzer import resolve

    target = exprs[index]
    alias = target.name if isinstance(target, Alias) else None
    gen = target.child if isinstance(target, Alias) else target
    assert isinstance(gen, Explode)
    resolved = Explode(resolve(gen.child, child.output), gen.outer, gen.position)
    value = AttributeReference(alias or "col", resolved.dtype, True)
    attrs = (value,)
    replacement: list[Expression] = [value]
    if resolved.position:
        pos = AttributeReference("pos", pa.int32(), True)
        attrs = (pos, value)
        replacement = [pos, value]
    projected = tuple(exprs[:index]) + tuple(replacement) + tuple(exprs[index + 1:])
    return projected, Generate(resolved, attrs, child)
