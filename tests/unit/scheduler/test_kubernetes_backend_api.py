"""The Kubernetes backend against a fake CoreV1Api: retries, refusals, failure and clean-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from ember.k8s import names
from ember.scheduler.backends.kubernetes import KubernetesBackend

CONF = {
    "spark.app.name": "etl", "spark.app.id": "spark-1", "spark.kubernetes.namespace": "jobs",
    "spark.kubernetes.container.image": "ember:1.0", "spark.executor.instances": "2",
    "spark.executor.maxNumFailures": "2", "spark.kubernetes.executor.podNamePrefix": "etl",
    "spark.kubernetes.executor.apiPollingInterval": "100ms",
}


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.reason = "test"


class FakeApi:
    """Pods in a dict; ``failures`` lists, per pod, the statuses its create calls fail with."""

    def __init__(self, failures: dict[str, list[int]]) -> None:
        self.failures = failures
        self.pods: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.api_client = SimpleNamespace(sanitize_for_serialization=lambda pod: pod)

    def read_namespaced_pod(self, name: str, namespace: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u-1"}}

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append(f"patch {name}")

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        self.calls.append(f"create {name}")
        if self.failures.get(name):
            raise ApiError(self.failures[name].pop(0))
        self.pods[name] = body

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        self.calls.append(f"delete {name}")
        if self.pods.pop(name, None) is None:
            raise ApiError(404)

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> Any:
        return SimpleNamespace(items=[_v1pod(body, "Failed", 1) for body in self.pods.values()])


def _v1pod(body: dict[str, Any], phase: str, exit_code: int) -> Any:
    terminated = SimpleNamespace(exit_code=exit_code, reason="Error", message="")
    status = SimpleNamespace(phase=phase, container_statuses=[
        SimpleNamespace(state=SimpleNamespace(terminated=terminated))])
    return SimpleNamespace(metadata=SimpleNamespace(name=body["metadata"]["name"],
                                                    labels=body["metadata"]["labels"]),
                           status=status)


class IdleWatch:
    def __init__(self) -> None:
        self._stop = threading.Event()

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self._stop.wait(5)
        return iter(())

    def stop(self) -> None:
        self._stop.set()


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_server_errors_are_retried_a_refusal_is_not_and_failures_end_the_app() -> None:
    api = FakeApi(failures={"etl-exec-1": [500, 503], "etl-exec-2": [403, 403, 403, 403]})
    lost: list[tuple[str, str]] = []
    failed: list[str] = []
    backend = KubernetesBackend(conf=CONF, driver_url="http://10.0.0.1:7078", api=api,
                                new_watch=IdleWatch, namespace="jobs", driver_pod_name="etl-driver",
                                on_lost=lambda *a: lost.append(a), on_fail=failed.append)
    backend.publish_driver_url("http://10.0.0.1:7078")
    backend.start()
    try:
        # exec-1: 500 and 503 retried, then created; exec-2: refused three times, given up.
        wait_for(lambda: api.calls.count("create etl-exec-1") == 3 and
                 api.calls.count("create etl-exec-2") == 3)
        # The relist shows exec-1 Failed: reported, deleted, replaced; a second failure is the
        # last allowed (spark.executor.maxNumFailures=2) and fails the application.
        wait_for(lambda: len(failed) == 1)
        assert lost[0] == ("1", "executor 1 exited with code 1 (Error)")
        assert failed[0].startswith("2 executors failed, the most allowed "
                                    "(spark.executor.maxNumFailures=2)")
        assert "delete etl-exec-1" in api.calls
    finally:
        backend.stop()
    assert api.calls[0] == "patch etl-driver"
    assert api.calls.count("create etl-exec-2") == 3
    assert api.failures["etl-exec-2"] == [403]
    assert backend.created[0]["metadata"]["labels"][names.LABEL_EXECUTOR_ID] == "1"
