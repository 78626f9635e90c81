"""``SampleExec``: keeps the rows whose seeded uniform draw falls in a range (see
``ember.plan.sample``), or, with replacement, Poisson-many copies of each row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ember.exec.context import TaskContext
from ember.exec.operators import PhysicalOp
from ember.plan.expressions import AttributeReference


@dataclass(frozen=True, eq=False)
class SampleExec(PhysicalOp):
    lower: float
    upper: float
    with_replacement: bool
    seed: int
    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        return f"Sample {self.lower}, {self.upper}, {self.with_replacement}, {self.seed}"

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, partition])
        for batch in self.child.execute(ctx, partition):
            if self.with_replacement:
                # Poisson draws give each row its number of copies, as Spark's sampler.
                copies = rng.poisson(self.upper - self.lower, batch.num_rows)
                idx = np.repeat(np.arange(batch.num_rows), copies)
            else:
                draws = rng.random(batch.num_rows)
                idx = np.flatnonzero((draws >= self.lower) & (draws < self.upper))
            if len(idx):
                yield batch.take(pa.array(idx))
