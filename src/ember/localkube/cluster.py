"""``ember local-cluster``: the API emulator and the process kubelet, together.

This is a local development and test cluster, not Kubernetes. What it does not reproduce:

- scheduling: every pod runs on this machine, at once, whatever its requests;
- networking: pods share the host network (they bind ephemeral ports and advertise
  127.0.0.1); there is no DNS for Services, no kube-proxy and no network policy;
- images: a container's image is not pulled or run; its ``command`` runs as a local process
  with this machine's Python environment first on ``PATH``, and ``/opt/ember`` (where the
  image keeps ember's examples) is this source checkout;
- restarts: every pod behaves as ``restartPolicy: Never``;
- authentication and authorisation: the API is plain http on 127.0.0.1, with no RBAC checks;
- memory limits are enforced with a cgroup only when running as root with a usable memory
  controller (said once at start-up otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ember.k8s import names
from ember.localkube import emulator
from ember.localkube.kubelet import Kubelet

LIMITATIONS = __doc__.split("not Kubernetes. ", 1)[1].strip()


def default_state_dir() -> Path:
    base = os.environ.get("EMBER_HOME") or os.path.join(Path.home(), ".ember")
    return Path(base) / "local-cluster"


@dataclass
class LocalCluster:
    """A running emulator and kubelet in this process; stop() ends every pod they started."""

    kube: emulator.LocalKube
    kubelet: Kubelet

    @property
    def url(self) -> str:
        return self.kube.url

    @property
    def kubeconfig(self) -> Path:
        return Path(self.kube.kubeconfig)

    def stop(self) -> None:
        try:
            self.kubelet.stop()
        finally:
            self.kube.stop()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def image_paths() -> dict[str, str]:
    """What stands in for the ember image's files: ``/opt/ember`` is this source checkout, when
    ember runs from one (its ``examples/`` are what the image bakes in)."""
    root = Path(__file__).resolve().parents[3]
    return {names.IMAGE_HOME: str(root)} if (root / "examples").is_dir() else {}


def start(*, port: int = 0, kubeconfig: Path | None = None,
          work_dir: Path | None = None) -> LocalCluster:
    work = work_dir or default_state_dir()
    work.mkdir(parents=True, exist_ok=True)
    kube = emulator.start(port=port, kubeconfig=kubeconfig or work / "kubeconfig")
    try:
        kubelet = Kubelet(work_dir=work / "pods", kubeconfig=str(kube.kubeconfig),
                          image_paths=image_paths())
        kube.set_log_source(kubelet.log_text)
        kubelet.start()
    except BaseException:
        kube.stop()
        raise
    return LocalCluster(kube, kubelet)


def usage(url: str, kubeconfig: Path) -> str:
    return "\n".join([
        "ember local cluster is up: a local Kubernetes API emulator and a process kubelet.",
        f"  API server: {url}",
        f"  kubeconfig: {kubeconfig}",
        "",
        "Use it with kubectl, kopf or the kubernetes Python client:",
        f"  export KUBECONFIG={kubeconfig}",
        "  kubectl get pods -A",
        "",
        "Stop it with: ember local-cluster down",
        "",
        "It is a development and test cluster, not Kubernetes:",
        LIMITATIONS,
    ])


# -- the background (--detach) form ---------------------------------------------------------


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def up_detached(*, port: int, kubeconfig: Path | None, state_dir: Path,
                timeout: float = 30.0) -> dict:
    """Start a cluster in a background process and return its state once it serves."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = _state_file(state_dir)
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if _alive(state["pid"]):
            msg = (f"a local cluster is already running (pid {state['pid']}, {state['url']})"
                   "\n\nstop it first with: ember local-cluster down")
            raise RuntimeError(msg)
        state_file.unlink()
    kubeconfig = kubeconfig or state_dir / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    log = open(state_dir / "cluster.log", "ab")  # noqa: SIM115 - handed to the child
    command = [sys.executable, "-m", "ember.cli", "local-cluster", "up", "--port", str(port),
               "--kubeconfig", str(kubeconfig), "--state-dir", str(state_dir), "--foreground"]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = (f"the local cluster exited during start-up (code {proc.returncode})\n\n"
                   f"see {state_dir / 'cluster.log'}")
            raise RuntimeError(msg)
        if state_file.exists():
            return json.loads(state_file.read_text())
        time.sleep(0.05)
    proc.kill()
    msg = f"the local cluster did not start within {timeout:.0f}s; see {state_dir / 'cluster.log'}"
    raise RuntimeError(msg)


def write_state(state_dir: Path, cluster: LocalCluster) -> None:
    state = {"pid": os.getpid(), "url": cluster.url, "kubeconfig": str(cluster.kubeconfig)}
    tmp = _state_file(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.rename(_state_file(state_dir))


def clear_state(state_dir: Path) -> None:
    _state_file(state_dir).unlink(missing_ok=True)


def down(*, state_dir: Path, timeout: float = 30.0) -> str:
    """Stop the background cluster and every pod process it started."""
    state_file = _state_file(state_dir)
    if not state_file.exists():
        return "no local cluster is running"
    state = json.loads(state_file.read_text())
    pid = state["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    state_file.unlink(missing_ok=True)
    return f"stopped the local cluster at {state['url']}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False

