"""``Broadcast``: a read-only value sent once to each executor, as ``sc.broadcast(v)`` makes it.

>>> b = spark.sparkContext.broadcast({"a": 1})  # doctest: +SKIP
>>> spark.sparkContext.parallelize(["a", "b"]).map(lambda k: b.value.get(k, 0)).collect()  # doctest: +SKIP
[1, 0]

The driver pickles the value once (cloudpickle) and serves the bytes at ``GET /broadcast/{id}``.
A task's closure carries only the id: on an executor, ``.value`` asks the executor's block
manager, which fetches the bytes by the first task that needs them and shares the value with
every later task.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

if TYPE_CHECKING:
    from ember.driver.runtime import DriverRuntime

# Set by the executor's block manager: broadcast id -> value.
_executor_resolver: Callable[[int], Any] | None = None
_lock = threading.Lock()
# Values of broadcasts made in this process (the driver), by id.
_driver_values: dict[int, Any] = {}


def set_executor_resolver(resolver: Callable[[int], Any] | None) -> None:
    global _executor_resolver
    _executor_resolver = resolver


class Broadcast:
    """A broadcast variable; read it with ``.value`` on the driver or in tasks."""

    def __init__(self, broadcast_id: int, *, runtime: DriverRuntime | None = None,
                 value: Any = None) -> None:
        self._id = broadcast_id
        self._runtime = runtime
        self._destroyed = False
        if runtime is not None:
            with _lock:
                _driver_values[broadcast_id] = value
            # Once no program object (a closure of a lazy RDD included) refers to it, the
            # driver drops its bytes and the executors their copies.
            weakref.finalize(self, _release, runtime, broadcast_id)

    @property
    def id(self) -> int:
        return self._id

    @property
    def value(self) -> Any:
        if self._destroyed:
            msg = (f"broadcast {self._id} was destroyed and can no longer be used\n\n"
                   "create a new one with sc.broadcast(value)")
            raise RuntimeError(msg)
        with _lock:
            if self._id in _driver_values:
                return _driver_values[self._id]
        if _executor_resolver is None:
            msg = (f"broadcast {self._id} is not known in this process\n\n"
                   "read .value in the driver program or in a task")
            raise RuntimeError(msg)
        return _executor_resolver(self._id)

    def unpersist(self, blocking: bool = False) -> None:
        """Drop the executors' copies; the next task that reads the value fetches it again."""
        if self._runtime is not None:
            self._runtime.unpersist_broadcast(self._id, destroy=False)

    def destroy(self, blocking: bool = False) -> None:
        """Drop the value everywhere; it can no longer be used."""
        if self._runtime is not None:
            self._runtime.unpersist_broadcast(self._id, destroy=True)
            with _lock:
                _driver_values.pop(self._id, None)
        self._destroyed = True

    def __reduce__(self) -> Any:
        if self._destroyed:
            msg = f"broadcast {self._id} was destroyed and cannot be sent to tasks"
            raise RuntimeError(msg)
        return (_from_id, (self._id,))

    def __repr__(self) -> str:
        return f"Broadcast({self._id})"


def _release(runtime: DriverRuntime, broadcast_id: int) -> None:
    # Run by garbage collection, in any thread and maybe under any lock: take none, only note
    # it (dict.pop and list.append are atomic); the runtime removes it soon after.
    _driver_values.pop(broadcast_id, None)
    runtime.released_broadcasts.append(broadcast_id)


def _from_id(broadcast_id: int) -> Broadcast:
    return Broadcast(broadcast_id)


def serialize(value: Any) -> bytes:
    """The bytes executors fetch: the value pickled once, on the driver."""
    try:
        return cloudpickle.dumps(value)
    except Exception as exc:
        msg = (f"could not serialize the broadcast value: {type(exc).__name__}: {exc}\n\n"
               "broadcast values must be picklable by cloudpickle")
        raise TypeError(msg) from exc
