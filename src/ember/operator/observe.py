"""What the operator reads off pods, as pure functions of the pod dicts the API serves."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ember.k8s import names
from ember.operator.lifecycle import DriverView

#: Executor pod phases as the status's executorState counts them (Spark operator's names).
EXECUTOR_STATES = {"Pending": "PENDING", "Running": "RUNNING", "Succeeded": "COMPLETED",
                   "Failed": "FAILED"}


def driver_view(pod: Mapping[str, Any]) -> DriverView:
    """The lifecycle's view of a driver pod: phase, termination, waiting and scheduling problems."""
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    container = _first_container_status(status)
    state = container.get("state") or {}
    terminated = state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    unschedulable = ""
    for condition in status.get("conditions") or []:
        if (condition.get("type") == "PodScheduled" and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"):
            unschedulable = condition.get("message") or "no node fits the pod"
    exit_code = terminated.get("exitCode")
    return DriverView(
        phase=status.get("phase") or "Pending",
        exit_code=None if exit_code is None else int(exit_code),
        reason=terminated.get("reason") or status.get("reason") or "",
        # A driver's termination message is what it wrote, or the end of its log
        # (FallbackToLogsOnError): summarised to the line that says what went wrong.
        message=(log_summary(terminated.get("message") or "") or status.get("message")
                 or waiting.get("message") or ""),
        waiting_reason=waiting.get("reason") or "",
        unschedulable=unschedulable,
        driver_url=(meta.get("annotations") or {}).get(names.ANNOTATION_DRIVER_URL),
    )


def _first_container_status(status: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = status.get("containerStatuses") or []
    return statuses[0] if statuses else {}


def current_driver(pods: Iterable[Mapping[str, Any]], submission_id: str) -> Mapping[str, Any] | None:
    """The driver pod of ``submission_id`` among ``pods``, unless it is being deleted."""
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(names.LABEL_SUBMISSION_ID) == submission_id and not meta.get("deletionTimestamp"):
            return pod
    return None


def executor_state(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of executor pods by state, every state present: bounded however many executors came
    and went, and a merge patch of it replaces the previous counts."""
    counts = Counter(EXECUTOR_STATES.get((p.get("status") or {}).get("phase") or "Pending",
                                         "UNKNOWN") for p in pods)
    return {state: counts.get(state, 0) for state in (*EXECUTOR_STATES.values(), "UNKNOWN")}


#: ember's own log records below WARNING (``2026-01-02 03:04:05,678 INFO ember.driver: ...``).
_CHATTER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")


def log_summary(text: str, *, limit: int = 500) -> str:
    """What a failed program's output ends with: its last line (a traceback's names the error),
    or for ember's own errors, written as a problem, a blank line and a hint, both of them.
    Informational log records are skipped."""
    lines = [line.strip() for line in text.splitlines() if not _CHATTER.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return ""
    last = lines[-1]
    if len(lines) >= 3 and not lines[-2] and lines[-3]:
        return f"{lines[-3]}; {last}"[:limit]
    return last[:limit]
