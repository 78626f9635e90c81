"""``StatCounter``: count, mean, variance, min and max of numbers in one pass.

Partitions are counted separately and merged with Chan et al.'s parallel update of the mean and
the sum of squared deviations, which stays accurate where summing squares would not.

>>> s = StatCounter([1.0, 2.0, 3.0, 4.0])
>>> s.count(), s.mean(), s.variance(), s.sampleVariance(), s.min(), s.max()
(4, 2.5, 1.25, 1.6666666666666667, 1.0, 4.0)
>>> s.mergeStats(StatCounter([5.0])).mean()
3.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class StatCounter:
    def __init__(self, values: Iterable[Any] | None = None) -> None:
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        for v in values or ():
            self.merge(v)

    def merge(self, value: Any) -> StatCounter:
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = max(self.maxValue, value)
        self.minValue = min(self.minValue, value)
        return self

    def mergeStats(self, other: StatCounter) -> StatCounter:
        if other is self:
            return self.mergeStats(other.copy())
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
        else:
            delta = other.mu - self.mu
            total = self.n + other.n
            self.mu += delta * other.n / total
            self.m2 += other.m2 + delta * delta * self.n * other.n / total
            self.n = total
        self.maxValue = max(self.maxValue, other.maxValue)
        self.minValue = min(self.minValue, other.minValue)
        return self

    def copy(self) -> StatCounter:
        out = StatCounter()
        out.n, out.mu, out.m2 = self.n, self.mu, self.m2
        out.maxValue, out.minValue = self.maxValue, self.minValue
        return out

    def count(self) -> int:
        return self.n

    def mean(self) -> float:
        return self.mu if self.n else float("nan")

    def sum(self) -> float:
        return self.n * self.mu

    def min(self) -> float:
        return self.minValue

    def max(self) -> float:
        return self.maxValue

    def variance(self) -> float:
        return self.m2 / self.n if self.n else float("nan")

    def sampleVariance(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else float("nan")

    def stdev(self) -> float:
        return math.sqrt(self.variance())

    def sampleStdev(self) -> float:
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict[str, Any]:
        return {"count": self.count(), "mean": self.mean(), "sum": self.sum(),
                "min": self.min(), "max": self.max(),
                "stdev": self.sampleStdev() if sample else self.stdev(),
                "variance": self.sampleVariance() if sample else self.variance()}

    def __repr__(self) -> str:
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
                f"max: {self.max()}, min: {self.min()})")
