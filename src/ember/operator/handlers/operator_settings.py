"""Start-up: kopf's settings and the shared reconciler."""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from ember.operator.kube import Api
from ember.operator.reconciler import Reconciler, Settings


def settings_from_env() -> Settings:
    """Operator timing from ``EMBER_OPERATOR_*`` variables (seconds), else the defaults."""
    defaults = Settings()
    return Settings(
        interval=float(os.environ.get("EMBER_OPERATOR_INTERVAL", defaults.interval)),
        driver_missing_grace=float(os.environ.get("EMBER_OPERATOR_DRIVER_MISSING_GRACE",
                                                  defaults.driver_missing_grace)),
        driver_stuck_grace=float(os.environ.get("EMBER_OPERATOR_DRIVER_STUCK_GRACE",
                                                defaults.driver_stuck_grace)),
    )


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    # kopf keeps its bookkeeping in annotations of ember's own prefix, not in .status, which the
    # CRD's schema describes.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="ember.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="ember.dev", key="last-handled-configuration")
    # Transitions are posted as Events by the reconciler; kopf's own only for problems.
    settings.posting.level = logging.WARNING
    if os.environ.get("EMBER_LOG_LEVEL", "INFO").upper() != "DEBUG":
        # kopf logs every handled pod event ("Handler 'pod_event' succeeded") at INFO.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.server_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10, 20]
    # Reconcile passes run in worker threads (the kubernetes client blocks): allow several at once.
    settings.execution.max_workers = 16
    memo.reconciler = Reconciler(Api(), settings_from_env())
