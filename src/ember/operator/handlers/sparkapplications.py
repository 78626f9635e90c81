"""SparkApplication handlers: a reconcile loop per application, and spec changes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import kopf

from ember.k8s import names
from ember.operator import wakeups
from ember.operator.kube import ApiException


@kopf.daemon(names.GROUP, names.VERSION, names.PLURAL, cancellation_timeout=10)
async def reconcile_loop(name: str, namespace: str, stopped: kopf.DaemonStopped, memo: Any,
                         logger: Any, **_: Any) -> None:
    """Reconcile the app now, then on every pod event or spec change, and at least every
    ``interval`` seconds, until the app is deleted.

    A coroutine, so any number of apps cost no thread each; the blocking API calls of a pass run
    in a worker thread."""
    reconciler = memo.reconciler
    wake = wakeups.register(namespace, name)
    failures = 0
    try:
        while not stopped:
            changed = wakeups.take_changes(namespace, name)
            try:
                state = await asyncio.to_thread(reconciler.reconcile, namespace, name,
                                                changed_fields=changed)
                failures = 0
            except ApiException as exc:
                failures += 1
                logger.warning("reconciling %s/%s failed (%s %s); retrying", namespace, name,
                               exc.status, exc.reason)
                state = "retry"
            except Exception:  # a bug must not stop the loop: log it and back off
                failures += 1
                logger.exception("reconciling %s/%s failed; retrying", namespace, name)
                state = "retry"
            if state is None:
                return
            delay = reconciler.settings.interval * min(2 ** failures, 16)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            wake.clear()
    finally:
        wakeups.unregister(namespace, name)


@kopf.on.update(names.GROUP, names.VERSION, names.PLURAL, field="spec")
async def spec_changed(name: str, namespace: str, diff: Any, **_: Any) -> None:
    """Remember which fields changed, for the event the restart posts, and wake the loop."""
    fields = sorted({".".join(("spec", *map(str, path))) for _op, path, _old, _new in diff})
    wakeups.note_change(namespace, name, fields)
