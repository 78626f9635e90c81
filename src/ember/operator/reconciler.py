"""One reconcile pass of a SparkApplication: observe, step the lifecycle, carry out what it says.

The status is patched *before* the objects of a new submission are created, so the submission id
is recorded first: an operator that restarts (or a pass that repeats) finds the driver by that
id's label and never creates a second one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from ember.k8s import driver as driver_objects
from ember.k8s import names
from ember.k8s import spec as appspec
from ember.operator import lifecycle, observe
from ember.operator.kube import Api, ApiException

log = logging.getLogger("ember.operator")


@dataclass(frozen=True)
class Settings:
    """Operator-wide timing (seconds)."""

    interval: float = 2.0
    driver_missing_grace: float = 30.0
    driver_stuck_grace: float = 120.0


def policy_of(app: Mapping[str, Any], settings: Settings) -> lifecycle.Policy:
    """The lifecycle policy of ``app``: its restartPolicy and TTL with the operator's graces."""
    try:
        spec = appspec.AppSpec.from_app(app)
    except (TypeError, ValueError, AttributeError):
        return lifecycle.Policy(driver_missing_grace=settings.driver_missing_grace,
                                driver_stuck_grace=settings.driver_stuck_grace)
    restart = spec.restart_policy
    return lifecycle.Policy(
        restart=restart.type,
        on_failure_retries=int(restart.on_failure_retries),
        on_failure_retry_interval=float(restart.on_failure_retry_interval),
        on_submission_failure_retries=int(restart.on_submission_failure_retries),
        on_submission_failure_retry_interval=float(restart.on_submission_failure_retry_interval),
        time_to_live_seconds=spec.time_to_live_seconds,
        driver_missing_grace=settings.driver_missing_grace,
        driver_stuck_grace=settings.driver_stuck_grace,
    )


def spec_problem(app: Mapping[str, Any]) -> str | None:
    """What makes the spec unrunnable (the field and the fix), or None."""
    try:
        appspec.validate(app)
    except appspec.SpecError as exc:
        return str(exc)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return f"spec: cannot be read ({exc})\n\ncheck the SparkApplication against the CRD"
    return None


class Reconciler:
    """Reconciles SparkApplications through ``api``, one pass per call of `reconcile`."""

    def __init__(self, api: Api, settings: Settings | None = None) -> None:
        self.api = api
        self.settings = settings or Settings()
        self._ids = 0

    def reconcile(self, namespace: str, name: str, *, changed_fields: tuple[str, ...] = ()) -> str | None:
        """One pass over the app; returns its state afterwards (None when it is gone)."""
        app = self.api.get_app(namespace, name)
        if app is None or app["metadata"].get("deletionTimestamp"):
            return None
        status = lifecycle.AppStatus.from_status(app.get("status"))
        policy = policy_of(app, self.settings)
        app_id = names.app_id(app["metadata"]["uid"])
        driver = self._observe_driver(app, app_id, status)
        event = lifecycle.Observed(
            event_id=self._event_id(name), now=dt.datetime.now(dt.UTC),
            generation=int(app["metadata"].get("generation") or 1),
            spec_error=spec_problem(app), driver=driver,
            new_submission_id=str(uuid.uuid4()), changed_fields=changed_fields)
        step = lifecycle.step(status, event, policy)
        self._write_status(app, app_id, step.status)
        for instruction in step.instructions:
            failure = self._carry_out(app, app_id, instruction)
            if failure is not None:
                failed = lifecycle.step(step.status, lifecycle.SubmissionFailed(
                    event_id=self._event_id(name), now=dt.datetime.now(dt.UTC), message=failure),
                    policy)
                self._write_status(app, app_id, failed.status)
                for follow_up in failed.instructions:
                    self._carry_out(app, app_id, follow_up)
                return failed.status.state
        return step.status.state

    # -- observing -------------------------------------------------------------------------------

    def _observe_driver(self, app: Mapping[str, Any], app_id: str,
                        status: lifecycle.AppStatus) -> lifecycle.DriverView | None:
        if not status.submission_id:
            return None
        namespace = app["metadata"]["namespace"]
        pods = self.api.list_pods(namespace, {names.LABEL_APP_ID: app_id,
                                              names.LABEL_ROLE: names.ROLE_DRIVER})
        pod = observe.current_driver(pods, status.submission_id)
        return None if pod is None else observe.driver_view(pod)

    def _write_status(self, app: Mapping[str, Any], app_id: str,
                      status: lifecycle.AppStatus) -> None:
        meta = app["metadata"]
        patch = status.to_status()
        patch["sparkApplicationId"] = app_id
        patch["driverInfo"] = {
            "podName": names.driver_pod_name(meta["name"]),
            "webUIServiceName": names.driver_service_name(meta["name"]),
            "webUIAddress": status.driver_url,
        }
        executors = self.api.list_pods(meta["namespace"], {names.LABEL_APP_ID: app_id,
                                                           names.LABEL_ROLE: names.ROLE_EXECUTOR})
        patch["executorState"] = observe.executor_state(executors)
        if _changes(app.get("status") or {}, patch):
            self.api.patch_app_status(meta["namespace"], meta["name"], patch)

    # -- acting ----------------------------------------------------------------------------------

    def _carry_out(self, app: dict[str, Any], app_id: str,
                   instruction: lifecycle.Instruction) -> str | None:
        """Do one instruction; a failed submission returns its message."""
        meta = app["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        match instruction:
            case lifecycle.Submit(submission_id=sid):
                return self._submit(app, sid)
            case lifecycle.DeleteDriver(keep=keep):
                self._delete_driver_objects(namespace, name, keep=keep)
            case lifecycle.DeleteExecutors(submission_id=sid):
                self.api.delete_pods(namespace, {names.LABEL_APP_ID: app_id,
                                                 names.LABEL_ROLE: names.ROLE_EXECUTOR,
                                                 names.LABEL_SUBMISSION_ID: sid})
            case lifecycle.DeleteApp():
                log.info("deleting %s/%s: its timeToLiveSeconds has passed", namespace, name)
                self.api.delete_app(namespace, name)
            case lifecycle.PostEvent(type=kind, reason=reason, message=message):
                self.api.post_event(app, type=kind, reason=reason, message=message)
        return None

    def _submit(self, app: dict[str, Any], sid: str) -> str | None:
        try:
            objects = driver_objects.build_driver_objects(
                app, submission_id=sid, token=secrets.token_urlsafe(32))
        except appspec.SpecError as exc:
            return str(exc)
        owned = list(objects.all())
        kopf.adopt(owned, owner=app)
        for obj in owned:
            kind, namespace, obj_name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
            try:
                self.api.create(obj)
            except ApiException as exc:
                if exc.status != 409:
                    return (f"creating {kind} {namespace}/{obj_name} failed: {exc.status} "
                            f"{exc.reason}: {_api_message(exc)}")
                labels = self.api.read_labels(kind, namespace, obj_name) or {}
                if labels.get(names.LABEL_SUBMISSION_ID) != sid:
                    # An object of an earlier submission is still being deleted; the next pass
                    # submits again (the lifecycle re-issues Submit while the driver is missing).
                    log.info("%s %s/%s of an earlier submission is still there; retrying",
                             kind, namespace, obj_name)
                    return None
        return None

    def _delete_driver_objects(self, namespace: str, name: str, *, keep: str) -> None:
        for kind, obj_name in (("Pod", names.driver_pod_name(name)),
                               ("Service", names.driver_service_name(name)),
                               ("ConfigMap", names.conf_map_name(name)),
                               ("Secret", names.secret_name(name))):
            labels = self.api.read_labels(kind, namespace, obj_name)
            if labels is not None and (not keep or labels.get(names.LABEL_SUBMISSION_ID) != keep):
                self.api.delete(kind, namespace, obj_name)

    def _event_id(self, name: str) -> str:
        self._ids += 1
        return f"{name}-{self._ids}"


def _changes(current: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether merge-patching ``patch`` into ``current`` would change anything."""
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(current.get(key), Mapping):
            if _changes(current[key], value):
                return True
        elif value is None:
            if current.get(key) is not None:
                return True
        elif current.get(key) != value:
            return True
    return False


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.body)
    except (ValueError, AttributeError):
        return str(exc.body)
