"""Memory the executor process holds outside Python objects: Arrow's allocator and glibc's.

Arrow's allocator (mimalloc in the wheels) and glibc's malloc, which numpy and the interpreter use,
both keep freed memory for reuse. glibc also raises its mmap threshold each time a large block is
freed, so after the first big temporary array every later one comes from the heap, whose free
space is rarely given back. An executor whose pod has a memory limit pays for all of it: between
two tasks the process can hold hundreds of MiB that nothing uses.

`tune_allocator` fixes glibc's mmap threshold at start-up (large blocks are then mapped and
unmapped, never kept), and `return_free_memory` hands what both allocators keep back to the
kernel; the runner calls it when the executor has no task left running. Both do nothing where
glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import pyarrow as pa

log = logging.getLogger(__name__)

# glibc's mallopt parameter numbers (malloc.h).
M_MMAP_THRESHOLD = -3
# Blocks from this size up are mapped on their own and unmapped when freed (glibc's default
# starting threshold is 128 KiB, raised dynamically up to 32 MiB).
MMAP_THRESHOLD_BYTES = 256 * 1024


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold; whether it was set."""
    if _LIBC is None:
        return False
    ok = bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not ok:
        log.warning("could not set glibc's mmap threshold; freed memory may stay with the process")
    return ok


def return_free_memory() -> None:
    """Give the memory both allocators keep for reuse back to the kernel."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
