"""The Kubernetes flow on the embedded local cluster, start to finish.

1. start ``ember local-cluster`` (the API emulator and the process kubelet) in this process;
2. install the SparkApplication CRD and start ``ember operator``;
3. apply ``manifests/examples/spark-pi.yaml`` (with kubectl when it is installed, else the client);
4. show the application's state as it moves to COMPLETED;
5. print the driver's result line from its pod log.

Everything it started is stopped at the end. Run: python examples/local_cluster_demo.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from ember.k8s import crd, names
from ember.localkube import cluster
from ember.operator.process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "examples" / "spark-pi.yaml"
TIMEOUT = 120.0


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def kubectl(kubeconfig: Path, *args: str) -> str | None:
    """Run kubectl when it is installed; None when it is not."""
    if shutil.which("kubectl") is None:
        return None
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], text=True,
                          capture_output=True, timeout=60, check=True)
    return done.stdout


def apply(kubeconfig: Path, api: kubernetes.client.ApiClient, app: dict[str, Any]) -> None:
    out = kubectl(kubeconfig, "apply", "-f", str(MANIFEST))
    if out is not None:
        say(f"kubectl apply -f {MANIFEST.relative_to(ROOT)}: {out.strip()}")
        return
    kubernetes.client.CustomObjectsApi(api).create_namespaced_custom_object(
        names.GROUP, names.VERSION, "default", names.PLURAL, app)
    say(f"created {app['metadata']['name']} with the kubernetes client (kubectl is not installed)")


def follow(api: kubernetes.client.ApiClient, name: str) -> dict[str, Any]:
    custom = kubernetes.client.CustomObjectsApi(api)
    deadline = time.monotonic() + TIMEOUT
    last = None
    while time.monotonic() < deadline:
        app = custom.get_namespaced_custom_object(names.GROUP, names.VERSION, "default",
                                                  names.PLURAL, name)
        status = app.get("status") or {}
        state = (status.get("applicationState") or {}).get("state")
        executors = {k: v for k, v in (status.get("executorState") or {}).items() if v}
        seen = (state, tuple(sorted(executors.items())))
        if seen != last:
            say(f"{name}: {state or 'NEW'}" + (f"  executors {executors}" if executors else ""))
            last = seen
        if state in {"COMPLETED", "FAILED", "SUBMISSION_FAILED"}:
            return app
        time.sleep(0.2)
    msg = f"{name} did not finish within {TIMEOUT:.0f}s"
    raise TimeoutError(msg)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ember-demo-"))
    say("starting the local cluster (API emulator + process kubelet)")
    local = cluster.start(work_dir=work)
    operator = None
    try:
        api = kubernetes.config.new_client_from_config(config_file=str(local.kubeconfig))
        kubernetes.client.ApiextensionsV1Api(api).create_custom_resource_definition(crd.crd())
        say("installed the CRD sparkapplications.ember.dev; starting ember operator")
        operator = OperatorProcess(local.kubeconfig, work / "operator.log")
        app = yaml.safe_load(MANIFEST.read_text())
        name = app["metadata"]["name"]
        apply(local.kubeconfig, api, app)
        done = follow(api, name)
        table = kubectl(local.kubeconfig, "get", "sparkapp", name)
        if table:
            print(table, end="")
        log_text = local.kubelet.log_text("default", names.driver_pod_name(name))
        results = [line for line in log_text.splitlines() if line.startswith("pi ")]
        state = done["status"]["applicationState"]
        if state["state"] != "COMPLETED":
            say(f"{name} ended {state['state']}: {state.get('errorMessage')}")
            return 1
        say(f"driver {names.driver_pod_name(name)} printed: {results[-1] if results else '?'}")
        return 0
    finally:
        if operator is not None:
            operator.stop()
        local.stop()
        shutil.rmtree(work, ignore_errors=True)
        say("stopped the operator and the local cluster")


if __name__ == "__main__":
    sys.exit(main())
