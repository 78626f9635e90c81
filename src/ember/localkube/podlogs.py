"""Captured pod logs: one file per pod incarnation, read whole, by tail, or followed.

The process kubelet writes a pod's stdout and stderr (interleaved, as ``kubectl logs`` shows
them) to ``<work_dir>/pods/<namespace>_<name>_<uid>/container.log``. :class:`LogStore` maps
``(namespace, name)`` to the newest such file, so a recreated pod's logs replace the old ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def tail(text: str, tail_lines: int | None) -> str:
    """The last ``tail_lines`` lines of ``text`` (all of it when None)."""
    if tail_lines is None:
        return text
    if tail_lines <= 0:
        return ""
    return "".join(text.splitlines(keepends=True)[-tail_lines:])


class LogStore:
    """Where each pod's log file is, and readers for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str], tuple[Path, Callable[[], bool]]] = {}

    def register(self, namespace: str, name: str, path: Path, *, finished: Callable[[], bool]) -> None:
        """Record ``path`` as the log of the pod; ``finished()`` says the writer is done."""
        with self._lock:
            self._files[(namespace, name)] = (path, finished)

    def _lookup(self, namespace: str, name: str) -> tuple[Path, Callable[[], bool]]:
        with self._lock:
            found = self._files.get((namespace, name))
        if found is None:
            msg = f"no logs for pod {namespace}/{name}: the kubelet has not run it"
            raise LookupError(msg)
        return found

    def read(self, namespace: str, name: str, *, tail_lines: int | None = None) -> str:
        path, _ = self._lookup(namespace, name)
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return tail(text, tail_lines)

    def follow(
        self, namespace: str, name: str, *, tail_lines: int | None = None, poll_seconds: float = 0.05,
    ) -> Iterator[str]:
        """Yield the log (its tail first), then new output as it is written, until the pod ends."""
        path, finished = self._lookup(namespace, name)
        first = self.read(namespace, name, tail_lines=tail_lines)
        offset = len(path.read_bytes()) if path.exists() else 0
        if first:
            yield first
        while True:
            done = finished()  # read before the file, so output written just before the end is seen
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                offset += len(chunk)
                yield chunk.decode(errors="replace")
            elif done:
                return
            else:
                time.sleep(poll_seconds)
