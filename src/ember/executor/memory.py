"""The executor's unified memory manager: Spark's UnifiedMemoryManager as a sans-IO machine.

The heap given by ``spark.executor.memory`` is split with Spark's formulas (`MemoryLayout`):

=================  ==============================================================
quantity           value
=================  ==============================================================
reserved           300 MiB; a heap under 1.5 x reserved (450 MiB) is refused
M (usable)         (heap - reserved) x ``spark.memory.fraction`` (0.6)
R (storage region) M x ``spark.memory.storageFraction`` (0.5)
=================  ==============================================================

M is shared by two pools whose sizes always add up to M. The storage pool starts at R and the
execution pool at M - R; the boundary moves:

* storage may borrow execution memory that is free, but never evicts execution memory;
* execution may take back free storage memory, and evict cached blocks as long as storage keeps
  R (cached blocks within R are protected from execution);
* when storage runs out it evicts other cached blocks in least-recently-used order, never blocks
  of the RDD being cached, and only if enough can be freed for the new block.

Execution memory is shared fairly between the N *active* tasks (as in Spark, a task is active from
its first request for execution memory until it holds none or finishes): a task may hold at most
1/N of the execution pool, and is guaranteed 1/(2N) before it must spill. A request that cannot
lift the task to 1/(2N) makes it wait (`Wait`) until memory is released or N changes, when it is
retried (`Wake`, then `Grant`). Otherwise the task is granted what is free up to its 1/N share
(`Grant`); if that is less than it asked for it should spill the rest (`Spill`).

The executor feeds events (`TaskStarted`, `AcquireExecution`, `AcquireStorage`, ...) through
`UnifiedMemoryManager.handle` or the matching methods, and carries out the instructions that come
back. Blocks named in `Evict` are already gone from the memory accounts: the block manager writes
them to disk when their level allows it (MEMORY_AND_DISK) and drops them otherwise (MEMORY_ONLY,
recomputed from lineage when needed). Nothing here reads a clock, sleeps, locks or does I/O.

The module also maps settings to sizes: `executor_heap_bytes` reads ``spark.executor.memory``
and `pod_memory_bytes` gives the memory of an executor pod, heap plus overhead, as the
Kubernetes backend requests and limits it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ember.core.conf import SparkConf, parse_bytes
from ember.core.storagelevel import StorageLevel
from ember.errors import IllegalArgumentException
from ember.scheduler import events
from ember.scheduler.events import InvalidTransition

__all__ = [
    "RESERVED_BYTES", "MIN_HEAP_BYTES", "MIN_OVERHEAD_BYTES",
    "MemoryLayout", "UnifiedMemoryManager", "MemoryMetrics",
    "executor_heap_bytes", "pod_memory_bytes",
    "TaskStarted", "TaskFinished", "AcquireExecution", "ReleaseExecution",
    "AcquireStorage", "ReleaseStorage", "TouchBlock",
    "Instruction", "Grant", "Wait", "Wake", "Spill", "StoreBlock", "Evict", "Refuse",
]

MiB = 1024 * 1024
RESERVED_BYTES = 300 * MiB
MIN_HEAP_BYTES = RESERVED_BYTES * 3 // 2
MIN_OVERHEAD_BYTES = 384 * MiB

ConfLike = SparkConf | Mapping[str, str]


def _format_size(n: int) -> str:
    if n % (1024 * MiB) == 0:
        return f"{n // (1024 * MiB)}g"
    if n % MiB == 0:
        return f"{n // MiB}m"
    return f"{n} bytes"


def _conf_get(conf: ConfLike, key: str, default: str) -> str:
    value = conf.get(key, default)
    return default if value is None else str(value)


# -- sizes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryLayout:
    """How a heap divides into reserved memory, M (usable) and R (the storage region).

    >>> layout = MemoryLayout(heap=1024 * 1024 * 1024)
    >>> layout.max_memory, layout.storage_region
    (455501414, 227750707)
    """

    heap: int
    fraction: float = 0.6
    storage_fraction: float = 0.5
    reserved: int = RESERVED_BYTES

    def __post_init__(self) -> None:
        minimum = -(-self.reserved * 3 // 2)  # ceil(1.5 x reserved), as Spark computes it
        if self.heap < minimum:
            msg = (
                f"executor memory {_format_size(self.heap)} ({self.heap} bytes) is below the "
                f"minimum of {_format_size(minimum)} ({minimum} bytes): "
                f"{_format_size(self.reserved)} is reserved and the rest must leave room to work"
                f"\n\nset spark.executor.memory to at least {_format_size(minimum)}"
            )
            raise IllegalArgumentException(msg)
        if not 0 < self.fraction <= 1:
            msg = (f"spark.memory.fraction must be in (0, 1], got {self.fraction}\n\n"
                   "leave it at 0.6 unless you know why")
            raise IllegalArgumentException(msg)
        if not 0 <= self.storage_fraction < 1:
            msg = (f"spark.memory.storageFraction must be in [0, 1), got {self.storage_fraction}"
                   "\n\nleave it at 0.5 unless you know why")
            raise IllegalArgumentException(msg)

    @classmethod
    def from_conf(cls, conf: ConfLike) -> MemoryLayout:
        """The layout for ``spark.executor.memory``, ``spark.memory.fraction`` and
        ``spark.memory.storageFraction``."""
        return cls(
            heap=executor_heap_bytes(conf),
            fraction=_conf_float(conf, "spark.memory.fraction", "0.6"),
            storage_fraction=_conf_float(conf, "spark.memory.storageFraction", "0.5"),
        )

    @property
    def usable(self) -> int:
        return self.heap - self.reserved

    @property
    def max_memory(self) -> int:
        """M: the memory execution and storage share (truncated to whole bytes, as in Spark)."""
        return int(self.usable * self.fraction)

    @property
    def storage_region(self) -> int:
        """R: the part of M where cached blocks are safe from eviction by execution."""
        return int(self.max_memory * self.storage_fraction)


def _conf_float(conf: ConfLike, key: str, default: str) -> float:
    value = _conf_get(conf, key, default)
    try:
        return float(value)
    except ValueError:
        msg = f"{key} must be a number, got {value!r}\n\nuse e.g. {default}"
        raise IllegalArgumentException(msg) from None


def executor_heap_bytes(conf: ConfLike) -> int:
    """``spark.executor.memory`` in bytes; a bare number means MiB, as in Spark.

    >>> executor_heap_bytes({"spark.executor.memory": "512m"})
    536870912
    """
    value = _conf_get(conf, "spark.executor.memory", "1g")
    return parse_bytes(value, key="spark.executor.memory", default_unit="m")


def pod_memory_bytes(
    memory: int | str,
    overhead: int | str | None = None,
    factor: float = 0.1,
    *,
    minimum_overhead: int = MIN_OVERHEAD_BYTES,
) -> int:
    """The memory of an executor pod (its request and its limit): heap plus overhead.

    Without an explicit ``overhead`` (``spark.executor.memoryOverhead``) it is
    max(384 MiB, ``factor`` x memory), counted in whole MiB as Spark does; ``factor`` is
    ``spark.executor.memoryOverheadFactor``. Strings are Spark sizes, a bare number meaning MiB.

    >>> pod_memory_bytes("512m") // (1024 * 1024), pod_memory_bytes("4g") // (1024 * 1024)
    (896, 4505)
    """
    heap = _size(memory, "spark.executor.memory")
    if overhead is not None:
        extra = _size(overhead, "spark.executor.memoryOverhead")
    else:
        if factor < 0:
            msg = (f"spark.executor.memoryOverheadFactor must not be negative, got {factor}"
                   "\n\nuse e.g. 0.1")
            raise IllegalArgumentException(msg)
        extra = max(minimum_overhead, int(factor * (heap // MiB)) * MiB)
    return heap + extra


def _size(value: int | str, key: str) -> int:
    size = value if isinstance(value, int) else parse_bytes(value, key=key, default_unit="m")
    if size < 0:
        msg = f"{key} must not be negative, got {value!r}\n\nuse e.g. 512m or 2g"
        raise IllegalArgumentException(msg)
    return size


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str


@dataclass(frozen=True)
class TaskStarted(Event):
    task: int


@dataclass(frozen=True)
class TaskFinished(Event):
    """The task ended (succeeded, failed or killed): all its execution memory is released."""

    task: int


@dataclass(frozen=True)
class AcquireExecution(Event):
    task: int
    nbytes: int


@dataclass(frozen=True)
class ReleaseExecution(Event):
    task: int
    nbytes: int


@dataclass(frozen=True)
class AcquireStorage(Event):
    """Room for a block of ``level`` (a broadcast piece or a cached partition) in memory."""

    block: str
    nbytes: int
    level: StorageLevel


@dataclass(frozen=True)
class ReleaseStorage(Event):
    block: str


@dataclass(frozen=True)
class TouchBlock(Event):
    """A cached block was read: it becomes the most recently used."""

    block: str


# -- instructions ---------------------------------------------------------------------------------


class Instruction:
    pass


@dataclass(frozen=True)
class Grant(Instruction):
    """The task may use ``nbytes`` more execution memory (possibly fewer than it asked for)."""

    task: int
    nbytes: int


@dataclass(frozen=True)
class Wait(Instruction):
    """The task must block until `Wake`: its request cannot lift it to 1/(2N) of the pool."""

    task: int
    requested: int


@dataclass(frozen=True)
class Wake(Instruction):
    """A waiting task's request was retried and decided; the `Grant` that follows answers it."""

    task: int


@dataclass(frozen=True)
class Spill(Instruction):
    """The task was granted less than it asked for: it should spill ``nbytes`` to disk."""

    task: int
    nbytes: int


@dataclass(frozen=True)
class StoreBlock(Instruction):
    block: str
    nbytes: int


@dataclass(frozen=True)
class Evict(Instruction):
    """The block no longer has memory: write it to disk if ``to_disk``, else drop it."""

    block: str
    nbytes: int
    to_disk: bool


@dataclass(frozen=True)
class Refuse(Instruction):
    """The block cannot be kept in memory (the block manager stores it on disk or drops it)."""

    block: str
    nbytes: int
    reason: str


@dataclass(frozen=True)
class MemoryMetrics:
    """A snapshot of the pools, for executor metrics."""

    max_memory: int
    storage_region: int
    execution_pool: int
    execution_used: int
    storage_pool: int
    storage_used: int
    task_usage: Mapping[int, int]
    waiting_tasks: tuple[int, ...]
    cached_blocks: int

    @property
    def execution_free(self) -> int:
        return self.execution_pool - self.execution_used

    @property
    def storage_free(self) -> int:
        return self.storage_pool - self.storage_used


# -- the machine ----------------------------------------------------------------------------------

RUNNING = "running"
WAITING = "waiting"
FINISHED = "finished"

_RDD_BLOCK = re.compile(r"rdd_(\d+)_\d+")


@dataclass(frozen=True)
class _Block:
    nbytes: int
    to_disk: bool
    rdd_id: int | None


class UnifiedMemoryManager:
    """Accounts an executor's execution and storage memory, as Spark's UnifiedMemoryManager.

    ``max_memory`` is M and ``storage_region`` is R; `from_layout` and `from_conf` derive them
    from the heap. A task is in one of two states while it runs, *running* or *waiting* (for
    execution memory), and moves along ``_TASK_TRANSITIONS``.
    """

    _TASK_TRANSITIONS: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        (RUNNING, WAITING),   # a request could not lift the task to 1/(2N)
        (WAITING, RUNNING),   # a retried request was granted
        (RUNNING, FINISHED),
        (WAITING, FINISHED),  # killed while waiting
    })

    def __init__(
        self, max_memory: int, storage_region: int, *, story_size: int = events.STORY_SIZE
    ) -> None:
        if not 0 <= storage_region <= max_memory:
            msg = (f"the storage region ({storage_region} bytes) must lie within the usable "
                   f"memory ({max_memory} bytes)")
            raise ValueError(msg)
        self.max_memory = max_memory
        self.storage_region = storage_region
        self._storage_pool = storage_region
        self._execution_pool = max_memory - storage_region
        self._tasks: dict[int, str] = {}
        # Execution memory held by each active task, in order of first request (Spark's
        # memoryForTask): the N of the fairness rule is its length.
        self._task_memory: dict[int, int] = {}
        self._waiting: dict[int, int] = {}  # task -> bytes requested, in order of waiting
        self._blocks: OrderedDict[str, _Block] = OrderedDict()  # least recently used first
        self._storage_used = 0
        self.story: events.Story = events.new_story(story_size)
        self._ids = events.EventIds("mem")

    @classmethod
    def from_layout(cls, layout: MemoryLayout, **kwargs: Any) -> UnifiedMemoryManager:
        return cls(layout.max_memory, layout.storage_region, **kwargs)

    @classmethod
    def from_conf(cls, conf: ConfLike, **kwargs: Any) -> UnifiedMemoryManager:
        return cls.from_layout(MemoryLayout.from_conf(conf), **kwargs)

    # -- public API: each method builds an event and handles it ----------------------------------

    def task_started(self, task: int, *, event_id: str | None = None) -> list[Instruction]:
        return self.handle(TaskStarted(task, event_id=self._ids.resolve(event_id)))

    def task_finished(self, task: int, *, event_id: str | None = None) -> list[Instruction]:
        return self.handle(TaskFinished(task, event_id=self._ids.resolve(event_id)))

    def acquire_execution(
        self, task: int, nbytes: int, *, event_id: str | None = None
    ) -> list[Instruction]:
        return self.handle(AcquireExecution(task, nbytes, event_id=self._ids.resolve(event_id)))

    def release_execution(
        self, task: int, nbytes: int, *, event_id: str | None = None
    ) -> list[Instruction]:
        return self.handle(ReleaseExecution(task, nbytes, event_id=self._ids.resolve(event_id)))

    def acquire_storage(
        self, block: str, nbytes: int, level: StorageLevel, *, event_id: str | None = None
    ) -> list[Instruction]:
        event = AcquireStorage(block, nbytes, level, event_id=self._ids.resolve(event_id))
        return self.handle(event)

    def release_storage(self, block: str, *, event_id: str | None = None) -> list[Instruction]:
        return self.handle(ReleaseStorage(block, event_id=self._ids.resolve(event_id)))

    def touch(self, block: str, *, event_id: str | None = None) -> list[Instruction]:
        return self.handle(TouchBlock(block, event_id=self._ids.resolve(event_id)))

    def handle(self, event: Event) -> list[Instruction]:
        """Apply one event and return the instructions it produces, in order.

        After the event itself, requests that were already waiting are retried in the order they
        began to wait, since the event may have released memory or changed N.
        """
        handler = self._EVENT_HANDLERS.get(type(event))
        if handler is None:
            msg = f"the memory manager does not handle {type(event).__name__} events"
            raise TypeError(msg)
        waiting_before = list(self._waiting)
        out = handler(self, event)
        return out + self._retry_waiting(waiting_before, event.event_id)

    # -- queries --------------------------------------------------------------------------------

    @property
    def execution_pool(self) -> int:
        return self._execution_pool

    @property
    def execution_used(self) -> int:
        return sum(self._task_memory.values())

    @property
    def execution_free(self) -> int:
        return self._execution_pool - self.execution_used

    @property
    def storage_pool(self) -> int:
        return self._storage_pool

    @property
    def storage_used(self) -> int:
        return self._storage_used

    @property
    def storage_free(self) -> int:
        return self._storage_pool - self._storage_used

    @property
    def active_tasks(self) -> tuple[int, ...]:
        """The tasks counted in N: holding or asking for execution memory."""
        return tuple(self._task_memory)

    @property
    def waiting_tasks(self) -> tuple[int, ...]:
        return tuple(self._waiting)

    @property
    def cached_blocks(self) -> tuple[str, ...]:
        """Blocks held in memory, least recently used first."""
        return tuple(self._blocks)

    def task_memory(self, task: int) -> int:
        return self._task_memory.get(task, 0)

    def task_state(self, task: int) -> str | None:
        return self._tasks.get(task)

    def metrics(self) -> MemoryMetrics:
        return MemoryMetrics(
            max_memory=self.max_memory,
            storage_region=self.storage_region,
            execution_pool=self._execution_pool,
            execution_used=self.execution_used,
            storage_pool=self._storage_pool,
            storage_used=self._storage_used,
            task_usage=dict(self._task_memory),
            waiting_tasks=self.waiting_tasks,
            cached_blocks=len(self._blocks),
        )

    def format_story(self, *, last: int | None = None) -> str:
        return events.format_story(self.story, last=last)

    # -- event handlers -------------------------------------------------------------------------

    def _on_task_started(self, event: TaskStarted) -> list[Instruction]:
        if event.task in self._tasks:
            msg = f"task {event.task} started twice\n\ngive every task attempt a new id"
            raise ValueError(msg)
        self._tasks[event.task] = RUNNING
        self._record(event.event_id, f"task {event.task} started")
        return []

    def _on_task_finished(self, event: TaskFinished) -> list[Instruction]:
        task = event.task
        if task not in self._tasks:
            self._record(event.event_id, f"task {task} finished: unknown or already finished")
            return []
        held = self._task_memory.pop(task, 0)
        self._waiting.pop(task, None)
        self._transition(task, FINISHED, event.event_id)
        del self._tasks[task]  # finished tasks are forgotten, so long-lived executors stay small
        self._record(event.event_id, f"task {task} finished, released {held} bytes of execution")
        return []

    def _on_acquire_execution(self, event: AcquireExecution) -> list[Instruction]:
        task, nbytes = event.task, event.nbytes
        self._check_known(task)
        if nbytes <= 0:
            msg = f"task {task} asked for {nbytes} bytes of execution memory; ask for at least 1"
            raise ValueError(msg)
        state = self._tasks[task]
        if state != RUNNING:
            msg = (f"task {task} asked for execution memory while {state}\n\n"
                   f"recent story:\n{self.format_story(last=30)}")
            raise ValueError(msg)
        # Spark registers a task on its first request, which changes N for everyone.
        self._task_memory.setdefault(task, 0)
        out, granted = self._try_execution(task, nbytes, event.event_id)
        if granted is None:
            self._waiting[task] = nbytes
            self._transition(task, WAITING, event.event_id)
            return [*out, Wait(task, nbytes)]
        return out + self._grant(task, nbytes, granted)

    def _on_release_execution(self, event: ReleaseExecution) -> list[Instruction]:
        task, nbytes = event.task, event.nbytes
        held = self._task_memory.get(task, 0)
        released = min(max(nbytes, 0), held)
        note = "" if released == nbytes else f" (asked to release {nbytes}, held {held})"
        if task in self._task_memory:
            self._task_memory[task] = held - released
            if self._task_memory[task] == 0:
                del self._task_memory[task]  # no longer counted in N, as in Spark
        self._record(event.event_id, f"task {task} released {released} bytes{note}")
        return []

    def _on_acquire_storage(self, event: AcquireStorage) -> list[Instruction]:
        block, nbytes, eid = event.block, event.nbytes, event.event_id
        if block in self._blocks:
            msg = f"block {block} is already in memory\n\nrelease it before storing it again"
            raise ValueError(msg)
        if nbytes < 0:
            msg = f"block {block} has a negative size ({nbytes} bytes)"
            raise ValueError(msg)
        if not event.level.useMemory:
            return self._refuse(block, nbytes, f"storage level {event.level} keeps no memory", eid)
        limit = self.max_memory - self.execution_used
        if nbytes > limit:
            return self._refuse(
                block, nbytes, f"it needs {nbytes} bytes and at most {limit} can be had "
                "without evicting execution memory", eid)
        if nbytes > self.storage_free:
            borrowed = min(self.execution_free, nbytes - self.storage_free)
            self._move_to_storage(borrowed, eid)
        out: list[Instruction] = []
        shortfall = nbytes - self.storage_free
        if shortfall > 0:
            rdd_id = _rdd_of(block)
            out = self._evict(shortfall, eid, spare=lambda b: rdd_id is not None
                              and b.rdd_id == rdd_id)
        if nbytes > self.storage_free:
            return self._refuse(
                block, nbytes, f"it needs {nbytes} bytes, {self.storage_free} are free and not "
                "enough cached blocks of other datasets can be evicted", eid)
        self._blocks[block] = _Block(nbytes, event.level.useDisk, _rdd_of(block))
        self._storage_used += nbytes
        self._record(eid, f"block {block} stored ({nbytes} bytes)")
        return [*out, StoreBlock(block, nbytes)]

    def _on_release_storage(self, event: ReleaseStorage) -> list[Instruction]:
        entry = self._blocks.pop(event.block, None)
        if entry is None:
            self._record(event.event_id, f"block {event.block} released: not in memory")
            return []
        self._storage_used -= entry.nbytes
        self._record(event.event_id, f"block {event.block} released ({entry.nbytes} bytes)")
        return []

    def _on_touch(self, event: TouchBlock) -> list[Instruction]:
        if event.block in self._blocks:
            self._blocks.move_to_end(event.block)
        return []

    _EVENT_HANDLERS: ClassVar[dict[type, Callable[..., list[Instruction]]]] = {
        TaskStarted: _on_task_started,
        TaskFinished: _on_task_finished,
        AcquireExecution: _on_acquire_execution,
        ReleaseExecution: _on_release_execution,
        AcquireStorage: _on_acquire_storage,
        ReleaseStorage: _on_release_storage,
        TouchBlock: _on_touch,
    }

    # -- execution ------------------------------------------------------------------------------

    def _try_execution(
        self, task: int, nbytes: int, eid: str
    ) -> tuple[list[Instruction], int | None]:
        """One pass of Spark's ExecutionMemoryPool.acquireMemory loop: the evictions it caused
        and the bytes granted, or None when the task must wait."""
        n = len(self._task_memory)
        current = self._task_memory[task]
        out = self._grow_execution_pool(nbytes - self.execution_free, eid)
        # Execution may grow up to M minus the storage it cannot evict.
        max_pool = self.max_memory - min(self._storage_used, self.storage_region)
        max_per_task = max_pool // n
        min_per_task = self._execution_pool // (2 * n)
        to_grant = min(nbytes, max(0, max_per_task - current), self.execution_free)
        if to_grant < nbytes and current + to_grant < min_per_task:
            self._record(eid, f"task {task} waits for {nbytes} bytes: it holds {current}, "
                              f"{self.execution_free} are free and 1/(2N) is {min_per_task} "
                              f"with N={n}")
            return out, None
        self._task_memory[task] = current + to_grant
        self._record(eid, f"task {task} granted {to_grant} of {nbytes} bytes (holds "
                          f"{current + to_grant}, 1/N is {max_per_task} with N={n})")
        return out, to_grant

    def _grant(self, task: int, requested: int, granted: int) -> list[Instruction]:
        out: list[Instruction] = [Grant(task, granted)]
        if granted < requested:
            out.append(Spill(task, requested - granted))
        return out

    def _retry_waiting(self, tasks: list[int], eid: str) -> list[Instruction]:
        out: list[Instruction] = []
        for task in tasks:
            requested = self._waiting.get(task)
            if requested is None:  # finished meanwhile
                continue
            evicted, granted = self._try_execution(task, requested, eid)
            out += evicted
            if granted is not None:
                del self._waiting[task]
                self._transition(task, RUNNING, eid)
                out += [Wake(task), *self._grant(task, requested, granted)]
        return out

    def _grow_execution_pool(self, extra: int, eid: str) -> list[Instruction]:
        """Take back storage memory for execution: free storage memory, then cached blocks
        beyond the storage region R."""
        if extra <= 0:
            return []
        reclaimable = max(self.storage_free, self._storage_pool - self.storage_region)
        if reclaimable <= 0:
            return []
        wanted = min(extra, reclaimable)
        from_free = min(wanted, self.storage_free)
        freed_before = self.storage_free
        out: list[Instruction] = []
        if wanted > from_free:
            out = self._evict(wanted - from_free, eid)
        evicted = self.storage_free - freed_before
        moved = from_free + evicted
        self._storage_pool -= moved
        self._execution_pool += moved
        self._record(eid, f"execution took {moved} bytes from storage "
                          f"({evicted} by evicting {len(out)} blocks)")
        return out

    def _move_to_storage(self, nbytes: int, eid: str) -> None:
        if nbytes > 0:
            self._execution_pool -= nbytes
            self._storage_pool += nbytes
            self._record(eid, f"storage borrowed {nbytes} free bytes from execution")

    # -- storage --------------------------------------------------------------------------------

    def _evict(
        self, space: int, eid: str, *, spare: Callable[[_Block], bool] = lambda b: False
    ) -> list[Instruction]:
        """Evict least recently used blocks to free ``space`` bytes: all of them, or none when
        not enough can be freed (as Spark's MemoryStore.evictBlocksToFreeSpace)."""
        chosen: list[str] = []
        freed = 0
        for block, entry in self._blocks.items():
            if freed >= space:
                break
            if spare(entry):
                continue
            chosen.append(block)
            freed += entry.nbytes
        if freed < space:
            self._record(eid, f"cannot free {space} bytes of storage: only {freed} evictable")
            return []
        out: list[Instruction] = []
        for block in chosen:
            entry = self._blocks.pop(block)
            self._storage_used -= entry.nbytes
            out.append(Evict(block, entry.nbytes, entry.to_disk))
            where = "to disk" if entry.to_disk else "dropped"
            self._record(eid, f"block {block} evicted ({entry.nbytes} bytes, {where})")
        return out

    def _refuse(self, block: str, nbytes: int, reason: str, eid: str) -> list[Instruction]:
        self._record(eid, f"block {block} refused: {reason}")
        return [Refuse(block, nbytes, reason)]

    # -- helpers --------------------------------------------------------------------------------

    def _check_known(self, task: int) -> None:
        if task not in self._tasks:
            msg = (f"task {task} is unknown to the memory manager\n\n"
                   "send task_started before its requests")
            raise ValueError(msg)

    def _transition(self, task: int, finish: str, eid: str) -> None:
        start = self._tasks[task]
        if (start, finish) not in self._TASK_TRANSITIONS:
            raise InvalidTransition(f"task {task}", start, finish, self.story)
        self._tasks[task] = finish
        self._record(eid, f"task {task}: {start} -> {finish}")

    def _record(self, event_id: str, what: str) -> None:
        self.story.append((event_id, what))


def _rdd_of(block: str) -> int | None:
    m = _RDD_BLOCK.fullmatch(block)
    return int(m.group(1)) if m else None
