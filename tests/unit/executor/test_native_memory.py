"""The executor hands memory its allocators keep back to the kernel (glibc only)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ember.executor import native_memory

pytestmark = pytest.mark.skipif(native_memory._LIBC is None, reason="the C library is not glibc")

# Allocates 200 MiB in blocks below the mmap threshold (so they come from glibc's heap), frees
# them, and prints the resident size before and after return_free_memory.
PROGRAM = """
from pathlib import Path
from ember.executor import native_memory

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

assert native_memory.tune_allocator()
blocks = [bytearray(b"x" * (100 * 1024)) for _ in range(2048)]
del blocks[:-1]
kept = rss()
native_memory.return_free_memory()
print(kept, rss())
"""


def test_free_heap_memory_goes_back_to_the_kernel() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    kept, returned = (int(v) for v in out.split())
    assert kept - returned > 150 * 2**20, (kept, returned)
