"""The SparkApplication CustomResourceDefinition: the one source of the CRD the chart and manifests ship.

The spec is modelled on the established Spark operator's ``v1beta2`` SparkApplication. The schema
validates what a user is likely to get wrong (the application type, enums, sizes, counts), so a
bad object is refused at ``kubectl apply`` with the path of the field. Fields that embed a
Kubernetes type (env entries, tolerations, volumes) keep their unknown fields, since repeating the
Kubernetes schemas here would only let them drift.

``scripts/render_manifests.py`` writes :func:`render_yaml` to ``charts/ember/crds/`` and
``manifests/crds/``; a test checks both copies against it.
"""

from __future__ import annotations

from typing import Any

import yaml

from ember.k8s import names

Schema = dict[str, Any]

#: Spark sizes (``512m``, ``2g``, ``1024``, ``1gb``) and Kubernetes binary quantities (``1Gi``).
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?([kKmMgGtT]([bB]|i)?|[bB])?$"
#: A Kubernetes CPU quantity for ``coreLimit``: ``1``, ``1.5``, ``500m``.
CPU_PATTERN = r"^[0-9]+(\.[0-9]+)?m?$"
#: How many transitions ``status.stateHistory`` keeps (the operator drops the oldest).
STATE_HISTORY_MAX = 20
#: Executor states counted in ``status.executorState``; bounded so status stays small.
EXECUTOR_STATES_MAX = 16

APPLICATION_TYPES = ("Python",)
DEPLOY_MODES = ("cluster",)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
RESTART_POLICIES = ("Never", "OnFailure", "Always")


def _string(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _integer(description: str, *, minimum: int) -> Schema:
    return {"type": "integer", "minimum": minimum, "description": description}


def _string_map(description: str) -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": description}


def _quantity(description: str) -> Schema:
    return _string(description, pattern=QUANTITY_PATTERN)


def _embedded(kind: str, *, required: tuple[str, ...] = ()) -> Schema:
    """An array of a Kubernetes type (``EnvVar``, ``Toleration``, ``Volume``) kept as written."""
    item: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if required:
        item["required"] = list(required)
        item["properties"] = {name: {"type": "string"} for name in required}
    return {"type": "array", "items": item, "description": f"Kubernetes {kind} objects, as in a Pod."}


def _volume_mounts() -> Schema:
    return {
        "type": "array",
        "description": "Mounts of spec.volumes into the container.",
        "items": {
            "type": "object",
            "required": ["name", "mountPath"],
            "properties": {
                "name": _string("The name of one of spec.volumes."),
                "mountPath": _string("Where the volume appears in the container.", pattern="^/"),
                "readOnly": {"type": "boolean"},
                "subPath": _string(),
            },
        },
    }


def _pod_fields(role: str) -> dict[str, Schema]:
    """What the driver and the executors share: resources and pod placement."""
    return {
        "cores": {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "description": f"CPU cores of each {role} (spark.{role}.cores); the pod's CPU request.",
        },
        "coreLimit": _string(f"CPU limit of each {role} pod, e.g. 1200m.", pattern=CPU_PATTERN),
        "memory": _quantity(f"Heap of each {role} (spark.{role}.memory), e.g. 512m, 2g or 1Gi."),
        "memoryOverhead": _quantity(
            f"Memory added to the {role} pod beyond the heap (spark.{role}.memoryOverhead)."
        ),
        "labels": _string_map(f"Labels added to the {role} pods."),
        "annotations": _string_map(f"Annotations added to the {role} pods."),
        "env": _embedded("EnvVar", required=("name",)),
        "nodeSelector": _string_map(f"Node labels the {role} pods must run on."),
        "tolerations": _embedded("Toleration"),
        "volumeMounts": _volume_mounts(),
    }


def _driver() -> Schema:
    properties = _pod_fields("driver")
    properties["serviceAccount"] = _string("The driver pod's ServiceAccount (default ember-driver).")
    return {"type": "object", "properties": properties, "description": "The driver pod."}


def _executor() -> Schema:
    properties = {
        "instances": _integer("How many executor pods (spark.executor.instances).", minimum=1),
        **_pod_fields("executor"),
    }
    return {"type": "object", "properties": properties, "description": "The executor pods."}


def _restart_policy() -> Schema:
    return {
        "type": "object",
        "default": {},
        "description": "Whether and how often a finished or failed application runs again.",
        "properties": {
            "type": _string(
                "Never, OnFailure (up to onFailureRetries reruns) or Always.",
                enum=list(RESTART_POLICIES),
                default="Never",
            ),
            "onFailureRetries": _integer("Reruns after a failed run.", minimum=0),
            "onFailureRetryInterval": _integer("Seconds between failed-run reruns.", minimum=1),
            "onSubmissionFailureRetries": _integer("Retries of a failed submission.", minimum=0),
            "onSubmissionFailureRetryInterval": _integer(
                "Seconds between submission retries.", minimum=1
            ),
        },
    }


def _dynamic_allocation() -> Schema:
    return {
        "type": "object",
        "description": "Executor count that follows the load (spark.dynamicAllocation.*).",
        "properties": {
            "enabled": {"type": "boolean"},
            "initialExecutors": _integer("Executors at start.", minimum=0),
            "minExecutors": _integer("Fewest executors kept.", minimum=0),
            "maxExecutors": _integer("Most executors asked for.", minimum=0),
        },
        "x-kubernetes-validations": [
            {
                "rule": "!has(self.minExecutors) || !has(self.maxExecutors) "
                "|| self.minExecutors <= self.maxExecutors",
                "message": "minExecutors must not exceed maxExecutors",
            }
        ],
    }


def spec_schema() -> Schema:
    """The schema of ``spec``."""
    return {
        "type": "object",
        "required": ["type", "image", "mainApplicationFile"],
        "properties": {
            "type": _string("The application's language.", enum=list(APPLICATION_TYPES)),
            "mode": _string("Where the driver runs.", enum=list(DEPLOY_MODES), default="cluster"),
            "image": _string("Image of the driver and executor pods.", minLength=1),
            "imagePullPolicy": _string(enum=list(PULL_POLICIES)),
            "imagePullSecrets": {"type": "array", "items": {"type": "string"}},
            "mainApplicationFile": _string(
                "The program: local:///path/in/image.py or an absolute path in the driver pod.",
                minLength=1,
            ),
            "arguments": {"type": "array", "items": {"type": "string"}},
            "sparkConf": _string_map("Spark settings, as spark-submit --conf would pass them."),
            "driver": _driver(),
            "executor": _executor(),
            "volumes": _embedded("Volume", required=("name",)),
            "restartPolicy": _restart_policy(),
            "timeToLiveSeconds": _integer("Seconds after termination before the app is deleted.", minimum=0),
            "dynamicAllocation": _dynamic_allocation(),
        },
    }


def status_schema() -> Schema:
    """The schema of ``status``; it also keeps fields it does not list (kopf's own bookkeeping)."""
    return {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "applicationState": {
                "type": "object",
                "properties": {"state": _string(), "errorMessage": _string()},
            },
            "sparkApplicationId": _string(),
            "submissionID": _string(),
            "driverInfo": {
                "type": "object",
                "properties": {
                    "podName": _string(),
                    "webUIServiceName": _string(),
                    "webUIAddress": _string(),
                },
            },
            "executorState": {
                "type": "object",
                "description": "How many executors are in each state.",
                "maxProperties": EXECUTOR_STATES_MAX,
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "submissionAttempts": {"type": "integer", "minimum": 0},
            "executionAttempts": {"type": "integer", "minimum": 0},
            "lastSubmissionAttemptTime": _string(),
            "terminationTime": _string(),
            "nextAttemptTime": _string("When PENDING_RERUN submits again."),
            "driverMissingSince": _string("Since when the driver pod is missing."),
            "driverStuckSince": _string("Since when the driver pod cannot start."),
            "observedGeneration": {"type": "integer", "minimum": 0,
                                   "description": "The spec generation of the current run."},
            "stateHistory": {
                "type": "array",
                "maxItems": STATE_HISTORY_MAX,
                "items": {
                    "type": "object",
                    "properties": {"state": _string(), "time": _string(), "message": _string()},
                },
            },
        },
    }


def printer_columns() -> list[Schema]:
    return [
        {"name": "State", "type": "string", "jsonPath": ".status.applicationState.state"},
        {"name": "Attempts", "type": "integer", "jsonPath": ".status.executionAttempts"},
        {"name": "Start", "type": "string", "jsonPath": ".status.lastSubmissionAttemptTime"},
        {"name": "Finish", "type": "string", "jsonPath": ".status.terminationTime"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def crd() -> dict[str, Any]:
    """The ``sparkapplications.ember.dev`` CustomResourceDefinition as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names.PLURAL}.{names.GROUP}",
            "labels": {"app.kubernetes.io/name": "ember", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A PySpark application run by the ember operator.",
                            "required": ["spec"],
                            "properties": {"spec": spec_schema(), "status": status_schema()},
                        }
                    },
                }
            ],
        },
    }


def render_yaml() -> str:
    """The CRD as one YAML document, keys in the order written here."""
    return yaml.safe_dump(crd(), sort_keys=False, default_flow_style=False, width=100)
