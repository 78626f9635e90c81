"""Memory limits for pod processes through Linux cgroups.

The process kubelet gives each pod process its own memory cgroup whose limit is the container's
``resources.limits.memory``, so a process over its limit is killed by the kernel as it would be
in a real node; the kubelet then reports exit code 137 and reason ``OOMKilled``.

Both hierarchies are supported:

- cgroup v2: a writable ``cgroup2`` mount whose ``cgroup.controllers`` lists ``memory``;
  the limit is ``memory.max`` and OOM kills are counted in ``memory.events`` (``oom_kill``).
- cgroup v1: a writable ``cgroup`` mount with the ``memory`` controller; the limit is
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` when present, so swap does not
  hide the overrun) and OOM kills are counted in ``memory.oom_control`` (``oom_kill``).

This needs root. :func:`probe` says which hierarchy is usable, or why none is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import os
import re
import signal
from pathlib import Path

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "m": decimal.Decimal("0.001"), "": decimal.Decimal(1), "k": decimal.Decimal(10**3),
    "M": decimal.Decimal(10**6), "G": decimal.Decimal(10**9), "T": decimal.Decimal(10**12),
    "P": decimal.Decimal(10**15), "E": decimal.Decimal(10**18),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def parse_quantity(text: str | int | float) -> int:
    """Parse a Kubernetes resource quantity (``512Mi``, ``1Gi``, ``500M``, ``1e9``) into units.

    Fractions are rounded up, as the API server does for byte quantities.

    >>> parse_quantity("512Mi"), parse_quantity("1.5Gi"), parse_quantity("500M")
    (536870912, 1610612736, 500000000)
    """
    if isinstance(text, (int, float)):
        return int(decimal.Decimal(str(text)).to_integral_value(decimal.ROUND_CEILING))
    match = _QUANTITY.match(text.strip())
    if match is None:
        msg = (
            f"invalid Kubernetes quantity {text!r}\n\n"
            "use a number with an optional suffix: 512Mi, 1Gi, 500M"
        )
        raise ValueError(msg)
    number, exponent, suffix = match.group(1), match.group(2) or "", match.group(3) or ""
    try:
        value = decimal.Decimal(number + exponent)
    except decimal.InvalidOperation as exc:
        msg = f"invalid Kubernetes quantity {text!r}"
        raise ValueError(msg) from exc
    if suffix in _BINARY_SUFFIXES:
        value *= _BINARY_SUFFIXES[suffix]
    else:
        value *= _DECIMAL_SUFFIXES[suffix]
    return int(value.to_integral_value(decimal.ROUND_CEILING))


@dataclasses.dataclass(frozen=True)
class MemoryHierarchy:
    """A usable memory-cgroup hierarchy: where it is mounted and which version it is."""

    version: int
    mount: Path

    def create(self, name: str, *, limit_bytes: int) -> MemoryCgroup:
        """Create the cgroup ``ember-localkube/<name>`` with the given memory limit."""
        parent = self.mount / "ember-localkube"
        parent.mkdir(exist_ok=True)
        if self.version == 2:
            _enable_memory_controller(self.mount)
            _enable_memory_controller(parent)
        path = parent / name
        path.mkdir(exist_ok=True)
        cgroup = MemoryCgroup(version=self.version, path=path)
        cgroup.set_limit(limit_bytes)
        return cgroup


    def remove_parent(self) -> None:
        """Remove ``ember-localkube`` when no pod cgroup is left in it (best effort)."""
        with contextlib.suppress(OSError):
            (self.mount / "ember-localkube").rmdir()


def _enable_memory_controller(path: Path) -> None:
    control = path / "cgroup.subtree_control"
    if "memory" not in control.read_text().split():
        control.write_text("+memory")


@dataclasses.dataclass(frozen=True)
class MemoryCgroup:
    """One pod's memory cgroup."""

    version: int
    path: Path

    def set_limit(self, limit_bytes: int) -> None:
        if self.version == 2:
            (self.path / "memory.max").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (self.path / "memory.swap.max").write_text("0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))

    def join(self) -> None:
        """Move the calling process into this cgroup (called in the child before ``exec``)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_kills(self) -> int:
        """How many processes of this cgroup the kernel killed for exceeding the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.path / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_bytes(self) -> int | None:
        """The most memory the cgroup has used (``memory.peak`` or ``memory.max_usage_in_bytes``);
        None when the kernel does not report it (``memory.peak`` is Linux 5.19 and later)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL every process left in the cgroup (children the pod process left behind)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left and remove the cgroup directory (best effort)."""
        self.kill()
        with contextlib.suppress(OSError):
            self.path.rmdir()


def probe(*, mounts_file: Path = Path("/proc/mounts")) -> tuple[MemoryHierarchy | None, str]:
    """Find a memory-cgroup hierarchy this process may use, or say why there is none."""
    if os.geteuid() != 0:
        return None, "not running as root"
    try:
        lines = mounts_file.read_text().splitlines()
    except OSError as exc:
        return None, f"cannot read {mounts_file}: {exc}"
    candidates: list[MemoryHierarchy] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        mount, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        if "rw" not in options:
            continue
        if fstype == "cgroup2":
            try:
                controllers = (mount / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if "memory" in controllers:
                candidates.append(MemoryHierarchy(version=2, mount=mount))
        elif fstype == "cgroup" and "memory" in options:
            candidates.append(MemoryHierarchy(version=1, mount=mount))
    if not candidates:
        return None, "no writable cgroup memory controller (v2 or v1) is mounted"
    for hierarchy in candidates:
        probe_dir = hierarchy.mount / "ember-localkube"
        try:
            probe_dir.mkdir(exist_ok=True)
        except OSError as exc:
            return None, f"cannot create a cgroup under {hierarchy.mount}: {exc}"
        return hierarchy, f"cgroup v{hierarchy.version} memory controller at {hierarchy.mount}"
    return None, "no usable cgroup memory controller"
