"""Pod handlers: a change to a driver or executor pod wakes its application's loop."""

from __future__ import annotations

from typing import Any

import kopf

from ember.k8s import names
from ember.operator import wakeups


@kopf.on.event("", "v1", "pods", labels={names.LABEL_ROLE: kopf.PRESENT,
                                         names.LABEL_APP_NAME: kopf.PRESENT})
async def pod_event(labels: dict[str, str], namespace: str, **_: Any) -> None:
    wakeups.wake(namespace, labels[names.LABEL_APP_NAME])
