"""The SparkApplication CRD: its shape, and that an API server holding it accepts the examples and
refuses bad specs with 422 naming the field (through the local API emulator)."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client import ApiException, CustomObjectsApi

from ember.k8s import crd, names
from ember.localkube import emulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "manifests" / "examples").glob("*.yaml"))


def load_example(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifests" / "examples" / name).read_text())


def app(name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "type": "Python",
        "image": "ghcr.io/ember-dev/ember:0.1.0",
        "mainApplicationFile": "local:///opt/ember/examples/k8s/fail.py",
    }
    body.update(spec)
    return {
        "apiVersion": f"{names.GROUP}/{names.VERSION}",
        "kind": names.KIND,
        "metadata": {"name": name},
        "spec": body,
    }


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulator.LocalKube]:
    handle = emulator.start(kubeconfig=tmp_path_factory.mktemp("crd") / "kubeconfig")
    try:
        client = kubernetes.config.new_client_from_config(config_file=str(handle.kubeconfig))
        kubernetes.client.ApiextensionsV1Api(client).create_custom_resource_definition(crd.crd())
        client.close()
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def apps(kube: emulator.LocalKube) -> Iterator[CustomObjectsApi]:
    client = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))
    try:
        yield CustomObjectsApi(client)
    finally:
        client.close()


def create(apps: CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    return apps.create_namespaced_custom_object(
        names.GROUP, names.VERSION, "default", names.PLURAL, body
    )


def version() -> dict[str, Any]:
    (only,) = crd.crd()["spec"]["versions"]
    return only


def spec_schema() -> dict[str, Any]:
    return version()["schema"]["openAPIV3Schema"]["properties"]["spec"]


def preserving_paths(schema: dict[str, Any], path: str = "") -> list[str]:
    found = [path] if schema.get("x-kubernetes-preserve-unknown-fields") else []
    for key, sub in (schema.get("properties") or {}).items():
        found += preserving_paths(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += preserving_paths(schema["items"], f"{path}[]")
    return found


def test_crd_names_come_from_the_shared_constants():
    definition = crd.crd()
    assert definition["metadata"]["name"] == "sparkapplications.ember.dev"
    spec = definition["spec"]
    assert spec["group"] == "ember.dev" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "SparkApplication",
        "listKind": "SparkApplicationList",
        "plural": "sparkapplications",
        "singular": "sparkapplication",
        "shortNames": ["sparkapp"],
    }
    assert version()["name"] == "v1alpha1"
    assert version()["served"] is True and version()["storage"] is True
    assert version()["subresources"] == {"status": {}}


def test_printer_columns_are_state_attempts_start_finish_age():
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version()["additionalPrinterColumns"]]
    assert columns == [
        ("State", "string", ".status.applicationState.state"),
        ("Attempts", "integer", ".status.executionAttempts"),
        ("Start", "string", ".status.lastSubmissionAttemptTime"),
        ("Finish", "string", ".status.terminationTime"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_schema_requires_enumerates_and_defaults():
    spec = spec_schema()
    props = spec["properties"]
    assert spec["required"] == ["type", "image", "mainApplicationFile"]
    assert props["type"]["enum"] == ["Python"]
    assert props["mode"] == {**props["mode"], "enum": ["cluster"], "default": "cluster"}
    assert props["imagePullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]
    restart = props["restartPolicy"]
    assert restart["default"] == {}
    assert restart["properties"]["type"]["enum"] == ["Never", "OnFailure", "Always"]
    assert restart["properties"]["type"]["default"] == "Never"
    minimums = {
        key: restart["properties"][key]["minimum"]
        for key in ("onFailureRetries", "onFailureRetryInterval",
                    "onSubmissionFailureRetries", "onSubmissionFailureRetryInterval")
    }
    assert minimums == {"onFailureRetries": 0, "onFailureRetryInterval": 1,
                        "onSubmissionFailureRetries": 0, "onSubmissionFailureRetryInterval": 1}
    assert props["executor"]["properties"]["instances"] == {
        **props["executor"]["properties"]["instances"], "type": "integer", "minimum": 1}
    assert props["timeToLiveSeconds"]["minimum"] == 0
    for role in ("driver", "executor"):
        cores = props[role]["properties"]["cores"]
        assert (cores["type"], cores["minimum"], cores["exclusiveMinimum"]) == ("number", 0, True)
        for field in ("memory", "memoryOverhead"):
            quantity = props[role]["properties"][field]
            assert (quantity["type"], quantity["pattern"]) == ("string", crd.QUANTITY_PATTERN)


def test_unknown_fields_are_kept_only_where_kubernetes_types_are_embedded():
    schema = version()["schema"]["openAPIV3Schema"]
    assert sorted(preserving_paths(schema)) == [
        ".spec.driver.env[]",
        ".spec.driver.tolerations[]",
        ".spec.executor.env[]",
        ".spec.executor.tolerations[]",
        ".spec.volumes[]",
        ".status",
    ]


def test_status_schema_bounds_the_history():
    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["stateHistory"]["maxItems"] == 20
    assert set(status["properties"]["stateHistory"]["items"]["properties"]) == {"state", "time", "message"}
    assert set(status["properties"]) == {
        "applicationState", "sparkApplicationId", "submissionID", "driverInfo", "executorState",
        "submissionAttempts", "executionAttempts", "lastSubmissionAttemptTime", "terminationTime",
        "stateHistory", "nextAttemptTime", "driverMissingSince", "driverStuckSince",
        "observedGeneration",
    }
    # Everything the operator writes is described.
    from ember.operator.lifecycle import AppStatus

    written = set(AppStatus().to_status()) | {"sparkApplicationId", "executorState"}
    assert written == set(status["properties"])
    assert set(status["properties"]["driverInfo"]["properties"]) == {
        "podName", "webUIServiceName", "webUIAddress"}


@pytest.mark.parametrize("size", ["512m", "2g", "1Gi", "1024", "512Mi", "1.5g", "4096mb", "2G"])
def test_quantity_pattern_accepts_spark_sizes_and_kubernetes_quantities(size):
    assert re.search(crd.QUANTITY_PATTERN, size)


@pytest.mark.parametrize("size", ["lots", "", "1 g", "-1g", "2x", "1GiB", "g"])
def test_quantity_pattern_refuses_what_neither_spark_nor_kubernetes_reads(size):
    assert not re.search(crd.QUANTITY_PATTERN, size)


def test_render_yaml_round_trips_to_the_same_definition():
    assert yaml.safe_load(crd.render_yaml()) == crd.crd()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_accepted_unchanged(apps, path):
    body = yaml.safe_load(path.read_text())
    created = create(apps, copy.deepcopy(body))
    # Nothing of the example was pruned: every field it sets is one the schema declares.
    assert created["spec"] == body["spec"]
    apps.delete_namespaced_custom_object(
        names.GROUP, names.VERSION, "default", names.PLURAL, body["metadata"]["name"])


def test_embedded_kubernetes_types_keep_their_fields(apps):
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    volume = {"name": "data", "configMap": {"name": "inputs", "items": [{"key": "a", "path": "a"}]}}
    toleration = {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
    created = create(apps, app(
        "embedded",
        volumes=[volume],
        driver={"env": env, "tolerations": [toleration],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]},
    ))
    assert created["spec"]["volumes"] == [volume]
    assert created["spec"]["driver"]["env"] == env
    assert created["spec"]["driver"]["tolerations"] == [toleration]


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    del body["spec"][key]
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (without(app("no-main"), "mainApplicationFile"), "spec.mainApplicationFile"),
        (without(app("no-image"), "image"), "spec.image"),
        (app("scala", type="Scala"), "spec.type"),
        (app("sometimes", restartPolicy={"type": "Sometimes"}), "spec.restartPolicy.type"),
        (app("no-executors", executor={"instances": 0}), "spec.executor.instances"),
        (app("lots", driver={"memory": "lots"}), "spec.driver.memory"),
        (app("overhead", executor={"memoryOverhead": "1 g"}), "spec.executor.memoryOverhead"),
        (app("pull", imagePullPolicy="Sometimes"), "spec.imagePullPolicy"),
        (app("retries", restartPolicy={"type": "OnFailure", "onFailureRetries": -1}),
         "spec.restartPolicy.onFailureRetries"),
        (app("interval", restartPolicy={"type": "OnFailure", "onFailureRetryInterval": 0}),
         "spec.restartPolicy.onFailureRetryInterval"),
        (app("ttl", timeToLiveSeconds=-5), "spec.timeToLiveSeconds"),
        (app("mount", driver={"volumeMounts": [{"name": "data"}]}),
         "spec.driver.volumeMounts[0].mountPath"),
        (app("conf", sparkConf={"spark.executor.cores": 2}), "spec.sparkConf.spark.executor.cores"),
    ],
    ids=lambda value: value if isinstance(value, str) else value["metadata"]["name"],
)
def test_a_bad_spec_is_refused_with_the_path_of_the_field(apps, body, field):
    with pytest.raises(ApiException) as error:
        create(apps, body)
    assert error.value.status == 422
    status = json.loads(error.value.body)
    assert status["reason"] == "Invalid"
    assert field in [cause["field"] for cause in status["details"]["causes"]]


def test_status_holds_the_contract_fields_and_kopf_bookkeeping(apps):
    create(apps, app("with-status"))
    status = {
        "applicationState": {"state": "FAILED", "errorMessage": "driver exited with code 3"},
        "sparkApplicationId": "spark-0123",
        "submissionID": "a1b2",
        "driverInfo": {"podName": "with-status-driver", "webUIServiceName": "with-status-driver-svc",
                       "webUIAddress": "http://10.0.0.7:7078"},
        "executorState": {"RUNNING": 1, "COMPLETED": 2},
        "submissionAttempts": 1,
        "executionAttempts": 1,
        "lastSubmissionAttemptTime": "2026-01-01T00:00:00Z",
        "terminationTime": "2026-01-01T00:01:00Z",
        "stateHistory": [{"state": "SUBMITTED", "time": "2026-01-01T00:00:00Z", "message": ""}],
        "kopf": {"progress": {}},
    }
    patched = apps.patch_namespaced_custom_object_status(
        names.GROUP, names.VERSION, "default", names.PLURAL, "with-status", {"status": status})
    assert patched["status"] == status


def test_kubectl_table_shows_the_printer_columns(kube, apps):
    create(apps, app("table"))
    apps.patch_namespaced_custom_object_status(
        names.GROUP, names.VERSION, "default", names.PLURAL, "table",
        {"status": {"applicationState": {"state": "RUNNING"}, "executionAttempts": 2}})
    request = urllib.request.Request(
        f"{kube.url}/apis/{names.GROUP}/{names.VERSION}/namespaces/default/{names.PLURAL}",
        headers={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"},
    )
    with urllib.request.urlopen(request) as response:
        table = json.load(response)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "State", "Attempts", "Start", "Finish", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "table")
    assert row["cells"][1:5] == ["RUNNING", 2, None, None]
