"""The executor pod builder: names, labels, owner, env, memory mapping and the template merge."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from ember.errors import IllegalArgumentException
from ember.k8s import names
from ember.k8s.executor_pod import build_executor_pod
from ember.localkube.validation import SCHEMA_VERSION

MiB = 1024 * 1024

DRIVER_POD = {"metadata": {"name": "etl-driver", "namespace": "jobs", "uid": "1234-abcd",
                           "labels": {names.LABEL_APP_NAME: "etl"}}}


def conf(**extra: str) -> dict[str, str]:
    base = {
        "spark.app.name": "etl", "spark.app.id": "spark-1234abcd",
        "spark.kubernetes.namespace": "jobs",
        "spark.kubernetes.container.image": "ember:1.0",
        "spark.kubernetes.container.image.pullPolicy": "Never",
        "spark.kubernetes.submission.id": "sub-7",
        "spark.kubernetes.executor.podNamePrefix": "etl",
        "spark.kubernetes.executor.secretKeyRef.EMBER_SECRET": "etl-token:token",
    }
    return {**base, **{k.replace("_", "."): v for k, v in extra.items()}}


def build(c: dict[str, str], template: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = build_executor_pod(c, executor_id="3", driver_url="http://10.0.0.5:7078",
                             driver_pod=DRIVER_POD, template=template)
    kubernetes_validate.validate(pod, SCHEMA_VERSION, strict=True)
    return pod


def env_of(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom"))
            for e in pod["spec"]["containers"][0]["env"]}


def test_names_labels_owner_and_hardening() -> None:
    pod = build(conf())
    meta = pod["metadata"]
    assert meta["name"] == "etl-exec-3"
    assert meta["namespace"] == "jobs"
    assert meta["labels"] == {
        names.LABEL_APP_NAME: "etl", names.LABEL_APP_ID: "spark-1234abcd",
        names.LABEL_ROLE: "executor", names.LABEL_EXECUTOR_ID: "3",
        names.LABEL_SUBMISSION_ID: "sub-7"}
    assert meta["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "Pod", "name": "etl-driver", "uid": "1234-abcd",
        "controller": True, "blockOwnerDeletion": True}]
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["name"] == "executor"
    assert container["command"] == ["ember", "executor"]
    assert (container["image"], container["imagePullPolicy"]) == ("ember:1.0", "Never")
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["volumeMounts"] == [
        {"name": "ember-local", "mountPath": "/var/lib/ember/local"},
        {"name": "tmp", "mountPath": "/tmp"}]
    assert spec["volumes"] == [{"name": "ember-local", "emptyDir": {}},
                               {"name": "tmp", "emptyDir": {}}]


def test_env_has_ids_heap_secret_downward_api_and_executor_env() -> None:
    env = env_of(build(conf(spark_executorEnv_TZ="UTC", spark_executor_cores="2")))
    assert env["EMBER_DRIVER_URL"] == "http://10.0.0.5:7078"
    assert env["EMBER_APP_ID"] == "spark-1234abcd"
    assert env["EMBER_EXECUTOR_ID"] == "3"
    assert env["EMBER_EXECUTOR_CORES"] == "2"
    assert env["EMBER_EXECUTOR_MEMORY"] == str(1024 * MiB)
    assert env["EMBER_SECRET"] == {"secretKeyRef": {"name": "etl-token", "key": "token"}}
    assert env["EMBER_BIND_HOST"] == "0.0.0.0"
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["TZ"] == "UTC"


@pytest.mark.parametrize(("settings", "heap_mib", "pod_mib", "cpu", "cpu_limit"), [
    # overhead = max(384 MiB, 0.1 x memory): 1g -> 1024 + 384
    ({}, 1024, 1024 + 384, "1", None),
    # 8g -> 8192 + int(0.1 x 8192) = 8192 + 819
    ({"spark.executor.memory": "8g", "spark.executor.cores": "4"}, 8192, 8192 + 819, "4", None),
    # factor 0.25 of 4g -> 4096 + 1024
    ({"spark.executor.memory": "4g", "spark.executor.memoryOverheadFactor": "0.25"},
     4096, 4096 + 1024, "1", None),
    # explicit overhead wins over the factor
    ({"spark.executor.memory": "2g", "spark.executor.memoryOverhead": "1g",
      "spark.executor.memoryOverheadFactor": "0.4"}, 2048, 2048 + 1024, "1", None),
    # half a core, with a limit
    ({"spark.executor.memory": "512m", "spark.executor.cores": "0.5",
      "spark.kubernetes.executor.limit.cores": "1"}, 512, 512 + 384, "500m", "1"),
])
def test_resources_follow_the_memory_formula(settings: dict[str, str], heap_mib: int,
                                             pod_mib: int, cpu: str, cpu_limit: str | None) -> None:
    pod = build({**conf(), **settings})
    res = pod["spec"]["containers"][0]["resources"]
    assert res["requests"] == {"cpu": cpu, "memory": f"{pod_mib}Mi"}
    limits = {"memory": f"{pod_mib}Mi", **({"cpu": cpu_limit} if cpu_limit else {})}
    assert res["limits"] == limits
    assert env_of(pod)["EMBER_EXECUTOR_MEMORY"] == str(heap_mib * MiB)


def test_template_is_merged_and_embers_labels_win() -> None:
    template = {
        "metadata": {"labels": {"team": "data", names.LABEL_ROLE: "impostor"},
                     "annotations": {"cost-center": "42"}},
        "spec": {
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "data", "configMap": {"name": "etl-data"}}],
            "imagePullSecrets": [{"name": "registry"}],
            "containers": [{"name": "executor",
                            "env": [{"name": "REGION", "value": "eu"},
                                    {"name": "EMBER_EXECUTOR_ID", "value": "spoofed"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data",
                                              "readOnly": True}]}],
        },
    }
    pod = build(conf(spark_kubernetes_container_image_pullSecrets="registry,other"), template)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["team"] == "data"
    assert meta["labels"][names.LABEL_ROLE] == "executor"
    assert meta["annotations"] == {"cost-center": "42"}
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == template["spec"]["tolerations"]
    assert [v["name"] for v in spec["volumes"]] == ["ember-local", "tmp", "data"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}, {"name": "other"}]
    container = spec["containers"][0]
    assert container["volumeMounts"][-1] == {"name": "data", "mountPath": "/data",
                                             "readOnly": True}
    env = env_of(pod)
    assert env["REGION"] == "eu"
    assert env["EMBER_EXECUTOR_ID"] == "3"
    # The template itself is not changed.
    assert template["metadata"]["labels"][names.LABEL_ROLE] == "impostor"


def test_bad_settings_say_what_to_set() -> None:
    with pytest.raises(IllegalArgumentException, match="below the minimum heap of 450 MiB"):
        build(conf(spark_executor_memory="256m"))
    c = conf()
    del c["spark.kubernetes.container.image"]
    with pytest.raises(IllegalArgumentException, match="spark.kubernetes.container.image"):
        build(c)
    with pytest.raises(IllegalArgumentException, match="<secret name>:<key>"):
        build({**conf(), "spark.kubernetes.executor.secretKeyRef.EMBER_SECRET": "no-key"})
