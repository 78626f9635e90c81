"""Wake-ups for the per-application reconcile loops, keyed by namespace and app-name label.

A pod event or a spec change should not wait for the next periodic pass: the handler that sees
it wakes the app's loop. Spec changes also leave the changed field paths for that loop, so the
event it posts names them. Everything here runs on the operator's event loop (the handlers that
call it are coroutines).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ember.k8s import names


@dataclass
class _Entry:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    changed: set[str] = field(default_factory=set)


_entries: dict[tuple[str, str], _Entry] = {}


def _key(namespace: str, app: str) -> tuple[str, str]:
    return namespace, names.label_value(app)


def register(namespace: str, app: str) -> asyncio.Event:
    return _entries.setdefault(_key(namespace, app), _Entry()).event


def unregister(namespace: str, app: str) -> None:
    _entries.pop(_key(namespace, app), None)


def wake(namespace: str, app_label: str) -> None:
    """Wake the loop of the app whose ``ember.dev/app-name`` label is ``app_label``."""
    entry = _entries.get((namespace, app_label))
    if entry is not None:
        entry.event.set()


def note_change(namespace: str, app: str, fields: list[str]) -> None:
    entry = _entries.setdefault(_key(namespace, app), _Entry())
    entry.changed.update(fields)
    entry.event.set()


def take_changes(namespace: str, app: str) -> tuple[str, ...]:
    entry = _entries.get(_key(namespace, app))
    if entry is None:
        return ()
    changed, entry.changed = entry.changed, set()
    return tuple(sorted(changed))
