"""SparkApplication semantics the CRD schema cannot check, and the typed view the operator reads."""

from __future__ import annotations

import copy
import doctest
from typing import Any

import pytest

from ember.errors import IllegalArgumentException
from ember.k8s import spec as appspec
from ember.k8s.spec import AppSpec, DynamicAllocation, RestartPolicy, SpecError, validate

BASE: dict[str, Any] = {
    "apiVersion": "ember.dev/v1alpha1",
    "kind": "SparkApplication",
    "metadata": {"name": "pi", "namespace": "jobs", "uid": "0b4f2a9e-1111-2222-3333-444455556666"},
    "spec": {
        "type": "Python",
        "image": "ember:dev",
        "mainApplicationFile": "local:///opt/ember/examples/pi.py",
    },
}


def app_with(**changes: Any) -> dict[str, Any]:
    """BASE with ``spec`` paths set: ``app_with(**{"executor.memory": "2g"})``; None deletes."""
    app = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = app["spec"]
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return app


def test_docstring_examples_run() -> None:
    result = doctest.testmod(appspec)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("changes", [
    {},
    {"mainApplicationFile": "/etc/app/main.py"},
    {"executor.memory": "450m", "driver.memory": "2Gi", "executor.memoryOverhead": "1g"},
    {"executor.cores": 2, "executor.coreLimit": "2500m", "driver.cores": 0.5,
     "driver.coreLimit": "1"},
    {"executor.instances": 3, "sparkConf": {"spark.sql.shuffle.partitions": "8"}},
    {"dynamicAllocation": {"enabled": True, "minExecutors": 1, "initialExecutors": 2,
                           "maxExecutors": 4}},
    {"dynamicAllocation": {"enabled": False, "minExecutors": 5, "maxExecutors": 1}},
    {"restartPolicy": {"type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 10}},
    {"timeToLiveSeconds": 0},
    {"sparkConf": {"spark.executor.memoryOverheadFactor": "0.2"}},
])
def test_valid_specs_pass(changes: dict[str, Any]) -> None:
    validate(app_with(**changes))


INVALID = [
    # (spec changes, field named, words the fix must contain)
    ({"type": "Scala"}, "spec.type", "set spec.type to Python"),
    ({"mode": "client"}, "spec.mode", "cluster"),
    ({"image": ""}, "spec.image", "set spec.image"),
    ({"mainApplicationFile": None}, "spec.mainApplicationFile", "local:///"),
    ({"mainApplicationFile": "examples/pi.py"}, "spec.mainApplicationFile", "absolute path"),
    ({"mainApplicationFile": "s3://bucket/pi.py"}, "spec.mainApplicationFile", "local:///"),
    ({"mainApplicationFile": "local://opt/pi.py"}, "spec.mainApplicationFile", "local:///"),
    ({"mainApplicationFile": "local:///opt/app.jar"}, "spec.mainApplicationFile", ".py"),
    ({"executor.memory": "256m"}, "spec.executor.memory", "at least 450m"),
    ({"driver.memory": "400m"}, "spec.driver.memory", "set spec.driver.memory to at least 450m"),
    ({"executor.memory": "lots"}, "spec.executor.memory", "e.g. 512m"),
    ({"executor.memoryOverhead": "1 bucket"}, "spec.executor.memoryOverhead", "e.g. 512m"),
    ({"driver.memoryOverhead": "-1g"}, "spec.driver.memoryOverhead", "512m"),
    ({"executor.cores": 0}, "spec.executor.cores", "e.g. 1"),
    ({"driver.cores": -1}, "spec.driver.cores", "e.g. 1"),
    ({"executor.coreLimit": "two"}, "spec.executor.coreLimit", "2500m"),
    ({"executor.coreLimit": "0m"}, "spec.executor.coreLimit", "2500m"),
    ({"executor.cores": 2, "executor.coreLimit": "1500m"}, "spec.executor.coreLimit",
     "at least 2"),
    ({"executor.instances": 0}, "spec.executor.instances", "1 or more"),
    ({"dynamicAllocation": {"enabled": True, "minExecutors": 3, "initialExecutors": 1}},
     "spec.dynamicAllocation.initialExecutors", "at least 3"),
    ({"dynamicAllocation": {"enabled": True, "initialExecutors": 5, "maxExecutors": 2}},
     "spec.dynamicAllocation.initialExecutors", "at most 2"),
    ({"dynamicAllocation": {"enabled": True, "maxExecutors": 0}},
     "spec.dynamicAllocation.maxExecutors", "1 or more"),
    ({"dynamicAllocation": {"enabled": True, "minExecutors": -1}},
     "spec.dynamicAllocation.minExecutors", "0 or more"),
    ({"sparkConf": {"spark.executor.cores": 2}}, "spec.sparkConf[spark.executor.cores]",
     'spark.executor.cores: "2"'),
    ({"sparkConf": {"executor.cores": "2"}}, "spec.sparkConf[executor.cores]", "spark."),
    ({"sparkConf": {"spark.driver.memoryOverheadFactor": "much"}},
     "spec.sparkConf[spark.driver.memoryOverheadFactor]", "0.1"),
    ({"sparkConf": {"spark.executor.memory": "100m"}},
     "spec.sparkConf[spark.executor.memory]", "at least 450m"),
    ({"sparkConf": {"spark.executor.memoryOverhead": "big"}},
     "spec.sparkConf[spark.executor.memoryOverhead]", "e.g. 512m"),
    ({"restartPolicy": {"type": "Sometimes"}}, "spec.restartPolicy.type", "OnFailure"),
    ({"restartPolicy": {"onFailureRetryInterval": 0}},
     "spec.restartPolicy.onFailureRetryInterval", "1 or more"),
    ({"timeToLiveSeconds": -5}, "spec.timeToLiveSeconds", "0 or more"),
    ({"driver.env": [{"name": "A", "value": "1"}, {"name": "EMBER_SECRET", "value": "x"}]},
     "spec.driver.env[1].name", "remove it"),
]


@pytest.mark.parametrize(("changes", "field", "fix"), INVALID,
                         ids=[f for _, f, _ in INVALID])
def test_invalid_spec_names_its_field_and_the_fix(changes: dict, field: str, fix: str) -> None:
    with pytest.raises(SpecError) as info:
        validate(app_with(**changes))
    err = info.value
    assert err.field == field
    assert isinstance(err, IllegalArgumentException)
    message = str(err)
    problem, _, hint = message.partition("\n\n")
    assert field in problem
    assert problem[0].islower() and hint[0].islower()
    assert fix in hint


def test_messages_start_lowercase_after_the_field() -> None:
    with pytest.raises(SpecError) as info:
        validate(app_with(**{"executor.instances": 0}))
    assert str(info.value) == (
        "spec.executor.instances: must be a whole number of at least 1, got 0"
        "\n\nset spec.executor.instances to 1 or more")


def test_app_spec_defaults() -> None:
    spec = AppSpec.from_app(BASE)
    assert (spec.name, spec.namespace, spec.uid) == ("pi", "jobs", BASE["metadata"]["uid"])
    assert spec.mode == "cluster" and spec.type == "Python"
    assert spec.image_pull_policy == "IfNotPresent"
    assert spec.restart_policy == RestartPolicy(
        type="Never", on_failure_retries=0, on_failure_retry_interval=5,
        on_submission_failure_retries=0, on_submission_failure_retry_interval=5)
    assert spec.time_to_live_seconds is None
    assert spec.dynamic_allocation == DynamicAllocation(enabled=False)
    for role in (spec.driver, spec.executor):
        assert (role.cores, role.memory, role.memory_overhead, role.core_limit) == (1, "1g", None, None)
    assert spec.executor.instances == 1
    assert spec.arguments == () and spec.spark_conf == {}


def test_app_spec_reads_every_field() -> None:
    app = app_with(**{
        "restartPolicy": {"type": "OnFailure", "onFailureRetries": 3, "onFailureRetryInterval": 20,
                          "onSubmissionFailureRetries": 2, "onSubmissionFailureRetryInterval": 7},
        "timeToLiveSeconds": 600,
        "dynamicAllocation": {"enabled": True, "minExecutors": 1, "initialExecutors": 2,
                              "maxExecutors": 8},
        "executor.instances": 4, "executor.cores": 2, "executor.memory": 2048,
        "executor.memoryOverhead": "512m", "executor.coreLimit": "2500m",
        "driver.serviceAccount": "spark", "arguments": ["--n", 10],
        "imagePullSecrets": ["regcred"],
    })
    spec = AppSpec.from_app(app)
    assert spec.restart_policy == RestartPolicy("OnFailure", 3, 20, 2, 7)
    assert spec.time_to_live_seconds == 600
    assert spec.dynamic_allocation == DynamicAllocation(True, 2, 1, 8)
    ex = spec.executor
    assert (ex.instances, ex.cores, ex.memory, ex.memory_overhead, ex.core_limit) == (
        4, 2, "2048m", "512m", "2500m")
    assert spec.driver.service_account == "spark"
    assert spec.arguments == ("--n", "10")
    assert spec.image_pull_secrets == ("regcred",)


def test_app_spec_is_frozen() -> None:
    spec = AppSpec.from_app(BASE)
    with pytest.raises(AttributeError):
        spec.image = "other"  # type: ignore[misc]
