"""``GenerateExec``: one output row per array element, vectorised over list arrays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.context import TaskContext
from ember.exec.expr_eval import evaluate
from ember.exec.operators import PhysicalOp
from ember.plan.expressions import AttributeReference, Expression


@dataclass(frozen=True, eq=False)
class GenerateExec(PhysicalOp):
    array: Expression
    outer: bool
    position: bool
    attrs: tuple[AttributeReference, ...]
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output + list(self.attrs)

    def simple_string(self) -> str:
        kind = ("pos" if self.position else "") + "explode" + ("_outer" if self.outer else "")
        return f"Generate {kind}({self.array.sql()})"

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        names = [a.key for a in self.output]
        for batch in self.child.execute(ctx, partition):
            lists = evaluate(self.array, batch)
            values = pc.list_flatten(lists)
            parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
            offsets = np.repeat(_starts(lists), pc.fill_null(pc.list_value_length(lists), 0)
                                .to_numpy(zero_copy_only=False))
            positions = np.arange(len(parents), dtype=np.int64) - offsets
            if self.outer:
                lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(
                    zero_copy_only=False)
                empty = np.flatnonzero(lengths == 0)
                if len(empty):
                    parents = np.concatenate([parents, empty])
                    values = pa.concat_arrays([values, pa.nulls(len(empty), values.type)])
                    positions = np.concatenate([positions, np.full(len(empty), -1)])
                    order = np.argsort(parents, kind="stable")
                    parents, positions = parents[order], positions[order]
                    values = values.take(pa.array(order))
            if not len(parents):
                continue
            base = batch.take(pa.array(parents))
            arrays = list(base.columns)
            if self.position:
                pos = pa.array(positions.astype(np.int32), mask=positions < 0)
                arrays.append(pos)
            arrays.append(values)
            yield pa.RecordBatch.from_arrays(arrays, names=names)


def _starts(lists: pa.Array) -> np.ndarray:
    """Index in the flattened values where each non-empty list starts."""
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
