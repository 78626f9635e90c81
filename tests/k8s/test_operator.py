"""The operator end to end on the local cluster: SparkApplications become drivers and executors.

One local cluster (API emulator + process kubelet) and one ``ember operator`` process serve the
module; each test applies its own application and waits, with a deadline, for its state.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
import pytest
import yaml

from ember.k8s import crd, names
from ember.localkube import cgroups, cluster
from ember.operator.process import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "manifests" / "examples"
# On the local cluster /opt/ember (the image's ember home) is this checkout, so pods see the test
# programs there wherever the checkout is (a host path under /tmp would be the pod's own /tmp).
IMAGE_PROGRAMS = "local:///opt/ember/tests/k8s/programs"
NS = "default"


@dataclass
class Platform:
    cluster: cluster.LocalCluster
    api: kubernetes.client.ApiClient
    work: Path
    operator: OperatorProcess | None = None

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    def start_operator(self) -> None:
        self.operator = OperatorProcess(self.cluster.kubeconfig, self.work / "operator.log",
                                        env={"EMBER_OPERATOR_DRIVER_MISSING_GRACE": "10"})

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop(grace=15)
        self.operator = None

    def apply(self, app: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(names.GROUP, names.VERSION, NS, names.PLURAL,
                                                    app)

    def app(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(names.GROUP, names.VERSION, NS,
                                                        names.PLURAL, name)

    def wait_for(self, name: str, done: Callable[[dict[str, Any]], bool], *,
                 timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        app = self.app(name)
        while time.monotonic() < deadline:
            app = self.app(name)
            if done(app):
                return app
            time.sleep(0.2)
        log = (self.work / "operator.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"{name} did not get there in {timeout}s; status {app.get('status')}\n{log}")

    def wait_for_state(self, name: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(name, lambda app: state_of(app) in states, timeout=timeout)

    def pods(self, app: str, role: str) -> list[Any]:
        selector = f"{names.LABEL_APP_NAME}={app},{names.LABEL_ROLE}={role}"
        return self.core.list_namespaced_pod(NS, label_selector=selector).items

    def driver_log(self, app: str) -> str:
        return self.cluster.kubelet.log_text(NS, names.driver_pod_name(app))


def state_of(app: dict[str, Any]) -> str | None:
    return ((app.get("status") or {}).get("applicationState") or {}).get("state")


def example(name: str, **spec_changes: Any) -> dict[str, Any]:
    app = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    app["spec"].update(spec_changes)
    return app


def renamed(app: dict[str, Any], name: str) -> dict[str, Any]:
    app["metadata"]["name"] = name
    return app


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("operator")
    local = cluster.start(work_dir=work)
    api = kubernetes.config.new_client_from_config(config_file=str(local.kubeconfig))
    kubernetes.client.ApiextensionsV1Api(api).create_custom_resource_definition(crd.crd())
    platform = Platform(local, api, work)
    platform.start_operator()
    try:
        yield platform
    finally:
        platform.stop_operator()
        api.close()
        local.stop()


def test_spark_pi_completes_and_the_driver_prints_pi(platform: Platform) -> None:
    platform.apply(example("spark-pi"))
    app = platform.wait_for_state("spark-pi", "COMPLETED", "FAILED")
    status = app["status"]
    assert state_of(app) == "COMPLETED", status
    assert status["executionAttempts"] == 1 and status["submissionAttempts"] == 1
    assert status["sparkApplicationId"] == names.app_id(app["metadata"]["uid"])
    assert status["driverInfo"]["podName"] == "spark-pi-driver"
    assert status["driverInfo"]["webUIAddress"].startswith("http://127.0.0.1:")
    assert [h["state"] for h in status["stateHistory"]][-3:] == ["RUNNING", "SUCCEEDING",
                                                                 "COMPLETED"]
    assert status["terminationTime"] >= status["lastSubmissionAttemptTime"]
    log = platform.driver_log("spark-pi")
    match = re.search(r"^pi (\d\.\d+)$", log, re.MULTILINE)
    assert match, log[-2000:]
    assert abs(float(match.group(1)) - 3.14159) < 0.02
    # The operator posts a transition's Event right after patching the status that shows it.
    reasons: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not {"Submitted", "Running", "Completed"} <= reasons:
        reasons = {e.reason for e in platform.core.list_namespaced_event(
            NS, field_selector="involvedObject.name=spark-pi").items}
        time.sleep(0.1)
    assert {"Submitted", "Running", "Completed"} <= reasons


def test_wordcount_shuffles_between_two_executor_pods(platform: Platform) -> None:
    platform.apply(example("wordcount"))
    seen: set[str] = set()

    def finished(app: dict[str, Any]) -> bool:
        seen.update(p.metadata.name for p in platform.pods("wordcount", names.ROLE_EXECUTOR))
        return state_of(app) in {"COMPLETED", "FAILED"}

    app = platform.wait_for("wordcount", finished)
    assert state_of(app) == "COMPLETED", app["status"]
    assert len(seen) >= 2, seen
    text = (ROOT / "examples" / "data" / "pipelines.txt").read_text().lower()
    expected = Counter(w for w in re.split(r"[^a-z']+", text) if w)
    log = platform.driver_log("wordcount")
    assert f"distinct words {len(expected)}" in log, log[-2000:]
    top = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    printed = [line for line in log.splitlines() if re.fullmatch(r"[a-z']+ \d+", line)]
    assert printed[:10] == [f"{w} {c}" for w, c in top]
    # The driver removes its executors when the app ends.
    deadline = time.monotonic() + 20
    while platform.pods("wordcount", names.ROLE_EXECUTOR) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert platform.pods("wordcount", names.ROLE_EXECUTOR) == []


def test_failing_program_ends_failed_with_its_exit_code(platform: Platform) -> None:
    platform.apply(example("failing-job"))
    app = platform.wait_for_state("failing-job", "FAILED", "COMPLETED")
    assert state_of(app) == "FAILED"
    message = app["status"]["applicationState"]["errorMessage"]
    assert message.startswith("driver exited with code 3"), message


def test_on_failure_retries_then_fails_with_every_attempt_counted(platform: Platform) -> None:
    app = example("retry-on-failure")
    platform.apply(app)
    done = platform.wait_for_state("retry-on-failure", "FAILED", "COMPLETED", timeout=90)
    retries = app["spec"]["restartPolicy"]["onFailureRetries"]
    assert state_of(done) == "FAILED"
    assert done["status"]["executionAttempts"] == retries + 1
    history = [h["state"] for h in done["status"]["stateHistory"]]
    assert history.count("PENDING_RERUN") == retries
    assert len(platform.pods("retry-on-failure", names.ROLE_DRIVER)) == 1


def test_missing_main_file_fails_with_the_reason(platform: Platform) -> None:
    platform.apply(renamed(example("spark-pi", mainApplicationFile="local:///opt/ember/nope.py"),
                           "no-main-file"))
    app = platform.wait_for_state("no-main-file", "FAILED", "COMPLETED")
    message = app["status"]["applicationState"]["errorMessage"]
    assert "driver exited with code 2" in message and "nope.py" in message, message


def test_semantically_invalid_spec_ends_in_submission_failed(platform: Platform) -> None:
    app = renamed(example("spark-pi"), "tiny-executor")
    app["spec"]["executor"]["memory"] = "256m"
    platform.apply(app)
    done = platform.wait_for_state("tiny-executor", "SUBMISSION_FAILED")
    message = done["status"]["applicationState"]["errorMessage"]
    assert "spec.executor.memory" in message and "450" in message, message
    assert platform.pods("tiny-executor", names.ROLE_DRIVER) == []


def test_invalid_object_is_refused_at_apply_with_the_field_path(platform: Platform) -> None:
    app = renamed(example("spark-pi"), "bad-policy")
    app["spec"]["restartPolicy"]["type"] = "Sometimes"
    with pytest.raises(kubernetes.client.ApiException) as refused:
        platform.apply(app)
    assert refused.value.status == 422
    assert "spec.restartPolicy.type" in refused.value.body


def _long_running(name: str, seconds: float, instances: int = 1) -> dict[str, Any]:
    app = renamed(example("spark-pi"), name)
    app["spec"]["mainApplicationFile"] = f"{IMAGE_PROGRAMS}/sleepy.py"
    app["spec"]["arguments"] = [str(seconds)]
    app["spec"]["executor"]["instances"] = instances
    return app


def test_deleting_a_running_app_removes_everything_it_owns(platform: Platform) -> None:
    platform.apply(_long_running("doomed", 60))
    platform.wait_for("doomed", lambda app: state_of(app) == "RUNNING"
                      and bool(platform.pods("doomed", names.ROLE_EXECUTOR)))
    platform.custom.delete_namespaced_custom_object(names.GROUP, names.VERSION, NS, names.PLURAL,
                                                    "doomed")
    selector = f"{names.LABEL_APP_NAME}=doomed"
    deadline = time.monotonic() + 30
    left: list[str] = []
    while time.monotonic() < deadline:
        left = [f"{kind} {o.metadata.name}" for kind, items in (
            ("pod", platform.core.list_namespaced_pod(NS, label_selector=selector).items),
            ("service", platform.core.list_namespaced_service(NS, label_selector=selector).items),
            ("configmap", platform.core.list_namespaced_config_map(NS, label_selector=selector).items),
            ("secret", platform.core.list_namespaced_secret(NS, label_selector=selector).items),
        ) for o in items]
        if not left:
            break
        time.sleep(0.2)
    assert left == []


def test_operator_restart_creates_no_second_driver(platform: Platform) -> None:
    platform.apply(_long_running("steady", 6))
    platform.wait_for_state("steady", "RUNNING")
    first = platform.app("steady")["status"]["submissionID"]
    platform.stop_operator()
    platform.start_operator()
    done = platform.wait_for_state("steady", "COMPLETED", "FAILED")
    assert state_of(done) == "COMPLETED", done["status"]
    assert done["status"]["submissionID"] == first
    assert done["status"]["submissionAttempts"] == 1
    drivers = platform.pods("steady", names.ROLE_DRIVER)
    assert [p.metadata.labels[names.LABEL_SUBMISSION_ID] for p in drivers] == [first]


def test_every_object_created_passes_the_kubernetes_schemas(platform: Platform) -> None:
    platform.apply(_long_running("checked", 4, instances=2))
    platform.wait_for("checked", lambda app: len(platform.pods("checked", names.ROLE_EXECUTOR)) == 2)
    selector = f"{names.LABEL_APP_NAME}=checked"
    objects = []
    for kind, items in (
        ("Pod", platform.core.list_namespaced_pod(NS, label_selector=selector).items),
        ("Service", platform.core.list_namespaced_service(NS, label_selector=selector).items),
        ("ConfigMap", platform.core.list_namespaced_config_map(NS, label_selector=selector).items),
        ("Secret", platform.core.list_namespaced_secret(NS, label_selector=selector).items),
    ):
        for item in items:
            obj = platform.api.sanitize_for_serialization(item)
            obj.update(apiVersion="v1", kind=kind)
            obj.pop("status", None)
            objects.append(obj)
    assert Counter(o["kind"] for o in objects) == {"Pod": 3, "Service": 1, "ConfigMap": 1,
                                                   "Secret": 1}
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30", strict=True)
    executors = [o for o in objects if o["kind"] == "Pod"
                 and o["metadata"]["labels"][names.LABEL_ROLE] == names.ROLE_EXECUTOR]
    driver_uid = platform.pods("checked", names.ROLE_DRIVER)[0].metadata.uid
    for pod in executors:
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("Pod", driver_uid, True)
        memory = pod["spec"]["containers"][0]["resources"]["limits"]["memory"]
        assert memory == "896Mi"  # 512m + max(384Mi, 0.1 x 512Mi)
    platform.wait_for_state("checked", "COMPLETED", "FAILED")


def test_spec_change_while_running_restarts_with_an_event(platform: Platform) -> None:
    platform.apply(_long_running("changing", 30))
    running = platform.wait_for_state("changing", "RUNNING")
    first = running["status"]["submissionID"]
    platform.custom.patch_namespaced_custom_object(
        names.GROUP, names.VERSION, NS, names.PLURAL, "changing", {"spec": {"arguments": ["1"]}})
    done = platform.wait_for("changing", lambda app: state_of(app) == "COMPLETED"
                             and app["status"]["submissionID"] != first)
    history = [h["state"] for h in done["status"]["stateHistory"]]
    assert "INVALIDATING" in history and history[-1] == "COMPLETED"
    assert done["status"]["executionAttempts"] == 1
    events = platform.core.list_namespaced_event(
        NS, field_selector="involvedObject.name=changing,reason=SpecChanged").items
    assert events and "spec.arguments changed (generation 1 -> 2)" in events[0].message
    assert "sum 6" in platform.driver_log("changing")


def test_time_to_live_deletes_the_finished_app(platform: Platform) -> None:
    app = renamed(example("failing-job"), "short-lived")
    app["spec"]["timeToLiveSeconds"] = 1
    platform.apply(app)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            platform.app("short-lived")
        except kubernetes.client.ApiException as exc:
            assert exc.status == 404
            break
        time.sleep(0.2)
    else:
        pytest.fail("short-lived was not deleted after its timeToLiveSeconds")
    deadline = time.monotonic() + 20
    while platform.pods("short-lived", names.ROLE_DRIVER) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert platform.pods("short-lived", names.ROLE_DRIVER) == []


def _oom_skip_reason() -> str | None:
    hierarchy, reason = cgroups.probe()
    return None if hierarchy is not None else f"memory limits cannot be enforced here: {reason}"


@pytest.mark.skipif(_oom_skip_reason() is not None, reason=str(_oom_skip_reason()))
def test_executor_over_its_memory_limit_is_oom_killed_and_reported(platform: Platform) -> None:
    app = renamed(example("spark-pi"), "hog")
    app["spec"]["mainApplicationFile"] = f"{IMAGE_PROGRAMS}/hog.py"
    app["spec"]["arguments"] = ["1500"]  # MiB, over the 896Mi limit of a 512m executor
    app["spec"]["sparkConf"] = {"spark.executor.maxNumFailures": "1"}
    platform.apply(app)
    done = platform.wait_for_state("hog", "FAILED", "COMPLETED", timeout=90)
    assert state_of(done) == "FAILED"
    message = done["status"]["applicationState"]["errorMessage"]
    assert "executor 1 was OOMKilled (exit code 137): raise spark.executor.memoryOverhead" in \
        message, message
    assert not re.search(r"^filled \d+$", platform.driver_log("hog"), re.MULTILINE)


def test_main_file_mounted_from_a_config_map_runs(platform: Platform) -> None:
    program = ("from pyspark.sql import SparkSession\n"
               "spark = SparkSession.builder.getOrCreate()\n"
               "total = spark.range(1, 101).groupBy().sum('id').first()[0]\n"
               "print(f'total {total}')\n")
    platform.core.create_namespaced_config_map(NS, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "job-code"},
        "data": {"job.py": program}})
    app = renamed(example("spark-pi"), "from-config-map")
    app["spec"].update(
        mainApplicationFile="/opt/app/job.py", arguments=[],
        volumes=[{"name": "code", "configMap": {"name": "job-code"}}])
    app["spec"]["driver"]["volumeMounts"] = [{"name": "code", "mountPath": "/opt/app"}]
    platform.apply(app)
    done = platform.wait_for_state("from-config-map", "COMPLETED", "FAILED")
    assert state_of(done) == "COMPLETED", done["status"]
    assert "total 5050" in platform.driver_log("from-config-map").splitlines()


@pytest.mark.skipif(_oom_skip_reason() is not None, reason=str(_oom_skip_reason()))
def test_oom_killed_executor_is_replaced_and_the_job_completes(platform: Platform) -> None:
    app = renamed(example("spark-pi"), "oom-once")
    # The marker is under the driver's /tmp, a real directory of this machine on the local
    # cluster, which the executors (sharing its filesystem) see by the same path.
    app["spec"]["mainApplicationFile"] = f"{IMAGE_PROGRAMS}/oom_once.py"
    app["spec"]["arguments"] = ["/tmp/oom-once.marker", "1500"]
    platform.apply(app)
    done = platform.wait_for_state("oom-once", "COMPLETED", "FAILED", timeout=90)
    log = platform.driver_log("oom-once")
    assert state_of(done) == "COMPLETED", done["status"]
    assert "sum of squares 140" in log.splitlines()
    assert "was OOMKilled (exit code 137)" in log
    created = re.findall(r"creating executor pod (\S+)", log)
    assert len(created) == 2, created  # the first executor and its replacement
