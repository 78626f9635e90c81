"""The executor's memory pool with real threads: waits, partial grants, evictions."""

from __future__ import annotations

import threading
import time

from ember.core.storagelevel import StorageLevel
from ember.executor.memory import Evict, MemoryLayout, UnifiedMemoryManager
from ember.executor.memory_pool import MemoryPool, TaskMemory

MiB = 1024 * 1024


def pool(heap_mib: int = 500, **kwargs: object) -> MemoryPool:
    layout = MemoryLayout(heap=heap_mib * MiB)
    return MemoryPool(UnifiedMemoryManager.from_layout(layout), **kwargs)  # type: ignore[arg-type]


def test_a_lone_task_gets_what_it_asks_up_to_the_pool() -> None:
    p = pool()
    p.task_started(1)
    memory = TaskMemory(p, 1)
    everything = p.metrics().max_memory  # execution may take back free storage memory
    assert memory.reserve(10 * MiB) and memory.held == 10 * MiB
    assert not memory.reserve(everything)  # more than is free: nothing, the caller spills
    assert memory.held == 10 * MiB
    assert p.metrics().execution_used == 10 * MiB
    memory.release_all()
    assert p.metrics().execution_used == 0


def test_a_task_below_its_minimum_share_waits_for_memory_to_be_released() -> None:
    p = pool()
    everything = p.metrics().max_memory
    p.task_started(1)
    first = TaskMemory(p, 1)
    assert first.reserve(everything)  # all of it, while alone
    p.task_started(2)
    second = TaskMemory(p, 2)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.reserve(MiB)))
    waiter.start()
    time.sleep(0.2)
    assert got == [] and waiter.is_alive()  # it waits: it has less than 1/(2N) of the pool
    first.release(everything // 2)
    waiter.join(timeout=5)
    assert got == [True]
    assert second.held == MiB


def test_execution_evicts_cached_blocks_above_the_storage_region() -> None:
    evicted: list[Evict] = []
    p = pool(on_evict=evicted.append)
    metrics = p.metrics()
    # Storage borrows all free execution memory...
    assert p.acquire_storage("rdd_1_0", metrics.max_memory, StorageLevel.MEMORY_AND_DISK)
    p.task_started(7)
    # ...and execution takes back what is above the storage region R.
    assert TaskMemory(p, 7).reserve(MiB)
    assert [(e.block, e.to_disk) for e in evicted] == [("rdd_1_0", True)]


def test_without_a_pool_every_reservation_succeeds() -> None:
    memory = TaskMemory(None, 3)
    assert memory.reserve(1 << 40)


def test_a_tasks_share_is_its_fair_part_of_what_execution_can_use() -> None:
    p = pool()
    everything = p.metrics().max_memory
    first, second = TaskMemory(p, 1), TaskMemory(p, 2)
    p.task_started(1)
    assert first.share() == everything
    assert first.reserve(MiB)  # active from its first request, as in Spark
    p.task_started(2)
    assert second.share() == everything // 2
    assert second.reserve(MiB)
    # Cached blocks inside the storage region are not execution's to take.
    assert p.acquire_storage("rdd_1_0", 40 * MiB, StorageLevel.MEMORY_ONLY)
    assert TaskMemory(p, 1).share() == (everything - 40 * MiB) // 2
    assert TaskMemory(None, 3).share() is None
