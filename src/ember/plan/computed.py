"""Expressions that compute their own values from their evaluated children.

Most functions live in the registry (``ember.plan.functions``), whose entries see only the
types of their arguments. A few need more: ``struct`` names its fields after its arguments,
``getField`` types its result by a field name, ``rand`` and ``monotonically_increasing_id``
depend on the partition and the row's place in it, and ``current_timestamp`` on when the query
runs. Those are :class:`ComputedExpression` subclasses; the evaluator passes them their
evaluated children and the :class:`RowPosition` of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ember.plan.expressions import Expression


@dataclass(frozen=True)
class RowPosition:
    """Where a batch's rows are: the task's partition and the rows of the partition that the
    evaluating operator saw before this batch."""

    partition: int = 0
    offset: int = 0


class ComputedExpression(Expression):
    def compute(self, args: Sequence[pa.Array], rows: int,
                position: RowPosition) -> pa.Array | pa.Scalar:
        """The value for a batch of ``rows`` rows, given the children's values."""
        raise NotImplementedError(type(self).__name__)
