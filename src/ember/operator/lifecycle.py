"""The SparkApplication lifecycle as a sans-IO state machine.

The reconciler observes an application (its status, its spec's generation and whether the spec is
valid, and the driver pod of the current submission) and feeds that in as an `Observed` event;
when creating the driver's objects fails it feeds `SubmissionFailed`. `step` returns the new
`AppStatus` and the instructions to carry out (`Submit`, `DeleteDriver`, `DeleteApp`,
`PostEvent`). Nothing here reads a clock or talks to Kubernetes: time comes in the events.

States follow the established Spark operator:

=================  ====================================================================
from               to
=================  ====================================================================
NEW                SUBMITTED, or SUBMISSION_FAILED (invalid spec or failed creation)
SUBMITTED          RUNNING (driver pod running), or straight to SUCCEEDING / FAILING
RUNNING            SUCCEEDING, then COMPLETED; or FAILING
FAILING            FAILED, or PENDING_RERUN (restartPolicy OnFailure/Always with retries left)
SUCCEEDING         COMPLETED, or PENDING_RERUN (restartPolicy Always)
SUBMISSION_FAILED  PENDING_RERUN while onSubmissionFailureRetries allow, else it stays
PENDING_RERUN      SUBMITTED (a new submission id) once the backoff has passed
any but NEW        INVALIDATING when the spec changes, then PENDING_RERUN at once
SUBMITTED/RUNNING  UNKNOWN when the driver pod's phase is Unknown
=================  ====================================================================

Retry backoff is linear: the n-th retry waits n x the policy's interval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.k8s import crd

NEW = "NEW"
SUBMITTED = "SUBMITTED"
RUNNING = "RUNNING"
SUCCEEDING = "SUCCEEDING"
COMPLETED = "COMPLETED"
FAILING = "FAILING"
FAILED = "FAILED"
SUBMISSION_FAILED = "SUBMISSION_FAILED"
PENDING_RERUN = "PENDING_RERUN"
INVALIDATING = "INVALIDATING"
UNKNOWN = "UNKNOWN"

#: States in which the driver of the current submission should exist.
ACTIVE = frozenset({SUBMITTED, RUNNING, UNKNOWN})
#: States an application stays in until its spec changes or its TTL deletes it.
TERMINAL = frozenset({COMPLETED, FAILED, SUBMISSION_FAILED})

#: Allowed (start, finish) transitions; anything else is a bug and raises.
TRANSITIONS = frozenset({
    (NEW, SUBMITTED), (NEW, SUBMISSION_FAILED),
    (SUBMITTED, RUNNING), (SUBMITTED, SUCCEEDING), (SUBMITTED, FAILING),
    (SUBMITTED, SUBMISSION_FAILED), (SUBMITTED, UNKNOWN),
    (RUNNING, SUCCEEDING), (RUNNING, FAILING), (RUNNING, UNKNOWN),
    (UNKNOWN, RUNNING), (UNKNOWN, SUCCEEDING), (UNKNOWN, FAILING), (UNKNOWN, SUBMITTED),
    (SUCCEEDING, COMPLETED), (SUCCEEDING, PENDING_RERUN),
    (FAILING, FAILED), (FAILING, PENDING_RERUN),
    (SUBMISSION_FAILED, PENDING_RERUN),
    (PENDING_RERUN, SUBMITTED), (PENDING_RERUN, SUBMISSION_FAILED),
    (INVALIDATING, PENDING_RERUN),
} | {(state, INVALIDATING) for state in (SUBMITTED, RUNNING, UNKNOWN, COMPLETED, FAILED,
                                         SUBMISSION_FAILED, PENDING_RERUN, SUCCEEDING, FAILING)})

HISTORY_LIMIT = crd.STATE_HISTORY_MAX

#: Waiting reasons of a driver container that will not go away by themselves.
STUCK_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                           "CreateContainerConfigError", "CreateContainerError"})


class InvalidTransition(Exception):
    """The machine was asked for a transition its table does not allow."""


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


# -- what the machine is configured with ---------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The app's restartPolicy and TTL, and the operator's grace periods (seconds)."""

    restart: str = "Never"
    on_failure_retries: int = 0
    on_failure_retry_interval: float = 5.0
    on_submission_failure_retries: int = 0
    on_submission_failure_retry_interval: float = 5.0
    time_to_live_seconds: float | None = None
    driver_missing_grace: float = 30.0
    driver_stuck_grace: float = 60.0


# -- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppStatus:
    """The part of ``.status`` the lifecycle owns, as read from and written back to the object."""

    state: str = NEW
    error_message: str = ""
    submission_id: str = ""
    submission_attempts: int = 0
    execution_attempts: int = 0
    last_submission_attempt_time: str | None = None
    termination_time: str | None = None
    next_attempt_time: str | None = None
    driver_missing_since: str | None = None
    driver_stuck_since: str | None = None
    driver_url: str | None = None
    observed_generation: int = 0
    history: tuple[dict[str, str], ...] = ()

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> AppStatus:
        status = status or {}
        app_state = status.get("applicationState") or {}
        return cls(
            state=app_state.get("state") or NEW,
            error_message=app_state.get("errorMessage") or "",
            submission_id=status.get("submissionID") or "",
            submission_attempts=int(status.get("submissionAttempts") or 0),
            execution_attempts=int(status.get("executionAttempts") or 0),
            last_submission_attempt_time=status.get("lastSubmissionAttemptTime"),
            termination_time=status.get("terminationTime"),
            next_attempt_time=status.get("nextAttemptTime"),
            driver_missing_since=status.get("driverMissingSince"),
            driver_stuck_since=status.get("driverStuckSince"),
            driver_url=(status.get("driverInfo") or {}).get("webUIAddress"),
            observed_generation=int(status.get("observedGeneration") or 0),
            history=tuple(status.get("stateHistory") or ()),
        )

    def to_status(self) -> dict[str, Any]:
        """The fields to merge-patch into ``.status`` (None clears a field)."""
        return {
            "applicationState": {"state": self.state, "errorMessage": self.error_message},
            "submissionID": self.submission_id or None,
            "submissionAttempts": self.submission_attempts,
            "executionAttempts": self.execution_attempts,
            "lastSubmissionAttemptTime": self.last_submission_attempt_time,
            "terminationTime": self.termination_time,
            "nextAttemptTime": self.next_attempt_time,
            "driverMissingSince": self.driver_missing_since,
            "driverStuckSince": self.driver_stuck_since,
            "observedGeneration": self.observed_generation,
            "stateHistory": list(self.history),
            "driverInfo": {"webUIAddress": self.driver_url},
        }


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverView:
    """What the reconciler saw of the current submission's driver pod."""

    phase: str
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    waiting_reason: str = ""
    unschedulable: str = ""
    driver_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str
    now: dt.datetime


@dataclass(frozen=True, kw_only=True)
class Observed(Event):
    """One reconcile pass: the spec's generation, its problem if any, and the driver pod."""

    generation: int
    spec_error: str | None = None
    driver: DriverView | None = None
    new_submission_id: str = ""
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SubmissionFailed(Event):
    """Creating the objects of ``Submit`` failed (an API error, a quota, a conflict)."""

    message: str


# -- instructions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submit:
    """Create the driver's ConfigMap, Secret, Service and Pod, labelled with ``submission_id``.

    Idempotent: objects of this submission that already exist are kept."""

    submission_id: str


@dataclass(frozen=True)
class DeleteDriver:
    """Delete the objects of every submission but ``keep`` (executor pods go with their driver)."""

    keep: str = ""


@dataclass(frozen=True)
class DeleteExecutors:
    """Delete the executor pods of ``submission_id``: its driver has ended."""

    submission_id: str


@dataclass(frozen=True)
class DeleteApp:
    """The TTL has passed: delete the SparkApplication (its objects go by ownership)."""


@dataclass(frozen=True)
class PostEvent:
    type: str
    reason: str
    message: str


Instruction = Submit | DeleteDriver | DeleteExecutors | DeleteApp | PostEvent


@dataclass
class Step:
    status: AppStatus
    instructions: list[Instruction] = field(default_factory=list)


# -- the machine ---------------------------------------------------------------------------------

_EVENT_REASONS = {
    SUBMITTED: ("Normal", "Submitted"), RUNNING: ("Normal", "Running"),
    SUCCEEDING: ("Normal", "Succeeding"), COMPLETED: ("Normal", "Completed"),
    FAILING: ("Warning", "Failing"), FAILED: ("Warning", "Failed"),
    SUBMISSION_FAILED: ("Warning", "SubmissionFailed"), PENDING_RERUN: ("Normal", "PendingRerun"),
    INVALIDATING: ("Normal", "SpecChanged"), UNKNOWN: ("Warning", "Unknown"),
}


def step(status: AppStatus, event: Observed | SubmissionFailed, policy: Policy) -> Step:
    """Apply ``event`` to ``status`` under ``policy``."""
    result = Step(status)
    if isinstance(event, SubmissionFailed):
        if status.state == SUBMITTED:
            _submission_failed(result, event, policy, event.message, retriable=True)
        return result
    if status.state != NEW and event.generation != status.observed_generation:
        _invalidate(result, event)
        return result
    handler = _HANDLERS[status.state]
    handler(result, event, policy)
    return result


def _move(result: Step, event: Event, finish: str, message: str = "", **changes: Any) -> None:
    start = result.status.state
    if (start, finish) not in TRANSITIONS:
        msg = f"no transition from {start} to {finish} (event {event.event_id})"
        raise InvalidTransition(msg)
    entry = {"state": finish, "time": format_time(event.now)}
    if message:
        entry["message"] = message
    history = (*result.status.history, entry)[-HISTORY_LIMIT:]
    result.status = dataclasses.replace(result.status, state=finish, history=history, **changes)
    kind, reason = _EVENT_REASONS[finish]
    text = f"{start} -> {finish}" + (f": {message}" if message else "")
    result.instructions.append(PostEvent(kind, reason, text))


def _on_new(result: Step, event: Observed, policy: Policy) -> None:
    result.status = dataclasses.replace(result.status, observed_generation=event.generation)
    if event.spec_error:
        _move(result, event, SUBMISSION_FAILED, event.spec_error, error_message=event.spec_error,
              termination_time=format_time(event.now))
        return
    _submit(result, event)


def _submit(result: Step, event: Observed) -> None:
    sid = event.new_submission_id
    if not sid:
        msg = f"a submission needs new_submission_id (event {event.event_id})"
        raise ValueError(msg)
    _move(result, event, SUBMITTED, f"submission {sid}",
          submission_id=sid,
          submission_attempts=result.status.submission_attempts + 1,
          execution_attempts=result.status.execution_attempts + 1,
          last_submission_attempt_time=format_time(event.now),
          termination_time=None, next_attempt_time=None, error_message="",
          driver_missing_since=None, driver_stuck_since=None, driver_url=None)
    result.instructions.append(DeleteDriver(keep=sid))
    result.instructions.append(Submit(sid))


def _on_active(result: Step, event: Observed, policy: Policy) -> None:
    status = result.status
    driver = event.driver
    if driver is None:
        _driver_missing(result, event, policy)
        return
    if status.driver_missing_since:
        result.status = status = dataclasses.replace(status, driver_missing_since=None)
    if driver.driver_url and driver.driver_url != status.driver_url:
        result.status = status = dataclasses.replace(status, driver_url=driver.driver_url)
    phase = driver.phase
    if phase == "Pending":
        _driver_pending(result, event, policy)
    elif phase == "Running":
        if status.state != RUNNING:
            _move(result, event, RUNNING, driver_stuck_since=None, error_message="")
    elif phase == "Succeeded":
        _move(result, event, SUCCEEDING, "driver completed")
        result.instructions.append(DeleteExecutors(status.submission_id))
        _finish_success(result, event, policy)
    elif phase == "Failed":
        _fail(result, event, policy, driver_failure_message(driver))
    elif status.state != UNKNOWN:
        _move(result, event, UNKNOWN, f"driver pod phase is {phase or 'unknown'}")


def _driver_missing(result: Step, event: Observed, policy: Policy) -> None:
    status = result.status
    since = parse_time(status.driver_missing_since)
    if since is None:
        result.status = dataclasses.replace(status, driver_missing_since=format_time(event.now))
        since = event.now
    waited = (event.now - since).total_seconds()
    if waited >= policy.driver_missing_grace:
        _fail(result, event, policy,
              f"the driver pod of submission {status.submission_id} was not found for "
              f"{waited:.0f}s (deleted, or never created)")
    elif status.state == SUBMITTED:
        # The objects may not have been created (an operator restart between recording the
        # submission and creating them): creating them again is idempotent.
        result.instructions.append(Submit(status.submission_id))


def _driver_pending(result: Step, event: Observed, policy: Policy) -> None:
    status = result.status
    driver = event.driver
    assert driver is not None
    problem = ""
    if driver.waiting_reason in STUCK_REASONS:
        problem = f"driver container is waiting: {driver.waiting_reason}"
        if driver.message:
            problem += f": {driver.message}"
    elif driver.unschedulable:
        problem = f"driver pod is Unschedulable: {driver.unschedulable}"
    if not problem:
        if status.driver_stuck_since:
            result.status = dataclasses.replace(status, driver_stuck_since=None, error_message="")
        return
    since = parse_time(status.driver_stuck_since) or event.now
    result.status = status = dataclasses.replace(
        status, driver_stuck_since=format_time(since), error_message=problem)
    if (event.now - since).total_seconds() >= policy.driver_stuck_grace:
        _fail(result, event, policy, problem)


def _fail(result: Step, event: Observed, policy: Policy, message: str) -> None:
    _move(result, event, FAILING, message, error_message=message)
    result.instructions.append(DeleteExecutors(result.status.submission_id))
    _after_failure(result, event, policy, message)


def _after_failure(result: Step, event: Event, policy: Policy, message: str) -> None:
    """From FAILING: a rerun when the restart policy has retries left, else FAILED."""
    attempts = result.status.execution_attempts
    retry = policy.restart == "Always" or (
        policy.restart == "OnFailure" and attempts <= policy.on_failure_retries)
    if retry:
        _pending_rerun(result, event, policy.on_failure_retry_interval * attempts,
                       f"retry {attempts} of {_limit(policy)} after failure")
    else:
        _move(result, event, FAILED, message, termination_time=format_time(event.now))


def _limit(policy: Policy) -> str:
    return "unlimited" if policy.restart == "Always" else str(policy.on_failure_retries)


def _finish_success(result: Step, event: Observed, policy: Policy) -> None:
    if policy.restart == "Always":
        _pending_rerun(result, event, policy.on_failure_retry_interval,
                       "restartPolicy Always runs it again")
    else:
        _move(result, event, COMPLETED, termination_time=format_time(event.now))


def _submission_failed(result: Step, event: Event, policy: Policy, message: str, *,
                       retriable: bool) -> None:
    status = result.status
    attempts = status.submission_attempts
    _move(result, event, SUBMISSION_FAILED, message, error_message=message,
          execution_attempts=max(0, status.execution_attempts - 1))
    if retriable and policy.restart != "Never" and attempts <= policy.on_submission_failure_retries:
        _pending_rerun(result, event, policy.on_submission_failure_retry_interval * attempts,
                       f"submission retry {attempts} of {policy.on_submission_failure_retries}")
    else:
        result.status = dataclasses.replace(result.status, termination_time=format_time(event.now))


def _pending_rerun(result: Step, event: Event, delay: float, message: str) -> None:
    due = event.now + dt.timedelta(seconds=delay)
    _move(result, event, PENDING_RERUN, f"{message}, at {format_time(due)}",
          next_attempt_time=format_time(due), termination_time=None)


def _on_pending_rerun(result: Step, event: Observed, policy: Policy) -> None:
    due = parse_time(result.status.next_attempt_time)
    if due is not None and event.now < due:
        return
    if event.spec_error:
        _move(result, event, SUBMISSION_FAILED, event.spec_error, error_message=event.spec_error,
              termination_time=format_time(event.now))
        return
    _submit(result, event)


def _on_terminal(result: Step, event: Observed, policy: Policy) -> None:
    ttl = policy.time_to_live_seconds
    ended = parse_time(result.status.termination_time)
    if ttl is not None and ended is not None and (event.now - ended).total_seconds() >= ttl:
        result.instructions.append(DeleteApp())


def _on_finishing(result: Step, event: Observed, policy: Policy) -> None:
    """SUCCEEDING or FAILING were recorded but the operator stopped before moving on."""
    if result.status.state == SUCCEEDING:
        _finish_success(result, event, policy)
    else:
        _after_failure(result, event, policy, result.status.error_message)


def _invalidate(result: Step, event: Observed) -> None:
    before = result.status.observed_generation
    fields = ", ".join(event.changed_fields) or "spec"
    _move(result, event, INVALIDATING,
          f"{fields} changed (generation {before} -> {event.generation}): restarting",
          observed_generation=event.generation)
    result.instructions.append(DeleteDriver())
    # A changed application starts counting its attempts afresh.
    result.status = dataclasses.replace(result.status, submission_attempts=0, execution_attempts=0)
    _pending_rerun(result, event, 0, "resubmitting with the new spec")


_HANDLERS = {
    NEW: _on_new,
    SUBMITTED: _on_active, RUNNING: _on_active, UNKNOWN: _on_active,
    PENDING_RERUN: _on_pending_rerun,
    COMPLETED: _on_terminal, FAILED: _on_terminal, SUBMISSION_FAILED: _on_terminal,
    SUCCEEDING: _on_finishing, FAILING: _on_finishing,
    INVALIDATING: lambda result, event, policy: _pending_rerun(result, event, 0, "resubmitting"),
}


def driver_failure_message(driver: DriverView) -> str:
    """The errorMessage of a failed driver: exit code, OOM kill or reason, and its last words."""
    code = driver.exit_code
    if driver.reason == "OOMKilled" or code == 137:
        text = (f"driver was OOMKilled (exit code {code if code is not None else 137}): "
                "raise spec.driver.memoryOverhead or spec.driver.memory")
    elif code is not None:
        text = f"driver exited with code {code}"
        if driver.reason and driver.reason not in {"Error", "Completed"}:
            text += f" ({driver.reason})"
    else:
        text = f"driver pod failed: {driver.reason or 'no reason given'}"
    detail = driver.message.strip()
    if detail:
        text += f": {detail}"
    return text
