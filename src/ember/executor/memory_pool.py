"""The executor's memory as task threads use it: the sans-IO `UnifiedMemoryManager` behind a lock.

`MemoryPool` feeds the manager the events of concurrent tasks and carries out its instructions:
a `Wait` blocks the asking thread until a later event answers it with a `Grant`; `Evict`
instructions go to the block manager's callback (outside the lock) to write a block to disk or
drop it. Operators see a `TaskMemory`: `reserve(n)` either gets all ``n`` bytes or none (the
caller then spills what it holds and tries again), and everything a task holds is released when
it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ember.core.storagelevel import StorageLevel
from ember.executor.memory import (
    Evict,
    Grant,
    Instruction,
    MemoryMetrics,
    Refuse,
    StoreBlock,
    UnifiedMemoryManager,
    Wait,
)

EvictCallback = Callable[[Evict], None]


class MemoryPool:
    """Thread-safe access to one executor's `UnifiedMemoryManager`."""

    def __init__(self, manager: UnifiedMemoryManager, *, on_evict: EvictCallback | None = None,
                 ) -> None:
        self.manager = manager
        self.on_evict = on_evict
        self._cond = threading.Condition()
        self._answers: dict[int, int] = {}
        self._waiting: set[int] = set()

    # -- tasks -----------------------------------------------------------------------------------

    def task_started(self, task: int) -> None:
        self._run(lambda: self.manager.task_started(task))

    def task_finished(self, task: int) -> None:
        self._run(lambda: self.manager.task_finished(task))

    def acquire_execution(self, task: int, nbytes: int) -> int:
        """Up to ``nbytes`` of execution memory for ``task``: blocks while the manager says the task
        must wait for its fair share, then returns what was granted (possibly fewer bytes)."""
        evictions: list[Evict] = []
        with self._cond:
            evictions += self._dispatch(self.manager.acquire_execution(task, nbytes))
            while task not in self._answers:
                self._cond.wait()
            granted = self._answers.pop(task)
        self._evict(evictions)
        return granted

    def release_execution(self, task: int, nbytes: int) -> None:
        self._run(lambda: self.manager.release_execution(task, nbytes))

    def task_share(self, task: int) -> int:
        """The most execution memory ``task`` may hold now: 1/N of the pool execution can use
        (all memory but the storage region's used part) for N active tasks, Spark's bound. The
        task counts among them, as it will once it asks for memory."""
        with self._cond:
            m = self.manager.metrics()
            active = set(self.manager.active_tasks) | {task}
        return (m.max_memory - min(m.storage_used, m.storage_region)) // len(active)

    # -- storage ---------------------------------------------------------------------------------

    def acquire_storage(self, block: str, nbytes: int, level: StorageLevel) -> bool:
        """Whether ``block`` may be kept in memory; other blocks may be evicted to make room."""
        with self._cond:
            instructions = self.manager.acquire_storage(block, nbytes, level)
            evictions = self._dispatch(instructions)
        self._evict(evictions)
        stored = any(isinstance(i, StoreBlock) and i.block == block for i in instructions)
        return stored and not any(isinstance(i, Refuse) for i in instructions)

    def release_storage(self, block: str) -> None:
        self._run(lambda: self.manager.release_storage(block))

    def touch(self, block: str) -> None:
        self._run(lambda: self.manager.touch(block))

    def metrics(self) -> MemoryMetrics:
        with self._cond:
            return self.manager.metrics()

    # -- plumbing --------------------------------------------------------------------------------

    def _run(self, event: Callable[[], list[Instruction]]) -> None:
        with self._cond:
            evictions = self._dispatch(event())
        self._evict(evictions)

    def _dispatch(self, instructions: list[Instruction]) -> list[Evict]:
        """Record answers for waiting threads (the lock is held); return evictions to carry out."""
        evictions: list[Evict] = []
        for ins in instructions:
            if isinstance(ins, Grant):
                self._answers[ins.task] = self._answers.get(ins.task, 0) + ins.nbytes
                self._waiting.discard(ins.task)
                self._cond.notify_all()
            elif isinstance(ins, Wait):
                self._waiting.add(ins.task)
            elif isinstance(ins, Evict):
                evictions.append(ins)
            # A Spill is implied by a short Grant, and a Wake is followed by the Grant that
            # answers it; StoreBlock and Refuse are read by acquire_storage.
        return evictions

    def _evict(self, evictions: list[Evict]) -> None:
        if self.on_evict is not None:
            for eviction in evictions:
                self.on_evict(eviction)


@dataclass
class TaskMemory:
    """One task's execution memory, as its operators reserve and release it."""

    pool: MemoryPool | None
    task: int
    held: int = 0
    spill_count: int = 0
    spill_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, nbytes: int) -> bool:
        """All of ``nbytes`` more, or nothing (then the caller should spill and release).

        Without a pool (a task run outside an executor) every reservation succeeds."""
        if nbytes <= 0 or self.pool is None:
            return True
        granted = self.pool.acquire_execution(self.task, nbytes)
        if granted < nbytes:
            if granted:
                self.pool.release_execution(self.task, granted)
            return False
        with self._lock:
            self.held += nbytes
        return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            nbytes = min(nbytes, self.held)
            self.held -= nbytes
        if nbytes and self.pool is not None:
            self.pool.release_execution(self.task, nbytes)

    def release_all(self) -> None:
        self.release(self.held)

    def share(self) -> int | None:
        """The most execution memory this task may hold now; None without a pool (unbounded)."""
        return None if self.pool is None else self.pool.task_share(self.task)

    def record_spill(self, nbytes: int) -> None:
        with self._lock:
            self.spill_count += 1
            self.spill_bytes += nbytes
