"""The SparkApplication lifecycle, fed events with no cluster, clock or sleeps."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from ember.operator import lifecycle as lc
from ember.operator.lifecycle import (
    AppStatus,
    DeleteApp,
    DeleteDriver,
    DeleteExecutors,
    DriverView,
    Observed,
    Policy,
    PostEvent,
    SubmissionFailed,
    Submit,
)

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_ids = itertools.count()


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def observe(status: AppStatus, policy: Policy, *, t: float = 0, driver: DriverView | None = None,
            generation: int = 1, spec_error: str | None = None, sid: str = "",
            changed: tuple[str, ...] = ()) -> lc.Step:
    n = next(_ids)
    event = Observed(event_id=f"e{n}", now=at(t), generation=generation, spec_error=spec_error,
                     driver=driver, new_submission_id=sid or f"sub-{n}", changed_fields=changed)
    return lc.step(status, event, policy)


def without_events(instructions: list) -> list:
    return [i for i in instructions if not isinstance(i, PostEvent)]


def states(status: AppStatus) -> list[str]:
    return [entry["state"] for entry in status.history]


def submitted(policy: Policy, *, t: float = 0) -> AppStatus:
    return observe(AppStatus(), policy, t=t, sid="s1").status


def test_new_app_is_submitted_with_a_submission_id_and_counted() -> None:
    step = observe(AppStatus(), Policy(), sid="s1")
    assert step.status.state == lc.SUBMITTED
    assert step.status.submission_id == "s1"
    assert (step.status.submission_attempts, step.status.execution_attempts) == (1, 1)
    assert step.status.last_submission_attempt_time == "2026-01-02T03:04:05Z"
    assert without_events(step.instructions) == [DeleteDriver(keep="s1"), Submit("s1")]
    assert [i.reason for i in step.instructions if isinstance(i, PostEvent)] == ["Submitted"]


def test_invalid_spec_fails_submission_with_the_message_and_no_objects() -> None:
    message = "spec.executor.memory is 256 MiB, below the minimum heap of 450 MiB"
    step = observe(AppStatus(), Policy(restart="OnFailure", on_submission_failure_retries=3),
                   spec_error=message)
    assert step.status.state == lc.SUBMISSION_FAILED
    assert step.status.error_message == message
    assert step.status.termination_time == "2026-01-02T03:04:05Z"
    assert without_events(step.instructions) == []
    # It stays failed: an invalid spec is not retried until the spec changes.
    again = observe(step.status, Policy(restart="OnFailure", on_submission_failure_retries=3), t=60)
    assert again.status.state == lc.SUBMISSION_FAILED
    assert without_events(again.instructions) == []


@pytest.mark.parametrize(("phases", "final", "history"), [
    (["Pending", "Running", "Succeeded"], lc.COMPLETED,
     [lc.SUBMITTED, lc.RUNNING, lc.SUCCEEDING, lc.COMPLETED]),
    (["Succeeded"], lc.COMPLETED, [lc.SUBMITTED, lc.SUCCEEDING, lc.COMPLETED]),
    (["Running", "Failed"], lc.FAILED, [lc.SUBMITTED, lc.RUNNING, lc.FAILING, lc.FAILED]),
    (["Running", "Unknown", "Running"], lc.RUNNING,
     [lc.SUBMITTED, lc.RUNNING, lc.UNKNOWN, lc.RUNNING]),
])
def test_driver_phase_drives_the_state(phases: list[str], final: str, history: list[str]) -> None:
    policy = Policy()
    status = submitted(policy)
    for i, phase in enumerate(phases, start=1):
        status = observe(status, policy, t=i, driver=DriverView(phase=phase, exit_code=(
            0 if phase == "Succeeded" else 1 if phase == "Failed" else None))).status
    assert status.state == final
    assert states(status) == history


def test_completion_records_termination_time_and_removes_executors() -> None:
    policy = Policy()
    status = observe(submitted(policy), policy, t=5, driver=DriverView("Running",
                                                                       driver_url="http://d:7078"))
    assert status.status.driver_url == "http://d:7078"
    done = observe(status.status, policy, t=9, driver=DriverView("Succeeded", exit_code=0))
    assert done.status.termination_time == "2026-01-02T03:04:14Z"
    assert DeleteExecutors("s1") in done.instructions


@pytest.mark.parametrize(("driver", "message"), [
    (DriverView("Failed", exit_code=3, reason="Error", message="ValueError: bad input"),
     "driver exited with code 3: ValueError: bad input"),
    (DriverView("Failed", exit_code=137, reason="OOMKilled"),
     "driver was OOMKilled (exit code 137): raise spec.driver.memoryOverhead or spec.driver.memory"),
    (DriverView("Failed", reason="Evicted", message="The node was low on resource: memory."),
     "driver pod failed: Evicted: The node was low on resource: memory."),
])
def test_failure_message_carries_the_termination_reason(driver: DriverView, message: str) -> None:
    step = observe(submitted(Policy()), Policy(), t=1, driver=driver)
    assert step.status.state == lc.FAILED
    assert step.status.error_message == message


def test_on_failure_retries_with_linear_backoff_then_fails() -> None:
    policy = Policy(restart="OnFailure", on_failure_retries=2, on_failure_retry_interval=10)
    status = submitted(policy)
    failed = DriverView("Failed", exit_code=3, reason="Error")
    t = 0.0
    reruns = []
    for attempt in (1, 2):
        status = observe(status, policy, t=t + 1, driver=failed).status
        assert status.state == lc.PENDING_RERUN
        due = lc.parse_time(status.next_attempt_time)
        assert due is not None
        reruns.append((due - at(t + 1)).total_seconds())
        # Not yet due: nothing happens.
        early = observe(status, policy, t=t + 1 + 10 * attempt - 1)
        assert early.status.state == lc.PENDING_RERUN and without_events(early.instructions) == []
        t = t + 1 + 10 * attempt
        step = observe(status, policy, t=t, sid=f"retry-{attempt}")
        status = step.status
        assert status.state == lc.SUBMITTED
        assert without_events(step.instructions) == [DeleteDriver(keep=f"retry-{attempt}"),
                                                     Submit(f"retry-{attempt}")]
    status = observe(status, policy, t=t + 1, driver=failed).status
    assert status.state == lc.FAILED
    assert reruns == [10, 20]
    assert status.execution_attempts == policy.on_failure_retries + 1
    assert status.submission_attempts == 3


def test_always_restarts_after_success() -> None:
    policy = Policy(restart="Always", on_failure_retry_interval=3)
    step = observe(submitted(policy), policy, t=1, driver=DriverView("Succeeded", exit_code=0))
    assert step.status.state == lc.PENDING_RERUN
    assert states(step.status)[-2:] == [lc.SUCCEEDING, lc.PENDING_RERUN]
    assert step.status.next_attempt_time == "2026-01-02T03:04:09Z"


def test_submission_failure_is_retried_per_policy() -> None:
    policy = Policy(restart="OnFailure", on_submission_failure_retries=1,
                    on_submission_failure_retry_interval=7)
    status = submitted(policy)
    step = lc.step(status, SubmissionFailed(event_id="x", now=at(1), message="403 forbidden"),
                   policy)
    assert step.status.state == lc.PENDING_RERUN
    assert step.status.execution_attempts == 0
    assert step.status.next_attempt_time == "2026-01-02T03:04:13Z"
    status = observe(step.status, policy, t=8, sid="s2").status
    assert status.submission_attempts == 2
    final = lc.step(status, SubmissionFailed(event_id="y", now=at(9), message="403 forbidden"),
                    policy).status
    assert final.state == lc.SUBMISSION_FAILED
    assert final.error_message == "403 forbidden"


def test_missing_driver_is_recreated_within_grace_then_fails() -> None:
    policy = Policy(driver_missing_grace=30)
    status = submitted(policy)
    first = observe(status, policy, t=1)
    assert first.status.state == lc.SUBMITTED
    assert without_events(first.instructions) == [Submit("s1")]
    late = observe(first.status, policy, t=31)
    assert late.status.state == lc.FAILED
    assert "was not found for 30s" in late.status.error_message


def test_missing_driver_while_running_fails_after_grace_without_resubmitting() -> None:
    policy = Policy(driver_missing_grace=10)
    running = observe(submitted(policy), policy, t=1, driver=DriverView("Running")).status
    first = observe(running, policy, t=2)
    assert first.status.state == lc.RUNNING and without_events(first.instructions) == []
    seen_again = observe(first.status, policy, t=5, driver=DriverView("Running"))
    assert seen_again.status.driver_missing_since is None
    assert observe(first.status, policy, t=12).status.state == lc.FAILED


@pytest.mark.parametrize(("driver", "expected"), [
    (DriverView("Pending", waiting_reason="ImagePullBackOff", message="image not found"),
     "driver container is waiting: ImagePullBackOff: image not found"),
    (DriverView("Pending", unschedulable="0/3 nodes are available: 3 Insufficient memory."),
     "driver pod is Unschedulable: 0/3 nodes are available: 3 Insufficient memory."),
])
def test_stuck_driver_reports_then_fails_after_grace(driver: DriverView, expected: str) -> None:
    policy = Policy(driver_stuck_grace=60)
    status = observe(submitted(policy), policy, t=1, driver=driver).status
    assert status.state == lc.SUBMITTED
    assert status.error_message == expected
    status = observe(status, policy, t=61, driver=driver).status
    assert status.state == lc.FAILED
    assert status.error_message == expected


def test_spec_change_while_running_restarts_and_records_the_change() -> None:
    policy = Policy(restart="OnFailure", on_failure_retries=1)
    running = observe(submitted(policy), policy, t=1, driver=DriverView("Running")).status
    step = observe(running, policy, t=2, generation=2, changed=("spec.arguments",))
    assert step.status.state == lc.PENDING_RERUN
    assert step.status.observed_generation == 2
    assert DeleteDriver() in step.instructions
    changed = [i for i in step.instructions if isinstance(i, PostEvent) and i.reason == "SpecChanged"]
    assert changed and "spec.arguments changed (generation 1 -> 2)" in changed[0].message
    resubmitted = observe(step.status, policy, t=2, generation=2, sid="s2").status
    assert resubmitted.state == lc.SUBMITTED
    assert (resubmitted.submission_attempts, resubmitted.execution_attempts) == (1, 1)


def test_ttl_deletes_a_finished_app_only_after_it_passes() -> None:
    policy = Policy(time_to_live_seconds=30)
    done = observe(submitted(policy), policy, t=1, driver=DriverView("Succeeded", exit_code=0))
    assert observe(done.status, policy, t=30).instructions == []
    assert observe(done.status, policy, t=31).instructions == [DeleteApp()]


def test_history_is_bounded() -> None:
    policy = Policy(restart="Always", on_failure_retry_interval=0)
    status = submitted(policy)
    for i in range(40):
        status = observe(status, policy, t=2 * i + 1, driver=DriverView("Failed", exit_code=1)).status
        status = observe(status, policy, t=2 * i + 2).status
    assert len(status.history) == lc.HISTORY_LIMIT
    assert status.execution_attempts == 41


def test_status_round_trips_through_the_object() -> None:
    status = observe(submitted(Policy()), Policy(), t=3,
                     driver=DriverView("Running", driver_url="http://10.0.0.5:7078")).status
    assert status.driver_url == "http://10.0.0.5:7078"
    assert AppStatus.from_status(status.to_status()) == status


def test_every_transition_is_in_the_table() -> None:
    with pytest.raises(lc.InvalidTransition):
        lc._move(lc.Step(AppStatus(state=lc.COMPLETED)),
                 Observed(event_id="z", now=T0, generation=1), lc.RUNNING)
