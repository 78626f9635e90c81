"""The executor-pod allocator: events in, instructions out, no cluster and no clock."""

from __future__ import annotations

import pytest

from ember.errors import IllegalArgumentException
from ember.scheduler.events import InvalidTransition
from ember.scheduler.pod_allocator import (
    AllocatorConf,
    CreatePod,
    DeletePod,
    ExecutorLost,
    FailApplication,
    PodAllocator,
    PodObservation,
)


def make(target: int = 2, **kw: float) -> PodAllocator:
    return PodAllocator(AllocatorConf(target=target, **kw), pod_name=lambda i: f"app-exec-{i}")


def pod(executor_id: str, phase: str, exit_code: int | None = None, reason: str = "",
        message: str = "") -> PodObservation:
    return PodObservation(f"app-exec-{executor_id}", executor_id, phase, exit_code, reason, message)


def creates(instructions: list) -> list[str]:
    return [i.executor_id for i in instructions if isinstance(i, CreatePod)]


def test_start_creates_the_first_batch_only() -> None:
    alloc = make(target=12, batch_size=5)
    assert alloc.start(now=0) == [CreatePod(str(i)) for i in range(1, 6)]
    # The batch is still pending and the delay has not passed: nothing more.
    assert alloc.pods_observed([pod(str(i), "Pending") for i in range(1, 6)], now=0.5) == []


def test_next_batch_once_the_last_one_runs() -> None:
    alloc = make(target=7, batch_size=5)
    alloc.start(now=0)
    out = alloc.pods_observed([pod(str(i), "Running") for i in range(1, 6)], now=0.2)
    assert creates(out) == ["6", "7"]
    assert alloc.pods_observed([pod("6", "Running"), pod("7", "Running")], now=0.3) == []


def test_next_batch_after_the_batch_delay_while_pods_are_pending() -> None:
    alloc = make(target=8, batch_size=5, batch_delay=1.0)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running"), pod("2", "Running")] +
                        [pod(str(i), "Pending") for i in (3, 4, 5)], now=0.1)
    assert alloc.tick(now=0.9) == []
    # 3 pods still pending: at most a batch (5) pending at a time, so 2 more.
    assert creates(alloc.tick(now=1.0)) == ["6", "7"]
    assert alloc.tick(now=1.5) == []


def test_target_from_conf_with_dynamic_allocation_within_min_and_max() -> None:
    conf = {"spark.dynamicAllocation.enabled": "true",
            "spark.dynamicAllocation.initialExecutors": "10",
            "spark.dynamicAllocation.minExecutors": "1",
            "spark.dynamicAllocation.maxExecutors": "4"}
    c = AllocatorConf.from_conf(conf)
    assert (c.target, c.max_failures) == (4, 8)
    conf["spark.dynamicAllocation.initialExecutors"] = "0"
    conf["spark.dynamicAllocation.minExecutors"] = "3"
    assert AllocatorConf.from_conf(conf).target == 3
    c = AllocatorConf.from_conf({"spark.executor.instances": "1",
                                 "spark.kubernetes.allocation.batch.size": "2",
                                 "spark.kubernetes.allocation.batch.delay": "250ms",
                                 "spark.kubernetes.allocation.executor.timeout": "2m",
                                 "spark.executor.maxNumFailures": "7"})
    assert (c.target, c.batch_size, c.batch_delay, c.pending_timeout, c.max_failures) == \
        (1, 2, 0.25, 120.0, 7)
    assert AllocatorConf.from_conf({"spark.executor.instances": "1"}).max_failures == 3
    with pytest.raises(IllegalArgumentException, match="batch.size must be at least 1"):
        AllocatorConf.from_conf({"spark.kubernetes.allocation.batch.size": "0"})


def test_relist_replaces_the_view_and_a_missing_pod_is_lost_and_replaced() -> None:
    alloc = make(target=2)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running"), pod("2", "Running")], now=1)
    out = alloc.pods_observed([pod("1", "Running")], now=30, full=True)
    assert out == [ExecutorLost("2", "executor 2's pod app-exec-2 was deleted"), CreatePod("3")]
    assert alloc.states() == {"1": "running", "3": "requested"}
    # A requested pod that a relist does not show yet is not lost: its creation may be in flight.
    assert alloc.pods_observed([pod("1", "Running")], now=31, full=True) == []


def test_pod_pending_past_the_timeout_is_deleted_and_counted_as_never_started() -> None:
    alloc = make(target=1, pending_timeout=600, max_failures=5)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Pending")], now=1)
    assert alloc.tick(now=599) == []
    # Deleted, and a replacement requested at once.
    assert alloc.tick(now=600) == [DeletePod("app-exec-1"), CreatePod("2")]
    assert alloc.never_started == 1
    # Its deletion is reported with the timeout's reason and counts as a failure.
    out = alloc.pods_observed([pod("1", "Deleted")], now=601)
    assert len(out) == 1 and out[0].executor_id == "1"
    assert "did not start within 600s (spark.kubernetes.allocation.executor.timeout)" \
        in out[0].reason
    assert alloc.failures == 1


def test_failed_executor_is_reported_with_exit_code_and_reason_and_replaced() -> None:
    alloc = make(target=2)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running"), pod("2", "Running")], now=1)
    out = alloc.pods_observed([pod("2", "Failed", 3, "Error", "boom\n")], now=2)
    assert out == [DeletePod("app-exec-2"),
                   ExecutorLost("2", "executor 2 exited with code 3 (Error: boom)"),
                   CreatePod("3")]
    assert alloc.failures == 1


def test_oom_killed_executor_names_the_memory_settings() -> None:
    alloc = make(target=1)
    alloc.start(now=0)
    out = alloc.pods_observed([pod("1", "Failed", 137, "Error")], now=1)
    assert out[1] == ExecutorLost("1", "executor 1 was OOMKilled (exit code 137): raise "
                                       "spark.executor.memoryOverhead (or spark.executor.memory)")
    out = alloc.pods_observed([pod("2", "Failed", None, "OOMKilled")], now=2)
    assert out[1].reason.startswith("executor 2 was OOMKilled (exit code 137)")


def test_max_failures_fails_the_application_and_stops_replacing() -> None:
    alloc = make(target=2, max_failures=3)
    alloc.start(now=0)
    assert creates(alloc.pods_observed([pod("1", "Failed", 1)], now=1)) == ["3"]
    assert creates(alloc.pods_observed([pod("2", "Failed", 1)], now=2)) == ["4"]
    out = alloc.pods_observed([pod("3", "Failed", 2, "Error")], now=3)
    assert out[:2] == [DeletePod("app-exec-3"),
                       ExecutorLost("3", "executor 3 exited with code 2 (Error)")]
    assert out[2] == FailApplication(
        "3 executors failed, the most allowed (spark.executor.maxNumFailures=3); "
        "the last: executor 3 exited with code 2 (Error)")
    assert len(out) == 3
    # After that, ended pods are only cleaned up.
    assert alloc.pods_observed([pod("4", "Failed", 1)], now=4) == [DeletePod("app-exec-4")]
    assert alloc.tick(now=100) == []


def test_kill_deletes_the_pod_and_reports_the_driver_reason() -> None:
    alloc = make(target=1)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running")], now=1)
    assert alloc.kill("1", now=2, reason="no heartbeat") == [DeletePod("app-exec-1")]
    assert alloc.kill("1", now=2) == []
    out = alloc.pods_observed([pod("1", "Failed", 143)], now=3)
    assert out == [ExecutorLost("1", "no heartbeat"), CreatePod("2")]


def test_oom_kill_is_reported_even_when_the_driver_gave_up_on_the_executor_first() -> None:
    alloc = make(target=1)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running")], now=1)
    alloc.kill("1", now=2, reason="executor 1 is unreachable")
    out = alloc.pods_observed([pod("1", "Failed", 137, "OOMKilled")], now=3)
    assert out[0].reason.startswith("executor 1 was OOMKilled (exit code 137)")


def test_stop_deletes_every_pod_and_reports_nothing_after() -> None:
    alloc = make(target=3)
    alloc.start(now=0)
    alloc.pods_observed([pod("1", "Running"), pod("2", "Pending")], now=1)
    assert alloc.stop(now=2) == [DeletePod("app-exec-1"), DeletePod("app-exec-2"),
                                 DeletePod("app-exec-3")]
    assert alloc.pods_observed([pod("1", "Failed", 143), pod("2", "Deleted")], now=3) == []
    assert alloc.tick(now=10) == []
    assert alloc.states() == {"3": "deleting"}


def test_pods_not_ours_are_ignored_and_running_does_not_go_back_to_pending() -> None:
    alloc = make(target=1)
    alloc.start(now=0)
    assert alloc.pods_observed([PodObservation("other-exec-1", "1", "Failed", 1)], now=1) == []
    alloc.pods_observed([pod("1", "Running")], now=1)
    assert alloc.pods_observed([pod("1", "Pending")], now=2) == []
    assert alloc.states() == {"1": "running"}


def test_story_records_transitions_with_event_ids() -> None:
    alloc = make(target=1)
    alloc.start(now=0, event_id="s")
    alloc.pods_observed([pod("1", "Running")], now=1, event_id="w1")
    story = alloc.format_story()
    assert "[s] requesting executors ['1']" in story
    assert "[w1] executor 1 (app-exec-1): requested -> running" in story


def test_transition_table_rejects_leaving_gone() -> None:
    alloc = make(target=1)
    alloc.start(now=0)
    executor = alloc._executors["1"]
    alloc.pods_observed([pod("1", "Failed", 1)], now=1)
    with pytest.raises(InvalidTransition, match="gone -> running"):
        alloc._transition(executor, "running", "x")
