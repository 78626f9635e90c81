"""Values that depend on where and when a query runs: ``rand``, ``randn``,
``monotonically_increasing_id``, ``spark_partition_id``, ``current_date`` and
``current_timestamp``.

``rand(seed)`` is a pure function of the seed, the partition and the row's position in the
partition (a splitmix64 counter generator), so a task that is retried, or a partition that is
recomputed, gives the same numbers, as in Spark; the numbers themselves are not Spark's (Spark
draws from Java's XORShiftRandom row by row). The current date and time are folded into literals
when the query is optimized, so every row and every partition sees one value, as in Spark.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ember.plan.computed import ComputedExpression, RowPosition

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, partition: int, start: int, count: int) -> np.ndarray:
    """``count`` doubles in [0, 1) for the rows ``start...`` of ``partition``."""
    stream = (seed ^ (partition * 0xD1B54A32D192ED03)) & (2**64 - 1)
    key = _splitmix(np.array([stream], dtype=np.uint64))
    counters = key + (np.arange(start, start + count, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    bits = _splitmix(counters)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def new_seed() -> int:
    """A seed for ``rand()`` without one, fixed when the expression is built (as Spark)."""
    return random.getrandbits(63) - 2**62


class _PartitionDependent(ComputedExpression):
    @property
    def foldable(self) -> bool:
        return False

    @property
    def deterministic(self) -> bool:
        return False

    @property
    def nullable(self) -> bool:
        return False


@dataclass(frozen=True)
class Rand(_PartitionDependent):
    """Uniform doubles in [0, 1), or standard normal ones when ``gaussian``."""

    seed: int
    gaussian: bool = False

    @property
    def dtype(self) -> pa.DataType:
        return pa.float64()

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Array:
        if not self.gaussian:
            return pa.array(uniforms(self.seed, position.partition, position.offset, rows))
        # Box-Muller over two uniforms per row; 1 - u is in (0, 1], so the log is finite.
        u = uniforms(self.seed, position.partition, 2 * position.offset, 2 * rows)
        u1, u2 = 1.0 - u[0::2], u[1::2]
        return pa.array(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))

    def sql(self) -> str:
        return f"{'randn' if self.gaussian else 'rand'}({self.seed})"


@dataclass(frozen=True)
class MonotonicallyIncreasingId(_PartitionDependent):
    """The partition index in the upper 31 bits and the row number within the partition in
    the lower 33, as Spark: increasing and unique, not consecutive."""

    @property
    def dtype(self) -> pa.DataType:
        return pa.int64()

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Array:
        base = (position.partition << 33) + position.offset
        return pa.array(np.arange(base, base + rows, dtype=np.int64))

    def sql(self) -> str:
        return "monotonically_increasing_id()"


@dataclass(frozen=True)
class SparkPartitionId(_PartitionDependent):
    @property
    def dtype(self) -> pa.DataType:
        return pa.int32()

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Scalar:
        return pa.scalar(position.partition, pa.int32())

    def sql(self) -> str:
        return "SPARK_PARTITION_ID()"


@dataclass(frozen=True)
class CurrentTime(ComputedExpression):
    """``current_date()`` or ``current_timestamp()``: folded into a literal at optimization, so
    one query sees one instant. Timestamps are wall-clock time of the session (local) zone."""

    date: bool = False

    @property
    def dtype(self) -> pa.DataType:
        return pa.date32() if self.date else pa.timestamp("us")

    @property
    def nullable(self) -> bool:
        return False

    @property
    def foldable(self) -> bool:
        return True

    def compute(self, args: Sequence[pa.Array], rows: int, position: RowPosition) -> pa.Scalar:
        now = datetime.datetime.now()
        return pa.scalar(now.date() if self.date else now, self.dtype)

    def sql(self) -> str:
        return "current_date()" if self.date else "current_timestamp()"
