"""Where each shuffle's map outputs live: the driver's MapOutputTracker.

Pure bookkeeping, no I/O. The DAGScheduler registers a `MapStatus` for every finished map task
and unregisters outputs whose executor is gone; reduce tasks ask the driver for the statuses of a
shuffle and fetch their byte ranges from the listed addresses.

`epoch` goes up whenever a registered output is removed. Executors can cache map-output locations
and drop the cache when they see a newer epoch, as Spark's executors do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MapStatus:
    """The result of one map task: who holds its output and how big each reduce block is.

    ``address`` is the base URL of the executor's shuffle service (``"http://host:port"``) and
    ``sizes[r]`` the number of bytes written for reduce partition ``r``.
    """

    executor_id: str
    address: str
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        # Accept any sequence, but store a tuple so the status stays hashable and immutable.
        if not isinstance(self.sizes, tuple):
            object.__setattr__(self, "sizes", tuple(self.sizes))
        if any(size < 0 for size in self.sizes):
            msg = f"map status from executor {self.executor_id!r} has a negative block size"
            raise ValueError(msg)

    @property
    def total_size(self) -> int:
        return sum(self.sizes)


class UnknownShuffleError(KeyError):
    """A shuffle id was used before `MapOutputTracker.register_shuffle` (or after unregistering)."""

    def __str__(self) -> str:
        # KeyError quotes its argument; show the message as written instead.
        return str(self.args[0]) if self.args else ""


class MapOutputTracker:
    """Map output locations of every registered shuffle, one slot per map partition.

    >>> tracker = MapOutputTracker()
    >>> tracker.register_shuffle(0, num_maps=2)
    >>> tracker.register(0, 0, MapStatus("1", "http://10.0.0.1:7078", (10, 0, 5)))
    >>> tracker.missing(0)
    [1]
    >>> tracker.register(0, 1, MapStatus("2", "http://10.0.0.2:7078", (1, 2, 3)))
    >>> tracker.is_complete(0), tracker.sizes_by_reduce(0)
    (True, [11, 2, 8])
    >>> tracker.remove_outputs_on_executor("2"), tracker.epoch
    ([(0, 1)], 1)
    """

    def __init__(self) -> None:
        self._outputs: dict[int, list[MapStatus | None]] = {}
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """Goes up by one on every call that removes at least one registered output."""
        return self._epoch

    # -- shuffles -------------------------------------------------------------------------------

    def register_shuffle(self, shuffle_id: int, num_maps: int) -> None:
        """Start tracking a shuffle written by ``num_maps`` map tasks.

        Registering an already known shuffle with the same number of maps keeps its outputs.
        """
        if num_maps < 0:
            msg = f"shuffle {shuffle_id} cannot have a negative number of map tasks ({num_maps})"
            raise ValueError(msg)
        known = self._outputs.get(shuffle_id)
        if known is None:
            self._outputs[shuffle_id] = [None] * num_maps
        elif len(known) != num_maps:
            msg = (
                f"shuffle {shuffle_id} is already registered with {len(known)} map tasks, "
                f"not {num_maps}\n\nunregister the shuffle first, or give it a new id"
            )
            raise ValueError(msg)

    def unregister_shuffle(self, shuffle_id: int) -> None:
        """Forget a shuffle and all its outputs; unknown ids are ignored."""
        outputs = self._outputs.pop(shuffle_id, None)
        if outputs is not None and any(status is not None for status in outputs):
            self._epoch += 1

    def has_shuffle(self, shuffle_id: int) -> bool:
        return shuffle_id in self._outputs

    def shuffle_ids(self) -> list[int]:
        return sorted(self._outputs)

    def num_maps(self, shuffle_id: int) -> int:
        return len(self._slots(shuffle_id))

    # -- outputs --------------------------------------------------------------------------------

    def register(self, shuffle_id: int, map_id: int, status: MapStatus) -> None:
        """Record the output of map task ``map_id``, replacing any earlier one."""
        slots = self._slots(shuffle_id)
        self._check_map_id(shuffle_id, map_id, len(slots))
        reference = next((other for other in slots if other is not None), None)
        if reference is not None and len(reference.sizes) != len(status.sizes):
            msg = (
                f"map {map_id} of shuffle {shuffle_id} reports {len(status.sizes)} reduce "
                f"partitions, but other maps of that shuffle report {len(reference.sizes)}"
            )
            raise ValueError(msg)
        slots[map_id] = status

    def unregister(self, shuffle_id: int, map_id: int, *, executor_id: str | None = None) -> bool:
        """Drop the output of one map task; returns whether anything was removed.

        With ``executor_id``, the output is dropped only if it still lives on that executor: a
        late report about a lost block must not remove a newer output of the same map task.
        """
        slots = self._slots(shuffle_id)
        self._check_map_id(shuffle_id, map_id, len(slots))
        status = slots[map_id]
        if status is None or (executor_id is not None and status.executor_id != executor_id):
            return False
        slots[map_id] = None
        self._epoch += 1
        return True

    def remove_outputs_on_executor(self, executor_id: str) -> list[tuple[int, int]]:
        """Drop every output held by an executor; returns the ``(shuffle_id, map_id)`` removed."""
        removed: list[tuple[int, int]] = []
        for shuffle_id in sorted(self._outputs):
            slots = self._outputs[shuffle_id]
            for map_id, status in enumerate(slots):
                if status is not None and status.executor_id == executor_id:
                    slots[map_id] = None
                    removed.append((shuffle_id, map_id))
        if removed:
            self._epoch += 1
        return removed

    # -- queries --------------------------------------------------------------------------------

    def missing(self, shuffle_id: int) -> list[int]:
        """Map ids whose output is not registered, in ascending order."""
        return [map_id for map_id, status in enumerate(self._slots(shuffle_id)) if status is None]

    def is_complete(self, shuffle_id: int) -> bool:
        return all(status is not None for status in self._slots(shuffle_id))

    def statuses(self, shuffle_id: int) -> list[MapStatus | None]:
        """One entry per map id: its `MapStatus`, or None while the output is missing."""
        return list(self._slots(shuffle_id))

    def sizes_by_reduce(self, shuffle_id: int) -> list[int]:
        """Total bytes per reduce partition over the registered outputs.

        Used to coalesce small shuffle partitions. Returns ``[]`` when no output is registered
        yet, since only a map status tells how many reduce partitions there are.
        """
        totals: list[int] = []
        for status in self._slots(shuffle_id):
            if status is None:
                continue
            if not totals:
                totals = [0] * len(status.sizes)
            for reduce_id, size in enumerate(status.sizes):
                totals[reduce_id] += size
        return totals

    def executors_with_outputs(self) -> set[str]:
        return {
            status.executor_id
            for slots in self._outputs.values()
            for status in slots
            if status is not None
        }

    # -- helpers --------------------------------------------------------------------------------

    def _slots(self, shuffle_id: int) -> list[MapStatus | None]:
        try:
            return self._outputs[shuffle_id]
        except KeyError:
            known = ", ".join(map(str, sorted(self._outputs))) or "none"
            msg = (
                f"shuffle {shuffle_id} is not registered (registered shuffles: {known})"
                "\n\ncall register_shuffle() before registering or querying its outputs"
            )
            raise UnknownShuffleError(msg) from None

    @staticmethod
    def _check_map_id(shuffle_id: int, map_id: int, num_maps: int) -> None:
        if not 0 <= map_id < num_maps:
            msg = f"map id {map_id} is out of range for shuffle {shuffle_id} ({num_maps} maps)"
            raise ValueError(msg)
