"""The process kubelet against an API server: pods run as processes, report status, are deleted.

The API server here is kmock's plain ``KubernetesEmulator`` on a local port (in a background
thread), talked to through the real ``kubernetes`` client, as the kubelet does with any server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from kubernetes import client

from ember.localkube import cgroups
from ember.localkube.kubelet import Kubelet, core_api

PY = sys.executable


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    ready = threading.Event()
    stop = threading.Event()
    found: dict[str, str] = {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            found["url"] = str(server.url).rstrip("/")
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield found["url"]
    stop.set()
    thread.join(10)


@pytest.fixture
def api(api_url: str) -> client.CoreV1Api:
    return core_api(url=api_url)


@pytest.fixture
def kubelet(api_url: str, tmp_path: Path) -> Iterator[Kubelet]:
    with Kubelet(url=api_url, work_dir=tmp_path / "kubelet", watch_poll_seconds=0.5) as running:
        yield running


def make_pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "ember:dev", "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "kubelet-test"}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def create(api: client.CoreV1Api, pod: dict[str, Any]) -> str:
    pod["metadata"]["name"] += "-" + uuid.uuid4().hex[:6]
    api.create_namespaced_pod("default", pod)
    return str(pod["metadata"]["name"])


def read(api: client.CoreV1Api, name: str) -> dict[str, Any]:
    return dict(json.loads(api.read_namespaced_pod(name, "default", _preload_content=False).data))


def wait_for_phase(api: client.CoreV1Api, name: str, *phases: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        pod = read(api, name)
        if (pod.get("status") or {}).get("phase") in phases:
            return pod
        if time.monotonic() > deadline:
            pytest.fail(f"pod {name} never reached {phases}: {pod.get('status')}")
        time.sleep(0.05)


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def test_a_python_pod_succeeds_and_its_logs_are_readable(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    script = "import sys; print('hello'); print('bye', file=sys.stderr)"
    name = create(api, make_pod("hello", [PY, "-c", script]))
    pod = wait_for_phase(api, name, "Succeeded")
    assert terminated(pod)["exitCode"] == 0 and terminated(pod)["reason"] == "Completed"
    assert pod["status"]["podIP"] == "127.0.0.1" and pod["status"]["startTime"]
    assert terminated(pod)["finishedAt"]
    assert kubelet.logs("default", name) == "hello\nbye\n"
    assert kubelet.logs("default", name, tail_lines=1) == "bye\n"
    assert "".join(kubelet.log_source("default", name, follow=True)) == "hello\nbye\n"


def test_a_running_pod_reports_running_and_its_logs_can_be_followed(
    api: client.CoreV1Api, kubelet: Kubelet,
) -> None:
    script = "import time\nfor i in range(3):\n    print(i, flush=True); time.sleep(0.2)"
    name = create(api, make_pod("counter", [PY, "-c", script]))
    pod = wait_for_phase(api, name, "Running", "Succeeded")
    if pod["status"]["phase"] == "Running":
        assert pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert "".join(kubelet.log_source("default", name, follow=True)) == "0\n1\n2\n"


def test_a_failing_command_fails_the_pod_with_its_exit_code(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    name = create(api, make_pod("fails", [PY, "-c", "raise SystemExit(3)"]))
    pod = wait_for_phase(api, name, "Failed")
    assert (terminated(pod)["exitCode"], terminated(pod)["reason"]) == (3, "Error")


def test_a_missing_command_fails_the_pod_with_a_message(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    name = create(api, make_pod("missing", ["no-such-command-ember"]))
    pod = wait_for_phase(api, name, "Failed")
    assert terminated(pod)["reason"] == "ContainerCannotRun"
    assert terminated(pod)["exitCode"] == 127
    assert "no-such-command-ember" in pod["status"]["message"]


def test_env_downward_api_key_refs_and_volumes_reach_the_process(
    api: client.CoreV1Api, kubelet: Kubelet, tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    api.create_namespaced_config_map("default", {
        "metadata": {"name": f"conf-{suffix}", "namespace": "default"},
        "data": {"mode": "fast", "app.conf": "x=1"},
    })
    api.create_namespaced_secret("default", {
        "metadata": {"name": f"sec-{suffix}", "namespace": "default"}, "data": {"token": "czNjcjN0"},
    })
    host_dir = tmp_path / "host"
    script = (
        "import json, os, pathlib, sys\n"
        "keys = ['GREETING', 'POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'APP', 'MODE', 'TOKEN', 'HOSTNAME',"
        " 'EMBER_MOUNT_SCRATCH']\n"
        "out = {k: os.environ.get(k) for k in keys}\n"
        "out['conf'] = pathlib.Path(sys.argv[1]).read_text()\n"
        "pathlib.Path(sys.argv[2], 'written').write_text('from pod')\n"
        "print(json.dumps(out))\n"
    )
    pod = make_pod(
        "env", [PY, "-c", script, "/etc/app/app.conf", "/data"],
        volumes=[
            {"name": "conf", "configMap": {"name": f"conf-{suffix}"}},
            {"name": "data", "hostPath": {"path": str(host_dir)}},
            {"name": "scratch", "emptyDir": {}},
        ],
        container={
            "env": [
                {"name": "GREETING", "value": "hi $(POD_NAME)"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": f"conf-{suffix}", "key": "mode"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": f"sec-{suffix}", "key": "token"}}},
            ],
            "volumeMounts": [
                {"name": "conf", "mountPath": "/etc/app"},
                {"name": "data", "mountPath": "/data"},
                {"name": "scratch", "mountPath": "/scratch"},
            ],
        },
    )
    name = create(api, pod)
    wait_for_phase(api, name, "Succeeded")
    seen = json.loads(kubelet.logs("default", name))
    assert seen["POD_NAME"] == name and seen["HOSTNAME"] == name
    assert seen["GREETING"] == "hi $(POD_NAME)"  # defined after GREETING, so not expanded (as in Kubernetes)
    assert (seen["POD_NAMESPACE"], seen["POD_IP"], seen["APP"]) == ("default", "127.0.0.1", "kubelet-test")
    assert (seen["MODE"], seen["TOKEN"], seen["conf"]) == ("fast", "s3cr3t", "x=1")
    assert Path(seen["EMBER_MOUNT_SCRATCH"]).is_dir()
    assert (host_dir / "written").read_text() == "from pod"


def test_deleting_a_running_pod_sends_sigterm_then_sigkill_after_the_grace_period(
    api: client.CoreV1Api, kubelet: Kubelet, tmp_path: Path,
) -> None:
    marker = tmp_path / "got-sigterm"
    script = (
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    name = create(api, make_pod("stubborn", [PY, "-c", script], terminationGracePeriodSeconds=1))
    wait_for_phase(api, name, "Running")
    deadline = time.monotonic() + 10
    while "ready" not in kubelet.logs("default", name):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pod_process = next(p for p in kubelet._pods.values() if p.name == name)
    process = pod_process.process
    assert process is not None
    started = time.monotonic()
    api.delete_namespaced_pod(name, "default")
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.9
    assert marker.read_text() == "yes"


def test_stop_ends_every_process_it_started(api_url: str, api: client.CoreV1Api, tmp_path: Path) -> None:
    kubelet = Kubelet(url=api_url, work_dir=tmp_path / "kubelet", watch_poll_seconds=0.5)
    kubelet.start()
    try:
        name = create(api, make_pod("sleeper", [PY, "-c", "import time; time.sleep(60)"]))
        wait_for_phase(api, name, "Running")
    finally:
        kubelet.stop(grace_seconds=0.5)
    processes = [p.process for p in kubelet._pods.values() if p.process is not None]
    assert processes and all(process.poll() is not None for process in processes)
    api.delete_namespaced_pod(name, "default")


def _oom_skip_reason() -> str | None:
    hierarchy, reason = cgroups.probe()
    return None if hierarchy is not None else f"memory limits cannot be enforced here: {reason}"


@pytest.mark.skipif(_oom_skip_reason() is not None, reason=str(_oom_skip_reason()))
def test_a_pod_over_its_memory_limit_is_oom_killed(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    script = "x = bytearray(400 * 1024 * 1024)\nx[::4096] = b'1' * (len(x) // 4096)\nprint('survived')"
    pod = make_pod("hog", [PY, "-c", script], container={"resources": {"limits": {"memory": "64Mi"}}})
    name = create(api, pod)
    pod = wait_for_phase(api, name, "Failed", "Succeeded", timeout=30)
    assert pod["status"]["phase"] == "Failed"
    assert (terminated(pod)["exitCode"], terminated(pod)["reason"]) == (137, "OOMKilled")


@pytest.mark.skipif(_oom_skip_reason() is not None, reason=str(_oom_skip_reason()))
def test_the_peak_memory_of_a_pod_is_kept_after_it_ends(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    script = "x = bytearray(100 * 1024 * 1024)\nx[::4096] = b'1' * (len(x) // 4096)\nprint('done')"
    pod = make_pod("peak", [PY, "-c", script], container={"resources": {"limits": {"memory": "256Mi"}}})
    name = create(api, pod)
    assert wait_for_phase(api, name, "Failed", "Succeeded", timeout=30)["status"]["phase"] == "Succeeded"
    deadline = time.monotonic() + 10
    while kubelet.peak_memory("default", name) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    peak = kubelet.peak_memory("default", name)
    assert 100 * 2**20 <= peak <= 256 * 2**20
    assert kubelet.peak_memory("default", "never-ran") is None


def test_a_missing_config_map_key_fails_the_pod_as_a_config_error(
    api: client.CoreV1Api, kubelet: Kubelet,
) -> None:
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent-conf", "key": "k"}}}]
    name = create(api, make_pod("noconf", [PY, "-c", "pass"], container={"env": env}))
    pod = wait_for_phase(api, name, "Failed")
    assert terminated(pod)["reason"] == "CreateContainerConfigError"
    assert "absent-conf" in pod["status"]["message"]


def test_a_pod_bound_to_another_node_is_left_alone(api: client.CoreV1Api, kubelet: Kubelet) -> None:
    name = create(api, make_pod("elsewhere", [PY, "-c", "pass"], nodeName="some-other-node"))
    mine = create(api, make_pod("mine", [PY, "-c", "pass"], nodeName=kubelet.node_name))
    wait_for_phase(api, mine, "Succeeded")
    assert read(api, name).get("status") is None
