"""``ember local-cluster up --detach`` / ``down``: a usable cluster, and nothing left after."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import kubernetes
import pytest


def ember(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _wait_phase(api: kubernetes.client.CoreV1Api, name: str, phases: set[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        phase = api.read_namespaced_pod(name, "default").status.phase
        if phase in phases:
            return phase
        time.sleep(0.1)
    pytest.fail(f"pod {name} did not reach {phases}")


def test_up_detached_runs_pods_and_down_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    kubeconfig = tmp_path / "kubeconfig"
    up = ember("local-cluster", "up", "--detach", "--kubeconfig", str(kubeconfig),
               "--state-dir", str(state))
    assert up.returncode == 0, up.stderr
    assert "not Kubernetes" in up.stdout and f"export KUBECONFIG={kubeconfig}" in up.stdout
    cluster_pid = json.loads((state / "state.json").read_text())["pid"]
    assert _alive(cluster_pid)
    again = ember("local-cluster", "up", "--detach", "--state-dir", str(state))
    assert again.returncode == 1 and "already running" in again.stderr
    api = kubernetes.client.CoreV1Api(
        kubernetes.config.new_client_from_config(config_file=str(kubeconfig)))
    done = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello"},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "main", "image": "python",
                "command": [sys.executable, "-c", "print('hello from a pod')"]}]}}
    api.create_namespaced_pod("default", done)
    assert _wait_phase(api, "hello", {"Succeeded", "Failed"}) == "Succeeded"
    assert "hello from a pod" in api.read_namespaced_pod_log("hello", "default")
    sleeper = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
               "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "main", "image": "python", "command": [
                            sys.executable, "-c", "import time; time.sleep(600)"]}]}}
    api.create_namespaced_pod("default", sleeper)
    _wait_phase(api, "sleeper", {"Running"})
    if shutil.which("kubectl"):
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        listed = subprocess.run(["kubectl", "get", "pods", "-o", "name"], capture_output=True,
                                text=True, timeout=60, env=env)
        assert listed.returncode == 0, listed.stderr
        assert set(listed.stdout.split()) == {"pod/hello", "pod/sleeper"}
    pod_pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                and "time.sleep(600)" in _cmdline(p)]
    assert pod_pids
    down = ember("local-cluster", "down", "--state-dir", str(state))
    assert down.returncode == 0 and "stopped the local cluster" in down.stdout
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in [cluster_pid, *pod_pids]):
        time.sleep(0.1)
    assert not _alive(cluster_pid)
    assert not any(_alive(p) for p in pod_pids)
    assert ember("local-cluster", "down", "--state-dir", str(state)).stdout.strip() == \
        "no local cluster is running"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
