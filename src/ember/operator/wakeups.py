"""Wake-ups for the per-application reconcile loops, keyed by namespace and app-name label.

A pod event or a spec change should not wait for the next periodic pass: the handler that sees
it wakes the app's loop. Spec changes also leave the changed field paths for that loop, so the
event it posts names them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ember.k8s import names


@dataclass
class _Entry:
    event: threading.Event = field(default_factory=threading.Event)
    changed: set[str] = field(default_factory=set)


_lock = threading.Lock()
_entries: dict[tuple[str, str], _Entry] = {}


def _key(namespace: str, app: str) -> tuple[str, str]:
    return namespace, names.label_value(app)


def register(namespace: str, app: str) -> threading.Event:
    with _lock:
        return _entries.setdefault(_key(namespace, app), _Entry()).event


def unregister(namespace: str, app: str) -> None:
    with _lock:
        _entries.pop(_key(namespace, app), None)


def wake(namespace: str, app_label: str) -> None:
    """Wake the loop of the app whose ``ember.dev/app-name`` label is ``app_label``."""
    with _lock:
        entry = _entries.get((namespace, app_label))
    if entry is not None:
        entry.event.set()


def note_change(namespace: str, app: str, fields: list[str]) -> None:
    with _lock:
        entry = _entries.setdefault(_key(namespace, app), _Entry())
        entry.changed.update(fields)
    entry.event.set()


def take_changes(namespace: str, app: str) -> tuple[str, ...]:
    with _lock:
        entry = _entries.get(_key(namespace, app))
        if entry is None:
            return ()
        changed, entry.changed = entry.changed, set()
    return tuple(sorted(changed))
