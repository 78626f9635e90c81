"""The process kubelet with the project's API emulator: status, logs through the API, deletion."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes
import pytest

from ember.localkube import emulator
from ember.localkube.kubelet import Kubelet


@pytest.fixture
def kubelet(kube: emulator.LocalKube, tmp_path: Path) -> Iterator[Kubelet]:
    work_dir = tmp_path / "kubelet"
    with Kubelet(kubeconfig=kube.kubeconfig, work_dir=work_dir, watch_poll_seconds=0.5) as running:
        kube.set_log_source(running.log_text)
        yield running


def wait_for(predicate: Callable[[], bool], *, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def phase(api: kubernetes.client.CoreV1Api, name: str) -> str | None:
    try:
        return api.read_namespaced_pod(name, "default").status.phase
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return "gone"
        raise


def pod(name: str, script: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "ember:dev", "command": [sys.executable, "-c", script]}],
            **spec,
        },
    }


def test_pod_logs_are_served_by_the_emulator_from_the_kubelet(
    api_client: kubernetes.client.ApiClient, kubelet: Kubelet,
) -> None:
    api = kubernetes.client.CoreV1Api(api_client)
    api.create_namespaced_pod("default", pod("hello", "print('one'); print('two')"))
    wait_for(lambda: phase(api, "hello") == "Succeeded")
    status = api.read_namespaced_pod("hello", "default").status
    assert status.pod_ip == "127.0.0.1"
    assert status.container_statuses[0].state.terminated.reason == "Completed"
    assert api.read_namespaced_pod_log("hello", "default") == "one\ntwo\n"
    assert api.read_namespaced_pod_log("hello", "default", tail_lines=1) == "two\n"


def test_deleting_a_pod_stops_its_process(api_client: kubernetes.client.ApiClient, kubelet: Kubelet) -> None:
    api = kubernetes.client.CoreV1Api(api_client)
    api.create_namespaced_pod(
        "default", pod("sleeper", "import time; time.sleep(60)", terminationGracePeriodSeconds=1),
    )
    wait_for(lambda: phase(api, "sleeper") == "Running")
    process = next(p.process for p in kubelet._pods.values() if p.name == "sleeper")
    assert process is not None
    api.delete_namespaced_pod("sleeper", "default")
    assert process.wait(timeout=10) is not None
    wait_for(lambda: phase(api, "sleeper") == "gone")
