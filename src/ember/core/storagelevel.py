"""``StorageLevel``: where a persisted dataset lives, with PySpark's names and flags.

How ember's block manager keeps a cached partition (an Arrow table):

- levels using memory keep the table itself; the ``*_SER`` levels keep its Arrow IPC bytes
  (PySpark gives them the flags of MEMORY_ONLY and MEMORY_AND_DISK, so they compare equal);
- levels using disk write an LZ4-compressed Arrow IPC file to the executor's local dir, at once
  for DISK_ONLY, and when evicted from memory for MEMORY_AND_DISK;
- MEMORY_ONLY blocks evicted from memory are dropped, and recomputed from lineage when needed.

A replication above 1 is accepted, but one copy is kept.
"""

from __future__ import annotations

from typing import Any


class StorageLevel:
    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool, deserialized: bool,
                 replication: int = 1) -> None:
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication
        # Set on the *_SER levels only: keep Arrow IPC bytes in memory rather than tables.
        self.ipc_in_memory = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageLevel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.useDisk, self.useMemory, self.useOffHeap, self.deserialized,
                self.replication)

    def __repr__(self) -> str:
        return (f"StorageLevel({self.useDisk}, {self.useMemory}, {self.useOffHeap}, "
                f"{self.deserialized}, {self.replication})")

    def __str__(self) -> str:
        parts = [("Disk" if self.useDisk else ""), ("Memory" if self.useMemory else ""),
                 ("OffHeap" if self.useOffHeap else ""),
                 ("Deserialized" if self.deserialized else "Serialized")]
        return " ".join(p for p in parts if p) + f" {self.replication}x Replicated"

    DISK_ONLY: StorageLevel
    DISK_ONLY_2: StorageLevel
    DISK_ONLY_3: StorageLevel
    MEMORY_ONLY: StorageLevel
    MEMORY_ONLY_2: StorageLevel
    MEMORY_AND_DISK: StorageLevel
    MEMORY_AND_DISK_2: StorageLevel
    MEMORY_AND_DISK_DESER: StorageLevel
    OFF_HEAP: StorageLevel
    MEMORY_ONLY_SER: StorageLevel
    MEMORY_AND_DISK_SER: StorageLevel
    NONE: StorageLevel


# As in PySpark, where Python data is always stored serialized.
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
StorageLevel.MEMORY_ONLY_SER = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_SER.ipc_in_memory = True
StorageLevel.MEMORY_AND_DISK_SER = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_SER.ipc_in_memory = True
StorageLevel.NONE = StorageLevel(False, False, False, False)


def checked(level: Any, *, setting: str = "storageLevel") -> StorageLevel:
    """``level`` if a block manager can keep data at it; otherwise a ValueError naming the setting.

    >>> checked(StorageLevel.MEMORY_AND_DISK)
    StorageLevel(True, True, False, False, 1)
    """
    if not isinstance(level, StorageLevel):
        msg = (f"invalid {setting}: {level!r} is a {type(level).__name__}, not a StorageLevel\n\n"
               "pass one of StorageLevel.MEMORY_ONLY, MEMORY_AND_DISK, DISK_ONLY, "
               "MEMORY_ONLY_SER, MEMORY_AND_DISK_SER")
        raise TypeError(msg)
    if not (level.useMemory or level.useDisk):
        msg = (f"invalid {setting}: {level} keeps data neither in memory nor on disk\n\n"
               "use StorageLevel.MEMORY_AND_DISK (the default of cache()), or unpersist() to "
               "stop caching")
        raise ValueError(msg)
    if not isinstance(level.replication, int) or not 1 <= level.replication <= 40:
        msg = (f"invalid {setting}: replication must be between 1 and 40, got "
               f"{level.replication!r}\n\nuse a StorageLevel constant such as "
               "StorageLevel.MEMORY_AND_DISK")
        raise ValueError(msg)
    return level
