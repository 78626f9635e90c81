"""The ConfigMap, Secret, Service and driver Pod of one submission, and the Spark conf they carry."""

from __future__ import annotations

import base64
import copy
import doctest
import json
from typing import Any

import kubernetes_validate
import pytest

from ember.k8s import driver, executor_pod, names
from ember.k8s.driver import (
    build_driver_objects,
    executor_pod_template,
    format_properties,
    parse_properties,
    spark_conf,
)
from ember.k8s.spec import SpecError

K8S_VERSION = "1.30"
MiB = 1024 * 1024
UID = "0b4f2a9e-1111-2222-3333-444455556666"
APP_ID = "spark-0b4f2a9e111122223333444455556666"

BASE: dict[str, Any] = {
    "apiVersion": "ember.dev/v1alpha1",
    "kind": "SparkApplication",
    "metadata": {"name": "pi", "namespace": "jobs", "uid": UID, "labels": {"team": "data"}},
    "spec": {
        "type": "Python",
        "image": "ember:dev",
        "mainApplicationFile": "local:///opt/ember/examples/pi.py",
        "arguments": ["100"],
    },
}

FULL_SPEC: dict[str, Any] = {
    "imagePullPolicy": "Always",
    "imagePullSecrets": ["regcred", "mirror"],
    "sparkConf": {"spark.sql.shuffle.partitions": "8"},
    "volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "code", "configMap": {"name": "pi-code"}},
        {"name": "unused", "emptyDir": {}},
    ],
    "driver": {
        "cores": 2, "coreLimit": "2500m", "memory": "2g", "memoryOverhead": "1g",
        "serviceAccount": "spark", "labels": {"tier": "batch"},
        "annotations": {"example.com/owner": "ana"},
        "env": [{"name": "LOG_LEVEL", "value": "debug"}],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
        "volumeMounts": [{"name": "code", "mountPath": "/etc/app", "readOnly": True}],
    },
    "executor": {
        "instances": 3, "cores": 2, "coreLimit": "3", "memory": "4g",
        "labels": {"tier": "batch-exec"}, "annotations": {"example.com/cost": "low"},
        "env": [{"name": "OMP_NUM_THREADS", "value": "2"}],
        "nodeSelector": {"pool": "workers"},
        "tolerations": [{"key": "spot", "operator": "Equal", "value": "yes",
                         "effect": "NoExecute", "tolerationSeconds": 60}],
        "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "in"}],
    },
    "dynamicAllocation": {"enabled": True, "initialExecutors": 2, "minExecutors": 1,
                          "maxExecutors": 6},
}


def make_app(*, name: str = "pi", **spec: Any) -> dict[str, Any]:
    app = copy.deepcopy(BASE)
    app["metadata"]["name"] = name
    app["spec"].update(copy.deepcopy(spec))
    return app


def build(app: dict[str, Any], submission_id: str = "sub-1") -> driver.DriverObjects:
    return build_driver_objects(app, submission_id=submission_id, token="s3cret-token")


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_docstring_examples_run() -> None:
    result = doctest.testmod(driver)
    assert result.attempted > 0 and result.failed == 0


# -- memory and CPU ----------------------------------------------------------------------------


def expected_mib(heap_mib: int, overhead_mib: int | None = None, factor: float = 0.1) -> int:
    """Heap plus overhead: the given one, or max(384 MiB, factor x heap), in whole MiB."""
    if overhead_mib is None:
        overhead_mib = max(384, int(factor * heap_mib))
    return heap_mib + overhead_mib


RESOURCE_CASES = [
    # (role spec, heap MiB, explicit overhead MiB, factor, cpu request, cpu limit)
    ({"memory": "512m"}, 512, None, 0.1, "1", None),
    ({"memory": "4g"}, 4096, None, 0.1, "1", None),
    ({"memory": "2g", "memoryOverhead": "1g"}, 2048, 1024, 0.1, "1", None),
    ({"memory": "8Gi", "cores": 2, "coreLimit": "2500m"}, 8192, None, 0.1, "2", "2500m"),
    ({"memory": "1g", "cores": 0.5}, 1024, None, 0.1, "500m", None),
    ({"memory": "10g"}, 10240, None, 0.25, "1", None),
]


@pytest.mark.parametrize(("role_spec", "heap", "overhead", "factor", "cpu", "limit"),
                         RESOURCE_CASES)
def test_driver_pod_resources_follow_the_memory_formula(
    role_spec: dict, heap: int, overhead: int | None, factor: float, cpu: str, limit: str | None,
) -> None:
    conf = {"spark.driver.memoryOverheadFactor": str(factor)} if factor != 0.1 else {}
    pod = build(make_app(driver=role_spec, sparkConf=conf)).pod
    res = pod["spec"]["containers"][0]["resources"]
    memory = f"{expected_mib(heap, overhead, factor)}Mi"
    assert res["requests"] == {"cpu": cpu, "memory": memory}
    assert res["limits"] == ({"memory": memory} if limit is None
                             else {"memory": memory, "cpu": limit})


def test_formula_spot_values() -> None:
    assert expected_mib(512) == 896
    assert expected_mib(4096) == 4505
    assert expected_mib(2048, 1024) == 3072


def test_driver_and_executor_settings_stay_apart() -> None:
    app = make_app(driver={"memory": "512m", "cores": 1},
                   executor={"memory": "4g", "cores": 2, "memoryOverhead": "600m",
                             "coreLimit": "2500m", "instances": 5})
    objs = build(app)
    assert objs.pod["spec"]["containers"][0]["resources"]["limits"] == {"memory": "896Mi"}
    conf = parse_properties(objs.config_map["data"]["spark.properties"])
    assert conf["spark.executor.memory"] == "4g"
    assert conf["spark.executor.memoryOverhead"] == "600m"
    assert conf["spark.executor.cores"] == "2"
    assert conf["spark.kubernetes.executor.limit.cores"] == "2500m"
    assert conf["spark.executor.instances"] == "5"
    assert not any(k.startswith("spark.driver.") for k in conf)


# -- every object against the Kubernetes schemas -------------------------------------------------


@pytest.mark.parametrize("app", [
    make_app(),
    make_app(**FULL_SPEC),
    make_app(name="a-very-long-application-name-" * 8 + "end", **FULL_SPEC),
], ids=["minimal", "full", "long-name"])
def test_every_object_validates_against_kubernetes_schemas(app: dict[str, Any]) -> None:
    objs = build(app)
    template = json.loads(objs.config_map["data"][driver.EXECUTOR_TEMPLATE_FILE])
    for obj in (*objs.all(), template):
        kubernetes_validate.validate(obj, desired_version=K8S_VERSION, strict=True)


def test_objects_come_in_creation_order_without_owner_references() -> None:
    objs = build(make_app(**FULL_SPEC))
    assert [o["kind"] for o in objs.all()] == ["ConfigMap", "Secret", "Service", "Pod"]
    for obj in objs.all():
        assert obj["apiVersion"] == "v1"
        assert obj["metadata"]["namespace"] == "jobs"
        assert "ownerReferences" not in obj["metadata"]


def test_long_app_name_gives_names_within_63_characters() -> None:
    name = "nightly-revenue-reconciliation-" * 6 + "x"
    objs = build(make_app(name=name))
    for obj in objs.all():
        assert len(obj["metadata"]["name"]) <= 63, obj["kind"]
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    conf = parse_properties(objs.config_map["data"]["spark.properties"])
    assert conf["spark.app.name"] == name
    assert len(conf["spark.kubernetes.executor.podNamePrefix"]) + len("-exec-12345") <= 63
    assert conf["spark.kubernetes.driver.pod.name"] == objs.pod["metadata"]["name"]
    # A different long name with the same first 63 characters still gets other objects.
    other = build(make_app(name=name + "y"))
    assert other.pod["metadata"]["name"] != objs.pod["metadata"]["name"]


def test_an_invalid_spec_is_refused_with_its_field() -> None:
    with pytest.raises(SpecError) as info:
        build(make_app(executor={"memory": "300m"}))
    assert info.value.field == "spec.executor.memory"


# -- spark.properties ----------------------------------------------------------------------------

AWKWARD = {
    "spark.plain": "value",
    "spark.empty": "",
    "spark.equals": "a=b=c",
    "spark.colon": "k8s://https://host:6443",
    "spark.backslash": "C:\\temp\\new\\",
    "spark.leading.spaces": "   three",
    "spark.trailing.spaces": "three   ",
    "spark.newlines": "line one\nline two\r\nline three\r",
    "spark.tabs": "\tindented\tvalue",
    "spark.comment.like": "# not a comment",
    "spark.bang": "!important",
    "spark.unicode": "café ✓ \u2028 end",
    "spark.control": "bell\x07 nul\x00",
    "spark.key with spaces=and:colons": "v",
    "#spark.hash.key": "h",
    "spark.trailing.backslash": "ends\\",
}


def test_properties_round_trip_awkward_values() -> None:
    text = format_properties(AWKWARD)
    assert parse_properties(text) == AWKWARD
    lines = text.splitlines()
    assert len(lines) == len(AWKWARD)  # one physical line per entry
    assert [line.split("=", 1)[0] for line in lines] == sorted(
        line.split("=", 1)[0] for line in lines)


def test_properties_format_is_plain_key_value_lines() -> None:
    assert format_properties({"spark.b": "2", "spark.a": "x=1", "spark.c": " lead"}) == (
        "spark.a=x\\=1\nspark.b=2\nspark.c=\\ lead\n")


def test_parse_properties_reads_java_syntax() -> None:
    text = (
        "# a comment\n"
        "! another comment \\\n"
        "\n"
        "   spark.a = 1\n"
        "spark.b:2\n"
        "spark.c 3\n"
        "spark.d=one \\\n"
        "       two\n"
        "spark.e=\\u0041\\tB\n"
        "spark.f=\n"
        "spark.g\n"
    )
    assert parse_properties(text) == {
        "spark.a": "1", "spark.b": "2", "spark.c": "3", "spark.d": "one two",
        "spark.e": "A\tB", "spark.f": "", "spark.g": "",
    }


def test_spark_conf_has_every_setting_the_contract_lists() -> None:
    conf = spark_conf(make_app(**FULL_SPEC), submission_id="sub-7")
    assert conf == {
        "spark.master": "k8s://https://kubernetes.default.svc",
        "spark.app.name": "pi",
        "spark.app.id": APP_ID,
        "spark.kubernetes.namespace": "jobs",
        "spark.kubernetes.driver.pod.name": "pi-driver",
        "spark.kubernetes.container.image": "ember:dev",
        "spark.kubernetes.container.image.pullPolicy": "Always",
        "spark.kubernetes.container.image.pullSecrets": "regcred,mirror",
        "spark.kubernetes.submission.id": "sub-7",
        "spark.executor.instances": "3",
        "spark.executor.cores": "2",
        "spark.executor.memory": "4g",
        "spark.kubernetes.executor.limit.cores": "3",
        "spark.kubernetes.executor.secretKeyRef.EMBER_SECRET": "pi-token:token",
        "spark.kubernetes.executor.podNamePrefix": "pi",
        "spark.kubernetes.executor.podTemplateFile":
            "/etc/ember/conf/executor-pod-template.json",
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.initialExecutors": "2",
        "spark.dynamicAllocation.minExecutors": "1",
        "spark.dynamicAllocation.maxExecutors": "6",
        "spark.sql.shuffle.partitions": "8",
    }


def test_spark_conf_minimal_defaults() -> None:
    conf = spark_conf(make_app(), submission_id="s")
    assert conf["spark.kubernetes.container.image.pullPolicy"] == "IfNotPresent"
    assert (conf["spark.executor.instances"], conf["spark.executor.cores"],
            conf["spark.executor.memory"]) == ("1", "1", "1g")
    for absent in ("spark.kubernetes.container.image.pullSecrets", "spark.executor.memoryOverhead",
                   "spark.kubernetes.executor.limit.cores", "spark.dynamicAllocation.enabled"):
        assert absent not in conf


def test_user_spark_conf_wins_except_operator_owned_keys() -> None:
    user = {
        "spark.executor.memory": "3g",
        "spark.kubernetes.container.image": "custom:1",
        "spark.master": "local[4]",
        "spark.app.id": "mine",
        "spark.kubernetes.namespace": "elsewhere",
        "spark.kubernetes.driver.pod.name": "hijack",
        "spark.app.name": "Friendly Name",
    }
    objs = build(make_app(sparkConf=user))
    conf = parse_properties(objs.config_map["data"]["spark.properties"])
    assert conf["spark.executor.memory"] == "3g"
    assert conf["spark.kubernetes.container.image"] == "custom:1"
    assert conf["spark.app.name"] == "Friendly Name"
    assert conf["spark.master"] == names.MASTER_IN_CLUSTER
    assert conf["spark.app.id"] == APP_ID
    assert conf["spark.kubernetes.namespace"] == "jobs"
    assert conf["spark.kubernetes.driver.pod.name"] == "pi-driver"


# -- ConfigMap, Secret, Service ------------------------------------------------------------------


def test_config_map_and_secret() -> None:
    objs = build(make_app(), submission_id="sub-9")
    labels = {names.LABEL_APP_NAME: "pi", names.LABEL_APP_ID: APP_ID,
              names.LABEL_SUBMISSION_ID: "sub-9"}
    cm, secret = objs.config_map, objs.secret
    assert cm["metadata"] == {"name": "pi-conf", "namespace": "jobs", "labels": labels}
    assert set(cm["data"]) == {"spark.properties", "executor-pod-template.json"}
    assert parse_properties(cm["data"]["spark.properties"]) == spark_conf(
        make_app(), submission_id="sub-9")
    assert json.loads(cm["data"]["executor-pod-template.json"]) == executor_pod_template(make_app())
    assert secret["metadata"] == {"name": "pi-token", "namespace": "jobs", "labels": labels}
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["token"]).decode() == "s3cret-token"


def test_headless_service_selects_the_driver() -> None:
    service = build(make_app()).service
    assert service["metadata"]["name"] == "pi-driver-svc"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {names.LABEL_APP_NAME: "pi", names.LABEL_ROLE: "driver"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("driver-rpc", 7078, 7078), ("ui", 4040, 7078)]
    pod_labels = build(make_app()).pod["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


# -- the driver Pod ------------------------------------------------------------------------------


def test_driver_pod_minimal() -> None:
    pod = build(make_app(), submission_id="sub-1").pod
    assert pod["metadata"]["name"] == "pi-driver"
    assert pod["metadata"]["labels"] == {
        names.LABEL_APP_NAME: "pi", names.LABEL_APP_ID: APP_ID,
        names.LABEL_SUBMISSION_ID: "sub-1", names.LABEL_ROLE: "driver"}
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "ember-driver"
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000,
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["volumes"] == [
        {"name": "spark-conf", "configMap": {"name": "pi-conf"}},
        {"name": "ember-local", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    for absent in ("imagePullSecrets", "nodeSelector", "tolerations"):
        assert absent not in spec
    [container] = spec["containers"]
    assert container["name"] == "driver"
    assert container["image"] == "ember:dev"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["ember", "driver"]
    assert container["args"] == ["local:///opt/ember/examples/pi.py", "100"]
    assert container["ports"] == [{"name": "driver-rpc", "containerPort": 7078, "protocol": "TCP"}]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}}
    assert container["volumeMounts"] == [
        {"name": "spark-conf", "mountPath": "/etc/ember/conf", "readOnly": True},
        {"name": "ember-local", "mountPath": "/var/lib/ember/local"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    assert container["env"] == [
        {"name": "EMBER_CONF_DIR", "value": "/etc/ember/conf"},
        {"name": "EMBER_SECRET", "valueFrom": {"secretKeyRef": {"name": "pi-token", "key": "token"}}},
        {"name": "EMBER_APP_ID", "value": APP_ID},
        {"name": "EMBER_APP_NAME", "value": "pi"},
        {"name": "EMBER_SUBMISSION_ID", "value": "sub-1"},
        {"name": "EMBER_LOCAL_DIR", "value": "/var/lib/ember/local"},
        {"name": "EMBER_TERMINATION_LOG", "value": "/dev/termination-log"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]


def test_driver_pod_takes_the_driver_spec() -> None:
    pod = build(make_app(**FULL_SPEC)).pod
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["tier"] == "batch"
    assert meta["labels"][names.LABEL_ROLE] == "driver"
    assert meta["annotations"] == {"example.com/owner": "ana"}
    assert spec["serviceAccountName"] == "spark"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == FULL_SPEC["driver"]["tolerations"]
    assert [v["name"] for v in spec["volumes"]] == ["spark-conf", "ember-local", "tmp", "code"]
    [container] = spec["containers"]
    assert container["imagePullPolicy"] == "Always"
    assert container["volumeMounts"][-1] == {"name": "code", "mountPath": "/etc/app",
                                             "readOnly": True}
    env = env_of(container)
    assert list(env)[-1] == "LOG_LEVEL" and env["LOG_LEVEL"] == "debug"
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "3072Mi"},
        "limits": {"cpu": "2500m", "memory": "3072Mi"},
    }


def test_user_labels_cannot_replace_ember_labels() -> None:
    app = make_app(driver={"labels": {names.LABEL_ROLE: "executor", names.LABEL_APP_NAME: "x"}})
    labels = build(app).pod["metadata"]["labels"]
    assert labels[names.LABEL_ROLE] == "driver"
    assert labels[names.LABEL_APP_NAME] == "pi"


# -- the executor pod template -------------------------------------------------------------------


def test_executor_pod_template_holds_the_executor_spec() -> None:
    template = executor_pod_template(make_app(**FULL_SPEC))
    assert template == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"tier": "batch-exec"},
                     "annotations": {"example.com/cost": "low"}},
        "spec": {
            "nodeSelector": {"pool": "workers"},
            "tolerations": FULL_SPEC["executor"]["tolerations"],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            "imagePullSecrets": [{"name": "regcred"}, {"name": "mirror"}],
            "containers": [{
                "name": "executor",
                "env": [{"name": "OMP_NUM_THREADS", "value": "2"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "in"}],
            }],
        },
    }


def test_executor_pod_template_of_a_minimal_spec_is_nearly_empty() -> None:
    assert executor_pod_template(make_app()) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {},
        "spec": {"containers": [{"name": "executor"}]},
    }


def test_builders_do_not_modify_the_app() -> None:
    app = make_app(**FULL_SPEC)
    before = copy.deepcopy(app)
    objs = build(app)
    objs.pod["spec"]["containers"][0]["env"].append({"name": "X", "value": "1"})
    objs.pod["spec"]["tolerations"].append({"key": "y"})
    assert app == before


def test_executor_pod_built_from_the_config_map_carries_the_executor_spec() -> None:
    """The driver builds executors from what this ConfigMap holds; the two must fit together."""
    objs = build(make_app(**FULL_SPEC))
    conf = parse_properties(objs.config_map["data"]["spark.properties"])
    template = json.loads(objs.config_map["data"][driver.EXECUTOR_TEMPLATE_FILE])
    driver_pod = copy.deepcopy(objs.pod)
    driver_pod["metadata"]["uid"] = "driver-uid"
    pod = executor_pod.build_executor_pod(conf, executor_id="1", driver_url="http://10.0.0.5:7078",
                                          driver_pod=driver_pod, template=template)
    kubernetes_validate.validate(pod, desired_version=K8S_VERSION, strict=True)
    assert pod["metadata"]["name"] == "pi-exec-1"
    assert pod["metadata"]["labels"]["tier"] == "batch-exec"
    assert pod["metadata"]["labels"][names.LABEL_SUBMISSION_ID] == "sub-1"
    assert pod["spec"]["nodeSelector"] == {"pool": "workers"}
    [container] = pod["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "3", "memory": f"{expected_mib(4096)}Mi"}
    env = env_of(container)
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["EMBER_SECRET"] == {"secretKeyRef": {"name": "pi-token", "key": "token"}}
    assert {"name": "data", "mountPath": "/data", "subPath": "in"} in container["volumeMounts"]
