"""The unified memory manager, case by case against Spark's documented behaviour.

Most scenarios use a small manager with M = 1000 and R = 500 bytes, so the numbers can be checked
by hand: the execution and storage pools start at 500 bytes each. Each step feeds one event and
states the exact instructions that must come out.
"""

from __future__ import annotations

import doctest
from collections.abc import Callable
from typing import Any

import pytest

from ember.core.conf import SparkConf
from ember.core.storagelevel import StorageLevel
from ember.errors import IllegalArgumentException
from ember.executor import memory
from ember.executor.memory import (
    MIN_HEAP_BYTES,
    Evict,
    Grant,
    Instruction,
    MemoryLayout,
    Refuse,
    Spill,
    StoreBlock,
    UnifiedMemoryManager,
    Wait,
    Wake,
    executor_heap_bytes,
    pod_memory_bytes,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
MEM_ONLY = StorageLevel.MEMORY_ONLY
MEM_DISK = StorageLevel.MEMORY_AND_DISK

Step = tuple[Callable[[UnifiedMemoryManager], list[Instruction]], list[Instruction]]


# -- a small language for scenarios ---------------------------------------------------------------


def start(*tasks: int) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: [i for t in tasks for i in m.task_started(t)]


def finish(task: int) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.task_finished(task)


def acquire(task: int, nbytes: int) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.acquire_execution(task, nbytes)


def release(task: int, nbytes: int) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.release_execution(task, nbytes)


def cache(
    block: str, nbytes: int, level: StorageLevel = MEM_ONLY
) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.acquire_storage(block, nbytes, level)


def uncache(block: str) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.release_storage(block)


def touch(block: str) -> Callable[[UnifiedMemoryManager], list[Instruction]]:
    return lambda m: m.touch(block)


def run(steps: list[Step], *, max_memory: int = 1000, region: int = 500) -> UnifiedMemoryManager:
    manager = UnifiedMemoryManager(max_memory, region)
    for number, (step, expected) in enumerate(steps):
        got = step(manager)
        assert got == expected, f"step {number}\n\n{manager.format_story(last=15)}"
        assert manager.execution_pool + manager.storage_pool == manager.max_memory
        assert 0 <= manager.execution_used <= manager.execution_pool
        assert 0 <= manager.storage_used <= manager.storage_pool
    return manager


# -- Spark's formulas -----------------------------------------------------------------------------


@pytest.mark.parametrize(("heap", "max_memory", "storage_region"), [
    # (heap - 300 MiB) x 0.6, then x 0.5, truncated to whole bytes as Spark does.
    (1 * GiB, 455_501_414, 227_750_707),
    (4 * GiB, 2_388_236_697, 1_194_118_348),
    (512 * MiB, 133_378_867, 66_689_433),
    (450 * MiB, 94_371_840, 47_185_920),   # the smallest heap accepted
])
def test_layout_follows_sparks_formulas(heap: int, max_memory: int, storage_region: int) -> None:
    layout = MemoryLayout(heap)
    assert layout.usable == heap - 300 * MiB
    assert (layout.max_memory, layout.storage_region) == (max_memory, storage_region)


def test_minimum_heap_is_one_and_a_half_times_the_reserved_memory() -> None:
    assert MIN_HEAP_BYTES == 450 * MiB
    MemoryLayout(450 * MiB)  # exactly the minimum is accepted


@pytest.mark.parametrize("heap", [449 * MiB, 450 * MiB - 1, 300 * MiB, 0])
def test_heap_under_the_minimum_is_refused_naming_the_setting(heap: int) -> None:
    with pytest.raises(IllegalArgumentException) as info:
        MemoryLayout(heap)
    assert "spark.executor.memory" in str(info.value)
    assert "450m" in str(info.value)


@pytest.mark.parametrize(("settings", "max_memory", "storage_region"), [
    ({}, 455_501_414, 227_750_707),
    ({"spark.executor.memory": "2g"}, int((2 * GiB - 300 * MiB) * 0.6),
     int(int((2 * GiB - 300 * MiB) * 0.6) * 0.5)),
    ({"spark.executor.memory": "1g", "spark.memory.fraction": "0.8",
      "spark.memory.storageFraction": "0.3"},
     int((GiB - 300 * MiB) * 0.8), int(int((GiB - 300 * MiB) * 0.8) * 0.3)),
])
def test_layout_from_conf(settings: dict[str, str], max_memory: int, storage_region: int) -> None:
    for conf in (settings, SparkConf(pairs=settings.items())):
        manager = UnifiedMemoryManager.from_conf(conf)
        assert (manager.max_memory, manager.storage_region) == (max_memory, storage_region)
        assert manager.storage_pool == storage_region
        assert manager.execution_pool == max_memory - storage_region


@pytest.mark.parametrize(("settings", "setting"), [
    ({"spark.executor.memory": "449m"}, "spark.executor.memory"),
    ({"spark.executor.memory": "lots"}, "spark.executor.memory"),
    ({"spark.memory.fraction": "0"}, "spark.memory.fraction"),
    ({"spark.memory.fraction": "1.5"}, "spark.memory.fraction"),
    ({"spark.memory.fraction": "most"}, "spark.memory.fraction"),
    ({"spark.memory.storageFraction": "1"}, "spark.memory.storageFraction"),
])
def test_bad_memory_settings_are_refused_naming_the_setting(
    settings: dict[str, str], setting: str
) -> None:
    with pytest.raises(IllegalArgumentException, match=setting):
        MemoryLayout.from_conf(settings)


@pytest.mark.parametrize(("value", "expected"), [
    ("512m", 512 * MiB), ("2g", 2 * GiB), ("1024", GiB), ("1.5g", 3 * GiB // 2),
])
def test_executor_heap_bytes(value: str, expected: int) -> None:
    assert executor_heap_bytes({"spark.executor.memory": value}) == expected


def test_executor_heap_defaults_to_one_gigabyte() -> None:
    assert executor_heap_bytes(SparkConf()) == GiB


@pytest.mark.parametrize(("kwargs", "expected_mib"), [
    ({"memory": "512m"}, 512 + 384),          # 10% is 51 MiB: the 384 MiB floor applies
    ({"memory": "1g"}, 1024 + 384),
    ({"memory": "4g"}, 4096 + 409),           # 10% of 4096 MiB, truncated to whole MiB
    ({"memory": "8g"}, 8192 + 819),
    ({"memory": 2 * GiB, "factor": 0.4}, 2048 + 819),
    ({"memory": "2g", "overhead": "1g"}, 3072),
    ({"memory": "2g", "overhead": "100"}, 2148),  # a bare number is MiB
    ({"memory": 2 * GiB, "overhead": 100 * MiB}, 2148),  # an int is bytes
    ({"memory": "2g", "overhead": 0}, 2048),
])
def test_pod_memory_is_heap_plus_overhead(kwargs: dict[str, Any], expected_mib: int) -> None:
    assert pod_memory_bytes(**kwargs) == expected_mib * MiB


def test_negative_overhead_factor_is_refused() -> None:
    with pytest.raises(IllegalArgumentException, match="spark.executor.memoryOverheadFactor"):
        pod_memory_bytes("1g", factor=-0.1)


def test_docstring_examples() -> None:
    result = doctest.testmod(memory)
    assert result.attempted > 0
    assert result.failed == 0


# -- borrowing and eviction between the pools ----------------------------------------------------

SCENARIOS: dict[str, list[Step]] = {
    "storage borrows free execution memory": [
        (cache("rdd_1_0", 800), [StoreBlock("rdd_1_0", 800)]),
    ],
    "execution takes free storage memory first": [
        (start(1), []),
        (acquire(1, 900), [Grant(1, 900)]),
    ],
    "execution evicts storage borrowed beyond R, least recently used first": [
        (start(1), []),
        (cache("rdd_1_0", 300), [StoreBlock("rdd_1_0", 300)]),
        (cache("rdd_1_1", 300), [StoreBlock("rdd_1_1", 300)]),
        (cache("rdd_1_2", 300), [StoreBlock("rdd_1_2", 300)]),
        (acquire(1, 400), [Evict("rdd_1_0", 300, False), Grant(1, 400)]),
    ],
    "touching a block makes it the last to go": [
        (start(1), []),
        (cache("rdd_1_0", 300), [StoreBlock("rdd_1_0", 300)]),
        (cache("rdd_1_1", 300), [StoreBlock("rdd_1_1", 300)]),
        (cache("rdd_1_2", 300), [StoreBlock("rdd_1_2", 300)]),
        (touch("rdd_1_0"), []),
        (acquire(1, 400), [Evict("rdd_1_1", 300, False), Grant(1, 400)]),
    ],
    "execution evicts whole blocks, and may evict more than it needs": [
        (start(1), []),
        (cache("rdd_1_0", 800, MEM_DISK), [StoreBlock("rdd_1_0", 800)]),
        (acquire(1, 500), [Evict("rdd_1_0", 800, True), Grant(1, 500)]),
    ],
    "storage within R is protected from execution": [
        (start(1), []),
        (cache("rdd_1_0", 250), [StoreBlock("rdd_1_0", 250)]),
        (cache("rdd_1_1", 250), [StoreBlock("rdd_1_1", 250)]),
        (acquire(1, 800), [Grant(1, 500), Spill(1, 300)]),
    ],
    "execution evicts only down to R": [
        (start(1), []),
        (cache("rdd_1_0", 400), [StoreBlock("rdd_1_0", 400)]),
        (cache("rdd_1_1", 200), [StoreBlock("rdd_1_1", 200)]),
        (cache("rdd_1_2", 200), [StoreBlock("rdd_1_2", 200)]),
        # storage holds 800 (300 beyond R); execution wants 600 but can only reach M - R = 500
        (acquire(1, 600), [Evict("rdd_1_0", 400, False), Grant(1, 600)]),
        (acquire(1, 100), [Grant(1, 0), Spill(1, 100)]),
    ],
    "execution memory is never evicted for storage": [
        (start(1), []),
        (acquire(1, 700), [Grant(1, 700)]),
        (cache("rdd_1_0", 400), [Refuse("rdd_1_0", 400, "it needs 400 bytes and at most 300 "
                                        "can be had without evicting execution memory")]),
        (cache("rdd_1_0", 300), [StoreBlock("rdd_1_0", 300)]),
    ],
    "storage evicts other cached blocks in LRU order": [
        (start(1), []),
        (acquire(1, 500), [Grant(1, 500)]),
        (cache("rdd_1_0", 200, MEM_DISK), [StoreBlock("rdd_1_0", 200)]),
        (cache("broadcast_0", 200), [StoreBlock("broadcast_0", 200)]),
        (cache("rdd_2_0", 400), [Evict("rdd_1_0", 200, True), Evict("broadcast_0", 200, False),
                                 StoreBlock("rdd_2_0", 400)]),
        (cache("rdd_2_1", 100), [StoreBlock("rdd_2_1", 100)]),
    ],
    "storage never evicts blocks of the RDD being cached": [
        (start(1), []),
        (acquire(1, 500), [Grant(1, 500)]),
        (cache("rdd_1_0", 300), [StoreBlock("rdd_1_0", 300)]),
        (cache("rdd_1_1", 300), [Refuse("rdd_1_1", 300, "it needs 300 bytes, 200 are free and "
                                        "not enough cached blocks of other datasets can be "
                                        "evicted")]),
        (cache("rdd_3_0", 300), [Evict("rdd_1_0", 300, False), StoreBlock("rdd_3_0", 300)]),
    ],
    "eviction is all or nothing": [
        (start(1), []),
        (acquire(1, 500), [Grant(1, 500)]),
        (cache("rdd_1_0", 100), [StoreBlock("rdd_1_0", 100)]),
        (cache("rdd_2_0", 400), [StoreBlock("rdd_2_0", 400)]),
        # only rdd_1_0 may go for rdd_2_1, and 100 bytes are not enough
        (cache("rdd_2_1", 150), [Refuse("rdd_2_1", 150, "it needs 150 bytes, 0 are free and "
                                        "not enough cached blocks of other datasets can be "
                                        "evicted")]),
    ],
    "MEMORY_AND_DISK blocks go to disk, MEMORY_ONLY blocks are dropped": [
        (cache("rdd_1_0", 250, MEM_DISK), [StoreBlock("rdd_1_0", 250)]),
        (cache("rdd_2_0", 250, MEM_ONLY), [StoreBlock("rdd_2_0", 250)]),
        (cache("rdd_3_0", 500, MEM_ONLY), [StoreBlock("rdd_3_0", 500)]),
        (start(1), []),
        (acquire(1, 1000), [Evict("rdd_1_0", 250, True), Evict("rdd_2_0", 250, False),
                            Grant(1, 500), Spill(1, 500)]),
    ],
    "a released block's memory returns to storage": [
        (cache("rdd_1_0", 900), [StoreBlock("rdd_1_0", 900)]),
        (uncache("rdd_1_0"), []),
        (uncache("rdd_1_0"), []),
        (start(1), []),
        (acquire(1, 1000), [Grant(1, 1000)]),
    ],
    "a level without memory is refused": [
        (cache("rdd_1_0", 10, StorageLevel.DISK_ONLY),
         [Refuse("rdd_1_0", 10, "storage level Disk Serialized 1x Replicated keeps no memory")]),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_pool_scenarios(name: str) -> None:
    run(SCENARIOS[name])


def test_execution_borrowing_shows_in_the_pools() -> None:
    manager = run([(start(1), []), (acquire(1, 900), [Grant(1, 900)])])
    assert (manager.execution_pool, manager.storage_pool) == (900, 100)
    manager.acquire_storage("rdd_1_0", 100, MEM_ONLY)
    metrics = manager.metrics()
    assert (metrics.execution_used, metrics.execution_free) == (900, 0)
    assert (metrics.storage_used, metrics.storage_free) == (100, 0)
    assert metrics.task_usage == {1: 900}
    assert metrics.cached_blocks == 1


# -- fairness between tasks: each of N gets between 1/(2N) and 1/N ------------------------------

FAIRNESS: dict[str, list[Step]] = {
    "one task may take the whole pool, and spills what does not fit": [
        (start(1), []),
        (acquire(1, 1200), [Grant(1, 1000), Spill(1, 200)]),
    ],
    "one task: asking again once full grants nothing and asks for a spill": [
        (start(1), []),
        (acquire(1, 1000), [Grant(1, 1000)]),
        (acquire(1, 10), [Grant(1, 0), Spill(1, 10)]),
    ],
    "two tasks: the second gets a partial grant above 1/(2N) and spills": [
        (start(1, 2), []),
        (acquire(1, 600), [Grant(1, 600)]),
        (acquire(2, 600), [Grant(2, 400), Spill(2, 200)]),
        # task 1 is already above 1/N = 500
        (acquire(1, 100), [Grant(1, 0), Spill(1, 100)]),
    ],
    "two tasks: a task that would stay below 1/(2N) waits until memory is released": [
        (start(1, 2), []),
        (acquire(1, 900), [Grant(1, 900)]),
        (acquire(2, 300), [Wait(2, 300)]),
        (release(1, 100), []),  # 200 free: still below 1/(2N) = 250
        (release(1, 100), [Wake(2), Grant(2, 300)]),
    ],
    "two tasks: a woken task may get a partial grant": [
        (start(1, 2), []),
        (acquire(1, 900), [Grant(1, 900)]),
        (acquire(2, 600), [Wait(2, 600)]),
        (release(1, 300), [Wake(2), Grant(2, 400), Spill(2, 200)]),
    ],
    "two tasks: a finishing task releases its memory and wakes the waiter": [
        (start(1, 2), []),
        (acquire(1, 900), [Grant(1, 900)]),
        (acquire(2, 800), [Wait(2, 800)]),
        (finish(1), [Wake(2), Grant(2, 800)]),  # N is 1 again
    ],
    "four tasks: 1/N = 250 and 1/(2N) = 125": [
        (start(1, 2, 3, 4), []),
        (acquire(1, 400), [Grant(1, 400)]),   # N=1
        (acquire(2, 300), [Grant(2, 300)]),   # N=2, 1/N = 500
        (acquire(3, 200), [Grant(3, 200)]),   # N=3, 1/N = 333
        (acquire(4, 200), [Wait(4, 200)]),    # N=4: 100 free < 125
        (release(1, 50), [Wake(4), Grant(4, 150), Spill(4, 50)]),
        (release(1, 150), []),
        (acquire(4, 200), [Grant(4, 100), Spill(4, 100)]),  # capped at 1/N = 250
    ],
    "four tasks: waiters are retried in the order they began to wait": [
        (start(1, 2, 3, 4), []),
        (acquire(1, 700), [Grant(1, 700)]),
        (acquire(2, 300), [Grant(2, 300)]),
        (acquire(3, 200), [Wait(3, 200)]),    # N=3, 1/(2N) = 166
        (acquire(4, 200), [Wait(4, 200)]),    # N=4, 1/(2N) = 125
        (release(1, 200), [Wake(3), Grant(3, 200)]),
        (release(1, 150), [Wake(4), Grant(4, 150), Spill(4, 50)]),
    ],
    "a task that releases everything no longer counts in N": [
        (start(1, 2), []),
        (acquire(1, 100), [Grant(1, 100)]),
        (acquire(2, 100), [Grant(2, 100)]),
        (release(1, 100), []),
        (acquire(2, 900), [Grant(2, 900)]),   # N=1: task 2 may reach the whole pool
    ],
    "a killed waiter asks for nothing more": [
        (start(1, 2), []),
        (acquire(1, 1000), [Grant(1, 1000)]),
        (acquire(2, 100), [Wait(2, 100)]),
        (finish(2), []),
        (release(1, 500), []),
        (finish(1), []),
    ],
    "a waiter is retried when cached memory is released": [
        (start(1, 2), []),
        (acquire(1, 500), [Grant(1, 500)]),
        (acquire(2, 100), [Grant(2, 100)]),
        (cache("rdd_1_0", 400, MEM_DISK), [StoreBlock("rdd_1_0", 400)]),
        (release(2, 100), []),                # N=1
        # N=2: 100 free, and the 400 cached bytes lie within R, so they cannot be evicted
        (acquire(2, 300), [Wait(2, 300)]),
        (uncache("rdd_1_0"), [Wake(2), Grant(2, 300)]),
    ],
}


@pytest.mark.parametrize("name", sorted(FAIRNESS))
def test_fairness_scenarios(name: str) -> None:
    run(FAIRNESS[name])


def test_waiting_tasks_and_usage_are_reported() -> None:
    manager = run(FAIRNESS["two tasks: a task that would stay below 1/(2N) waits until memory "
                           "is released"][:3])
    assert manager.waiting_tasks == (2,)
    assert manager.task_state(2) == "waiting"
    assert manager.active_tasks == (1, 2)
    assert manager.metrics().task_usage == {1: 900, 2: 0}
    manager.task_finished(1)
    assert manager.waiting_tasks == ()
    assert manager.task_memory(2) == 300
    assert manager.task_memory(1) == 0
    assert manager.task_state(1) is None


def test_release_of_more_than_held_releases_what_is_held() -> None:
    manager = run([(start(1), []), (acquire(1, 300), [Grant(1, 300)]), (release(1, 1000), [])])
    assert manager.execution_used == 0
    assert "asked to release 1000, held 300" in manager.format_story()


def test_story_is_bounded_and_names_events() -> None:
    manager = UnifiedMemoryManager(1000, 500, story_size=5)
    manager.task_started(1, event_id="ev-start")
    for _ in range(10):
        manager.acquire_execution(1, 1)
    assert len(manager.story) == 5
    manager.release_execution(1, 10, event_id="ev-release")
    assert manager.story[-1][0] == "ev-release"


@pytest.mark.parametrize(("steps", "error"), [
    ([acquire(1, 10)], "send task_started"),
    ([start(1), acquire(1, 0)], "at least 1"),
    ([start(1), start(1)], "started twice"),
    ([start(1, 2), acquire(1, 1000), acquire(2, 10), acquire(2, 10)], "while waiting"),
    ([cache("rdd_1_0", 10), cache("rdd_1_0", 10)], "already in memory"),
])
def test_caller_mistakes_are_refused(steps: list[Any], error: str) -> None:
    manager = UnifiedMemoryManager(1000, 500)
    with pytest.raises(ValueError, match=error):
        for step in steps:
            step(manager)


def test_manager_from_a_real_heap() -> None:
    manager = UnifiedMemoryManager.from_layout(MemoryLayout(GiB))
    manager.task_started(7)
    (grant,) = manager.acquire_execution(7, 300 * MiB)
    assert grant == Grant(7, 300 * MiB)
    assert manager.storage_pool == 455_501_414 - 300 * MiB
