"""The driver's view of cached data: where every block lives, and which datasets are cached.

`BlockManagerMaster` is updated by the executors' reports (a block stored or removed) and by
executor loss, which forgets every block the executor held. `CacheManager` keeps the persisted
DataFrame plans, so that any later plan containing one reads the cache instead (matched by the
analyzed plan's text, which names every attribute by its unique id), and snapshots each cached
dataset's blocks when a job is planned.

Neither does I/O: the runtime tells executors to remove blocks.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ember.core.storagelevel import StorageLevel

_RDD_BLOCK = re.compile(r"rdd_(\d+)_(\d+)")


def block_id(rdd_id: int, partition: int) -> str:
    return f"rdd_{rdd_id}_{partition}"


@dataclass(frozen=True)
class CacheSnapshot:
    """What a job planned now knows of one cached dataset."""

    cache_id: int
    level: StorageLevel
    num_partitions: int | None
    # Per partition: (executor id, address) of the executors holding it.
    locations: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def complete(self) -> bool:
        return self.num_partitions is not None and all(self.locations)


class BlockManagerMaster:
    """Which executor holds each block; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._where: dict[str, dict[str, int]] = {}  # block -> executor -> size
        self._partitions: dict[int, int] = {}  # rdd id -> partitions, as tasks reported
        self._addresses: dict[str, str] = {}

    def executor_added(self, executor_id: str, address: str) -> None:
        with self._lock:
            self._addresses[executor_id] = address

    def block_stored(self, executor_id: str, block: str, size: int, *,
                     num_partitions: int | None = None) -> None:
        with self._lock:
            self._where.setdefault(block, {})[executor_id] = size
            m = _RDD_BLOCK.fullmatch(block)
            if m and num_partitions is not None:
                self._partitions[int(m.group(1))] = num_partitions

    def block_removed(self, executor_id: str, block: str) -> None:
        with self._lock:
            holders = self._where.get(block)
            if holders is not None:
                holders.pop(executor_id, None)
                if not holders:
                    del self._where[block]

    def executor_lost(self, executor_id: str) -> list[str]:
        """Forget the executor and its blocks; the blocks it held."""
        lost: list[str] = []
        with self._lock:
            self._addresses.pop(executor_id, None)
            for block in list(self._where):
                holders = self._where[block]
                if holders.pop(executor_id, None) is not None:
                    lost.append(block)
                    if not holders:
                        del self._where[block]
        return lost

    def locations(self, block: str) -> list[str]:
        with self._lock:
            return sorted(self._where.get(block, {}))

    def snapshot(self, cache_id: int, level: StorageLevel) -> CacheSnapshot:
        with self._lock:
            n = self._partitions.get(cache_id)
            locations: list[tuple[tuple[str, str], ...]] = []
            for p in range(n or 0):
                holders = self._where.get(block_id(cache_id, p), {})
                locations.append(tuple((e, self._addresses.get(e, "")) for e in sorted(holders)
                                       if e in self._addresses))
        return CacheSnapshot(cache_id, level, n, tuple(locations))

    def remove_rdd(self, rdd_id: int) -> set[str]:
        """Forget every block of one dataset; the executors that held some."""
        prefix = f"rdd_{rdd_id}_"
        executors: set[str] = set()
        with self._lock:
            for block in [b for b in self._where if b.startswith(prefix)]:
                executors |= set(self._where.pop(block))
            self._partitions.pop(rdd_id, None)
        return executors

    def blocks(self) -> dict[str, list[str]]:
        with self._lock:
            return {b: sorted(h) for b, h in self._where.items()}


@dataclass
class CachedPlan:
    cache_id: int
    key: str
    level: StorageLevel
    plan: object  # the analyzed LogicalPlan
    # Gives the entry a new id when its blocks must all be computed again.
    new_id: Callable[[], int] | None = None


@dataclass
class CacheManager:
    """Persisted DataFrame plans, found by their analyzed plan's text."""

    entries: dict[str, CachedPlan] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, cache_id: int, level: StorageLevel, plan: object, *,
            new_id: Callable[[], int] | None = None) -> CachedPlan:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = CachedPlan(cache_id, key, level, plan, new_id)
            return entry

    def lookup(self, key: str) -> CachedPlan | None:
        with self.lock:
            return self.entries.get(key)

    def remove(self, key: str) -> CachedPlan | None:
        with self.lock:
            return self.entries.pop(key, None)

    def clear(self) -> list[CachedPlan]:
        with self.lock:
            out = list(self.entries.values())
            self.entries.clear()
            return out

    def __bool__(self) -> bool:
        return bool(self.entries)
