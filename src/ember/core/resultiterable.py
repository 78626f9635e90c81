"""``ResultIterable``: the values of one key from ``groupByKey`` and ``cogroup``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class ResultIterable(Iterable[Any]):
    """A re-iterable sequence of values with a length, as PySpark's ``ResultIterable``.

    >>> values = ResultIterable([1, 2, 3])
    >>> len(values), list(values), sum(values)
    (3, [1, 2, 3], 6)
    """

    def __init__(self, data: list[Any]) -> None:
        self.data = data
        self.maxindex = len(data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResultIterable):
            return self.data == other.data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ResultIterable({self.data!r})"
