"""The reconciler against the API emulator, with no kubelet: pods are given phases by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from ember.k8s import crd, names
from ember.localkube import emulator
from ember.operator import observe
from ember.operator.kube import Api, ApiException
from ember.operator.reconciler import Reconciler, Settings

NS = "default"


@pytest.fixture
def api(kube: emulator.LocalKube, api_client: kubernetes.client.ApiClient) -> Iterator[Api]:
    kubernetes.client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd.crd())
    yield Api(api_client)


def make_app(api: Api, name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": f"{names.GROUP}/{names.VERSION}", "kind": names.KIND,
        "metadata": {"name": name},
        "spec": {"type": "Python", "image": "ember:dev",
                 "mainApplicationFile": "local:///opt/ember/examples/pyspark/monte_carlo_pi.py",
                 "executor": {"instances": 1, "memory": "512m"}, "driver": {"memory": "512m"},
                 **spec},
    }
    return api.custom.create_namespaced_custom_object(names.GROUP, names.VERSION, NS,
                                                      names.PLURAL, body)


def set_phase(api: Api, pod: str, phase: str, **terminated: Any) -> None:
    status: dict[str, Any] = {"phase": phase}
    if terminated:
        status["containerStatuses"] = [{
            "name": "driver", "image": "ember:dev", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": terminated}}]
    api.core.patch_namespaced_pod_status(pod, NS, {"status": status})


def test_submission_creates_owned_objects_once(api: Api) -> None:
    app = make_app(api, "pi")
    reconciler = Reconciler(api, Settings())
    assert reconciler.reconcile(NS, "pi") == "SUBMITTED"
    # Repeated passes (or a restarted operator) find the driver by its submission id.
    assert reconciler.reconcile(NS, "pi") == "SUBMITTED"
    assert Reconciler(api, Settings()).reconcile(NS, "pi") == "SUBMITTED"
    status = api.get_app(NS, "pi")["status"]
    pods = api.list_pods(NS, {names.LABEL_APP_NAME: "pi"})
    assert [p["metadata"]["name"] for p in pods] == ["pi-driver"]
    assert pods[0]["metadata"]["labels"][names.LABEL_SUBMISSION_ID] == status["submissionID"]
    for kind, name in (("Pod", "pi-driver"), ("Service", "pi-driver-svc"),
                       ("ConfigMap", "pi-conf"), ("Secret", "pi-token")):
        read = {"Pod": api.core.read_namespaced_pod, "Service": api.core.read_namespaced_service,
                "ConfigMap": api.core.read_namespaced_config_map,
                "Secret": api.core.read_namespaced_secret}[kind]
        owners = read(name, NS).metadata.owner_references
        assert [(o.kind, o.name, o.uid, o.controller) for o in owners] == [
            (names.KIND, "pi", app["metadata"]["uid"], True)]
    assert status["submissionAttempts"] == 1 and status["executionAttempts"] == 1


def test_driver_phases_move_the_app_to_completed(api: Api) -> None:
    make_app(api, "pi")
    reconciler = Reconciler(api, Settings())
    reconciler.reconcile(NS, "pi")
    set_phase(api, "pi-driver", "Running")
    api.core.patch_namespaced_pod("pi-driver", NS, {"metadata": {"annotations": {
        names.ANNOTATION_DRIVER_URL: "http://10.1.2.3:7078"}}})
    assert reconciler.reconcile(NS, "pi") == "RUNNING"
    assert api.get_app(NS, "pi")["status"]["driverInfo"] == {
        "podName": "pi-driver", "webUIServiceName": "pi-driver-svc",
        "webUIAddress": "http://10.1.2.3:7078"}
    set_phase(api, "pi-driver", "Succeeded", exitCode=0, reason="Completed")
    assert reconciler.reconcile(NS, "pi") == "COMPLETED"


def test_oom_killed_driver_is_reported_with_the_setting_to_raise(api: Api) -> None:
    make_app(api, "pi")
    reconciler = Reconciler(api, Settings())
    reconciler.reconcile(NS, "pi")
    set_phase(api, "pi-driver", "Failed", exitCode=137, reason="OOMKilled")
    assert reconciler.reconcile(NS, "pi") == "FAILED"
    message = api.get_app(NS, "pi")["status"]["applicationState"]["errorMessage"]
    assert message == ("driver was OOMKilled (exit code 137): raise spec.driver.memoryOverhead "
                       "or spec.driver.memory")


def test_deleted_driver_pod_fails_the_app_after_the_grace(api: Api) -> None:
    make_app(api, "pi")
    reconciler = Reconciler(api, Settings(driver_missing_grace=0))
    reconciler.reconcile(NS, "pi")
    set_phase(api, "pi-driver", "Running")
    reconciler.reconcile(NS, "pi")
    api.core.delete_namespaced_pod("pi-driver", NS, grace_period_seconds=0)
    assert reconciler.reconcile(NS, "pi") == "FAILED"
    assert "was not found" in api.get_app(NS, "pi")["status"]["applicationState"]["errorMessage"]


def test_invalid_spec_is_refused_without_objects(api: Api) -> None:
    make_app(api, "pi", mainApplicationFile="s3://bucket/job.py")
    assert Reconciler(api, Settings()).reconcile(NS, "pi") == "SUBMISSION_FAILED"
    message = api.get_app(NS, "pi")["status"]["applicationState"]["errorMessage"]
    assert message.startswith("spec.mainApplicationFile"), message
    assert api.list_pods(NS, {names.LABEL_APP_NAME: "pi"}) == []


def test_executor_state_counts_are_bounded() -> None:
    pods = [{"status": {"phase": phase}} for phase in ["Running"] * 3 + ["Failed"] * 500]
    assert observe.executor_state(pods) == {"PENDING": 0, "RUNNING": 3, "COMPLETED": 0,
                                            "FAILED": 500, "UNKNOWN": 0}


def test_log_summary_keeps_the_error_and_its_hint() -> None:
    traceback = "Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: bad\n\n"
    assert observe.log_summary(traceback) == "ValueError: bad"
    ember_error = ("2026-01-02 03:04:05,678 INFO ember.driver: starting\n"
                   "ember driver: no such file /x.py\n\ncheck the path\n"
                   "2026-01-02 03:04:06,001 INFO ember.driver: the program exited with code 2\n")
    assert observe.log_summary(ember_error) == "ember driver: no such file /x.py; check the path"
    assert observe.log_summary("") == ""


class ForbiddingApi(Api):
    """An API whose object creation is refused, as without RBAC for secrets."""

    def create(self, obj: Any) -> None:
        if obj["kind"] == "Secret":
            raise ApiException(status=403, reason="Forbidden")
        super().create(obj)


def test_refused_creation_is_a_submission_failure_retried_per_policy(
        api_client: kubernetes.client.ApiClient, api: Api) -> None:
    make_app(api, "pi", restartPolicy={"type": "OnFailure", "onSubmissionFailureRetries": 1,
                                       "onSubmissionFailureRetryInterval": 1})
    reconciler = Reconciler(ForbiddingApi(api_client), Settings())
    assert reconciler.reconcile(NS, "pi") == "PENDING_RERUN"
    status = api.get_app(NS, "pi")["status"]
    assert status["applicationState"]["errorMessage"].startswith(
        "creating Secret default/pi-token failed: 403 Forbidden")
    assert status["executionAttempts"] == 0
    assert [h["state"] for h in status["stateHistory"]] == [
        "SUBMITTED", "SUBMISSION_FAILED", "PENDING_RERUN"]
