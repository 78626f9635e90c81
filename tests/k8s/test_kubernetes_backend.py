"""The driver in a pod creating executor pods, on the local cluster (API emulator + kubelet).

No operator here: each test creates the ConfigMap (spark.properties and the executor pod
template), the Secret and a small driver Pod itself, as the operator would.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
import pytest

from ember.k8s import names
from ember.k8s.driver import format_properties
from ember.localkube import cluster
from ember.localkube.validation import SCHEMA_VERSION

NS = "default"
APP_ID = "spark-0123abcd"
ROWS = 3000

PROGRAM = textwrap.dedent("""
    import sys, time
    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.getOrCreate()
    pause = float(sys.argv[1])

    @F.udf("long")
    def slow_key(x):
        time.sleep(pause)
        return x %% 7

    df = spark.range(0, %(rows)d, numPartitions=4).withColumn("k", slow_key(F.col("id")))
    print("JOB STARTED", flush=True)
    rows = df.groupBy("k").agg(F.sum("id").alias("s"), F.count("*").alias("n")).collect()
    print("RESULT", sorted((r["k"], r["s"], r["n"]) for r in rows), flush=True)
""") % {"rows": ROWS}


def expected() -> list[tuple[int, int, int]]:
    sums: dict[int, list[int]] = {}
    for i in range(ROWS):
        entry = sums.setdefault(i % 7, [0, 0])
        entry[0] += i
        entry[1] += 1
    return sorted((k, s, n) for k, (s, n) in sums.items())


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[cluster.LocalCluster]:
    running = cluster.start(work_dir=tmp_path / "cluster")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(local_cluster: cluster.LocalCluster) -> Iterator[kubernetes.client.CoreV1Api]:
    client = kubernetes.config.new_client_from_config(config_file=str(local_cluster.kubeconfig))
    try:
        yield kubernetes.client.CoreV1Api(client)
    finally:
        client.close()


def wait_for(what: str, predicate: Callable[[], Any], *, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def submit(api: kubernetes.client.CoreV1Api, tmp_path: Path, *, app: str, pause: float) -> str:
    """The objects the operator would create; returns the driver pod's name."""
    program = tmp_path / "job.py"
    program.write_text(PROGRAM)
    driver = names.driver_pod_name(app)
    labels = {names.LABEL_APP_NAME: app, names.LABEL_APP_ID: APP_ID,
              names.LABEL_SUBMISSION_ID: "sub-1"}
    settings = {
        "spark.master": names.MASTER_IN_CLUSTER, "spark.app.name": app, "spark.app.id": APP_ID,
        "spark.kubernetes.namespace": NS, "spark.kubernetes.driver.pod.name": driver,
        "spark.kubernetes.container.image": "ember:dev",
        "spark.kubernetes.submission.id": "sub-1",
        "spark.executor.instances": "2", "spark.executor.cores": "1",
        "spark.executor.memory": "512m",
        "spark.kubernetes.executor.secretKeyRef.EMBER_SECRET":
            f"{names.secret_name(app)}:{names.SECRET_TOKEN_KEY}",
        "spark.kubernetes.executor.podNamePrefix": names.executor_pod_prefix(app),
        "spark.kubernetes.executor.podTemplateFile":
            f"{names.CONF_MOUNT_PATH}/executor-pod-template.json",
        "spark.kubernetes.executor.apiPollingInterval": "2s",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.adaptive.enabled": "false",
    }
    template = {"metadata": {"labels": {"team": "data"}},
                "spec": {"containers": [{"name": "executor",
                                         "env": [{"name": "FROM_TEMPLATE", "value": "yes"}]}]}}
    api.create_namespaced_config_map(NS, {
        "metadata": {"name": names.conf_map_name(app), "labels": labels},
        "data": {names.CONF_FILE: format_properties(settings),
                 "executor-pod-template.json": json.dumps(template)}})
    api.create_namespaced_secret(NS, {
        "metadata": {"name": names.secret_name(app), "labels": labels},
        "stringData": {names.SECRET_TOKEN_KEY: "s3cret-token"}})

    def field(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    api.create_namespaced_pod(NS, {
        "metadata": {"name": driver, "labels": {**labels, names.LABEL_ROLE: "driver"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "driver", "image": "ember:dev",
            "command": ["ember", "driver"], "args": [str(program), str(pause)],
            "env": [{"name": "EMBER_CONF_DIR", "value": names.CONF_MOUNT_PATH},
                    {"name": "EMBER_SECRET", "valueFrom": {"secretKeyRef": {
                        "name": names.secret_name(app), "key": names.SECRET_TOKEN_KEY}}},
                    field("POD_NAME", "metadata.name"), field("POD_NAMESPACE", "metadata.namespace"),
                    field("POD_IP", "status.podIP")],
            "volumeMounts": [{"name": names.CONF_VOLUME, "mountPath": names.CONF_MOUNT_PATH}]}],
            "volumes": [{"name": names.CONF_VOLUME,
                         "configMap": {"name": names.conf_map_name(app)}}]}})
    return driver


def executor_pods(api: kubernetes.client.CoreV1Api) -> list[Any]:
    selector = f"{names.LABEL_APP_ID}={APP_ID},{names.LABEL_ROLE}=executor"
    return api.list_namespaced_pod(NS, label_selector=selector).items


def driver_log(local_cluster: cluster.LocalCluster, driver: str) -> str:
    return local_cluster.kubelet.log_text(NS, driver) or ""


def driver_metrics(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    pairs = (line.split() for line in text.splitlines() if line.strip())
    return {name.removeprefix("ember_driver_"): float(value) for name, value in pairs}


def collect_exit_codes(api: kubernetes.client.CoreV1Api, executor_id: str,
                       codes: list[int]) -> None:
    """The exit codes an executor pod's watch events report, until the pod is deleted."""
    selector = f"{names.LABEL_APP_ID}={APP_ID},{names.LABEL_EXECUTOR_ID}={executor_id}"
    stream = kubernetes.watch.Watch().stream(api.list_namespaced_pod, NS,
                                             label_selector=selector, timeout_seconds=20)
    for event in stream:
        for status in event["object"].status.container_statuses or []:
            if status.state.terminated is not None:
                codes.append(status.state.terminated.exit_code)
        if event["type"] == "DELETED":
            return


def finished(api: kubernetes.client.CoreV1Api, driver: str) -> str | None:
    phase = api.read_namespaced_pod(driver, NS).status.phase
    return phase if phase in ("Succeeded", "Failed") else None


def test_shuffle_job_runs_on_two_executor_pods_owned_by_the_driver(
    local_cluster: cluster.LocalCluster, api: kubernetes.client.CoreV1Api, tmp_path: Path,
) -> None:
    driver = submit(api, tmp_path, app="shuffle", pause=0.001)
    driver_uid = wait_for("the driver pod", lambda: api.read_namespaced_pod(driver, NS)
                          .metadata.uid)
    seen: dict[str, dict[str, Any]] = {}

    def capture() -> str | None:
        for pod in executor_pods(api):
            seen.setdefault(pod.metadata.name, api.api_client.sanitize_for_serialization(pod))
        return finished(api, driver)

    phase = wait_for("the driver to finish", capture)
    log = driver_log(local_cluster, driver)
    assert phase == "Succeeded", log
    assert f"RESULT {expected()}" in log
    assert sorted(seen) == ["shuffle-exec-1", "shuffle-exec-2"]
    for name, pod in seen.items():
        kubernetes_validate.validate(pod, SCHEMA_VERSION, strict=True)
        assert pod["metadata"]["labels"] == {
            names.LABEL_APP_NAME: "shuffle", names.LABEL_APP_ID: APP_ID,
            names.LABEL_ROLE: "executor", names.LABEL_EXECUTOR_ID: name.rsplit("-", 1)[1],
            names.LABEL_SUBMISSION_ID: "sub-1", "team": "data"}
        assert pod["metadata"]["ownerReferences"] == [{
            "apiVersion": "v1", "kind": "Pod", "name": driver, "uid": driver_uid,
            "controller": True, "blockOwnerDeletion": True}]
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["FROM_TEMPLATE"] == "yes"
        assert env["EMBER_DRIVER_URL"].startswith("http://127.0.0.1:")
    # The driver said where it listens, and cleaned up its executors when it ended.
    annotations = api.read_namespaced_pod(driver, NS).metadata.annotations or {}
    assert annotations[names.ANNOTATION_DRIVER_URL] == env["EMBER_DRIVER_URL"]
    wait_for("the executor pods to be deleted", lambda: not executor_pods(api), timeout=20)


def test_killed_executor_is_replaced_and_the_answer_stays_right(
    local_cluster: cluster.LocalCluster, api: kubernetes.client.CoreV1Api, tmp_path: Path,
) -> None:
    # 4 partitions of 750 rows at 4 ms each: 3 s per map task, so the kill lands mid-job.
    driver = submit(api, tmp_path, app="chaos", pause=0.004)
    url = wait_for("the driver's URL", lambda: (api.read_namespaced_pod(driver, NS).metadata
                                                .annotations or {}).get(names.ANNOTATION_DRIVER_URL))
    # Both executors registered and running map tasks: then one of them is killed.
    wait_for("tasks on both executors", lambda: driver_metrics(url).get("executors_active") == 2
             and driver_metrics(url).get("tasks_launched_total", 0) >= 2)
    victim = next(p for p in local_cluster.kubelet._pods.values()
                  if p.pod["metadata"]["name"] == "chaos-exec-1")
    assert victim.process is not None
    exit_codes: list[int] = []
    watcher = threading.Thread(target=collect_exit_codes, args=(api, "1", exit_codes), daemon=True)
    watcher.start()
    time.sleep(0.2)  # the watch is open before the kill
    os.kill(victim.process.pid, signal.SIGKILL)
    replaced: set[str] = set()

    def watch_pods() -> str | None:
        replaced.update(p.metadata.name for p in executor_pods(api))
        return finished(api, driver)

    phase = wait_for("the driver to finish", watch_pods)
    log = driver_log(local_cluster, driver)
    assert phase == "Succeeded", log
    assert f"RESULT {expected()}" in log
    assert "chaos-exec-3" in replaced
    # The kubelet reports a SIGKILL as exit code 137, which reads as an OOM kill; the driver
    # may also have found the executor unreachable first, and then deleted its pod.
    watcher.join(timeout=20)
    assert exit_codes[:1] == [137]
    assert "executor 1 was OOMKilled (exit code 137): raise spark.executor.memoryOverhead" in log \
        or "executor 1 was removed by the driver" in log
    assert "JOB STARTED" in log
    wait_for("the executor pods to be deleted", lambda: not executor_pods(api), timeout=20)
