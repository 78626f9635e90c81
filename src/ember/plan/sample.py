"""``Sample``: a random subset of rows, reproducible from a seed.

Each row draws one uniform number from a generator seeded by (seed, partition); the row is kept
when the number falls in ``[lower, upper)``. ``randomSplit`` uses adjacent ranges of the same
draws, so its parts are disjoint and cover every row, as in Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

from ember.plan.expressions import AttributeReference
from ember.plan.logical import LogicalPlan


@dataclass(frozen=True, eq=False)
class Sample(LogicalPlan):
    lower: float
    upper: float
    with_replacement: bool
    seed: int
    child: LogicalPlan

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output

    def simple_string(self) -> str:
        return (f"Sample {self.lower}, {self.upper}, {str(self.with_replacement).lower()}, "
                f"{self.seed}")
