"""Pod resources from Spark's settings: the memory mapping and CPU.

A driver or executor container asks for, and is limited to, ``memory + overhead``, where the
overhead is ``memoryOverhead`` when given and otherwise max(384 MiB, factor x memory) with the
factor ``spark.{driver,executor}.memoryOverheadFactor`` (default 0.1), in whole MiB as Spark
counts it. The CPU request is ``cores``; a CPU limit is set only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ember.core.conf import parse_bytes
from ember.errors import IllegalArgumentException
from ember.executor.memory import MIN_HEAP_BYTES, pod_memory_bytes

MiB = 1024 * 1024
DEFAULT_OVERHEAD_FACTOR = 0.1


@dataclass(frozen=True)
class PodResources:
    """What one container gets: ``heap`` is the process's memory budget, ``memory`` the pod's."""

    cores: float
    heap: int
    memory: int
    core_limit: str | None = None

    def container_resources(self) -> dict[str, Any]:
        memory = f"{-(-self.memory // MiB)}Mi"
        limits: dict[str, str] = {"memory": memory}
        if self.core_limit:
            limits["cpu"] = self.core_limit
        return {"requests": {"cpu": cpu_quantity(self.cores), "memory": memory}, "limits": limits}


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes CPU quantity: ``1``, ``2``, ``500m``."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{round(cores * 1000)}m"


def size_bytes(value: str | int, *, field: str) -> int:
    """A Spark or Kubernetes size (``512m``, ``2g``, ``512Mi``; a bare number is MiB)."""
    if isinstance(value, int):
        return value * MiB
    try:
        return parse_bytes(str(value), key=field, default_unit="m")
    except IllegalArgumentException:
        msg = (f"{field}: invalid memory size {value!r}\n\n"
               "use a number with a unit, e.g. 512m, 2g or 1Gi")
        raise IllegalArgumentException(msg) from None


def pod_resources(
    *,
    role: str,
    cores: float = 1,
    memory: str | int = "1g",
    memory_overhead: str | int | None = None,
    overhead_factor: float = DEFAULT_OVERHEAD_FACTOR,
    core_limit: str | None = None,
    field: str | None = None,
) -> PodResources:
    """The resources of a ``role`` (driver or executor) pod; ``field`` names the spec path in errors.

    >>> r = pod_resources(role="executor", cores=2, memory="4g")
    >>> r.heap // MiB, r.memory // MiB, r.container_resources()["limits"]
    (4096, 4505, {'memory': '4505Mi'})
    """
    where = field or f"spark.{role}.memory"
    heap = size_bytes(memory, field=where)
    if heap < MIN_HEAP_BYTES:
        msg = (f"{where} is {heap // MiB} MiB, below the minimum heap of {MIN_HEAP_BYTES // MiB} MiB "
               f"(300 MiB is reserved)\n\nset {where} to at least {MIN_HEAP_BYTES // MiB}m")
        raise IllegalArgumentException(msg)
    if cores <= 0:
        msg = f"{field or f'spark.{role}.cores'} must be positive, got {cores}\n\nuse e.g. 1"
        raise IllegalArgumentException(msg)
    overhead = None
    if memory_overhead is not None:
        overhead = size_bytes(memory_overhead, field=f"{where}Overhead")
    total = pod_memory_bytes(heap, overhead, overhead_factor)
    return PodResources(cores=cores, heap=heap, memory=total, core_limit=core_limit)
