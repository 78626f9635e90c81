"""The objects the operator creates for one submission of a SparkApplication, as plain dicts.

A submission is a ConfigMap (the Spark conf and the executor pod template), a Secret (the app's
bearer token), a headless Service in front of the driver and the driver Pod, created in that
order. The handlers create them and adopt them (ownerReferences); nothing here does I/O.

>>> app = {"metadata": {"name": "pi", "namespace": "jobs", "uid": "1234-abcd"},
...        "spec": {"type": "Python", "image": "ember:dev",
...                 "mainApplicationFile": "local:///opt/ember/examples/pi.py"}}
>>> objs = build_driver_objects(app, submission_id="s1", token="t0k3n")
>>> [(o["kind"], o["metadata"]["name"]) for o in objs.all()]
[('ConfigMap', 'pi-conf'), ('Secret', 'pi-token'), ('Service', 'pi-driver-svc'), ('Pod', 'pi-driver')]
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ember.k8s import executor_pod, names, resources
from ember.k8s import spec as appspec

__all__ = [
    "DriverObjects", "build_driver_objects", "spark_conf", "executor_pod_template",
    "format_properties", "parse_properties", "EXECUTOR_TEMPLATE_FILE", "DEFAULT_SERVICE_ACCOUNT",
    "OPERATOR_OWNED_KEYS",
]

#: The ConfigMap key (and file name under the conf mount) of the executor pod template.
EXECUTOR_TEMPLATE_FILE = "executor-pod-template.json"
#: The chart creates this ServiceAccount, with its Role and RoleBinding, in each job namespace.
DEFAULT_SERVICE_ACCOUNT = "ember-driver"
#: Settings the operator decides; a spec's sparkConf cannot change them.
OPERATOR_OWNED_KEYS = frozenset({
    "spark.master", "spark.app.id", "spark.kubernetes.namespace",
    "spark.kubernetes.driver.pod.name",
})

# Driver and executor pods are hardened alike; one definition serves both.
_POD_SECURITY = executor_pod._POD_SECURITY
_CONTAINER_SECURITY = executor_pod._CONTAINER_SECURITY


@dataclass(frozen=True)
class DriverObjects:
    """What one submission creates; ``all()`` gives them in creation order."""

    config_map: dict[str, Any]
    secret: dict[str, Any]
    service: dict[str, Any]
    pod: dict[str, Any]

    def all(self) -> tuple[dict[str, Any], ...]:
        return (self.config_map, self.secret, self.service, self.pod)


# -- Java properties -----------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f",
            "=": "\\=", ":": "\\:"}
_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _escape(text: str, *, key: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == " " and (key or i == 0):
            out.append("\\ ")
        elif ch in "#!" and key and i == 0:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def format_properties(conf: Mapping[str, str]) -> str:
    r"""``conf`` as Java-properties ``key=value`` lines, keys sorted, escaped so any value survives.

    >>> print(format_properties({"spark.b": " two\nlines", "spark.a": "x=1"}), end="")
    spark.a=x\=1
    spark.b=\ two\nlines
    """
    return "".join(f"{_escape(k, key=True)}={_escape(str(v), key=False)}\n"
                   for k, v in sorted(conf.items()))


def _logical_lines(text: str) -> list[str]:
    """Physical lines joined where one ends in an odd number of backslashes (a continuation)."""
    lines: list[str] = []
    pending = ""
    for raw in _LINE_BREAK.split(text):
        line = raw.lstrip(" \t\f") if pending else raw
        if not pending and line.lstrip(" \t\f")[:1] in ("#", "!"):
            continue  # a comment never continues onto the next line
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1]
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
            out.append(chr(int(text[i + 2:i + 6], 16)))
            i += 6
            continue
        out.append(_UNESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _split_entry(line: str) -> tuple[str, str]:
    """The raw key and value of one logical line: the key ends at an unescaped ``=``, ``:`` or blank."""
    i = 0
    while i < len(line) and line[i] not in "=: \t\f":
        i += 2 if line[i] == "\\" else 1
    key, rest = line[:i], line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def parse_properties(text: str) -> dict[str, str]:
    r"""Java-properties text as a dict; ``#`` and ``!`` comment lines and blank lines are skipped.

    >>> parse_properties("# conf\nspark.a = x\\=1\nspark.b:\\ two\\nlines\n\n")
    {'spark.a': 'x=1', 'spark.b': ' two\nlines'}
    """
    conf: dict[str, str] = {}
    for line in _logical_lines(text):
        line = line.lstrip(" \t\f")
        if not line or line[0] in "#!":
            continue
        key, value = _split_entry(line)
        conf[_unescape(key)] = _unescape(value)
    return conf


# -- the Spark conf and the executor pod template -----------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def spark_conf(app: Mapping[str, Any], *, submission_id: str) -> dict[str, str]:
    """The settings the driver reads from ``spark.properties``; the spec's sparkConf wins over
    everything but the operator-owned keys (master, app id, namespace, driver pod name)."""
    spec = appspec.AppSpec.from_app(app)
    executor = spec.executor
    conf = {
        "spark.master": names.MASTER_IN_CLUSTER,
        "spark.app.name": spec.name,
        "spark.app.id": names.app_id(spec.uid),
        "spark.kubernetes.namespace": spec.namespace,
        "spark.kubernetes.driver.pod.name": names.driver_pod_name(spec.name),
        "spark.kubernetes.container.image": spec.image,
        "spark.kubernetes.container.image.pullPolicy": spec.image_pull_policy,
        "spark.kubernetes.submission.id": submission_id,
        "spark.executor.instances": str(executor.instances),
        "spark.executor.cores": _number(executor.cores),
        "spark.executor.memory": executor.memory,
        "spark.kubernetes.executor.secretKeyRef.EMBER_SECRET":
            f"{names.secret_name(spec.name)}:{names.SECRET_TOKEN_KEY}",
        "spark.kubernetes.executor.podNamePrefix": names.executor_pod_prefix(spec.name),
        "spark.kubernetes.executor.podTemplateFile":
            f"{names.CONF_MOUNT_PATH}/{EXECUTOR_TEMPLATE_FILE}",
    }
    if spec.image_pull_secrets:
        conf["spark.kubernetes.container.image.pullSecrets"] = ",".join(spec.image_pull_secrets)
    if executor.memory_overhead is not None:
        conf["spark.executor.memoryOverhead"] = executor.memory_overhead
    if executor.core_limit is not None:
        conf["spark.kubernetes.executor.limit.cores"] = executor.core_limit
    dynamic = (app.get("spec") or {}).get("dynamicAllocation") or {}
    for key in ("enabled", "initialExecutors", "minExecutors", "maxExecutors"):
        if key in dynamic:
            value = dynamic[key]
            conf[f"spark.dynamicAllocation.{key}"] = (
                str(value).lower() if isinstance(value, bool) else str(value))
    owned = {k: conf[k] for k in OPERATOR_OWNED_KEYS}
    conf.update(spec.spark_conf)
    conf.update(owned)
    return conf


def _volumes_for(spec: appspec.AppSpec, mounts: Any) -> list[dict[str, Any]]:
    """Those of ``spec.volumes`` that ``mounts`` use, in the spec's order."""
    used = {m.get("name") for m in mounts}
    return [dict(v) for v in spec.volumes if v.get("name") in used]


def _pull_secrets(spec: appspec.AppSpec) -> list[dict[str, str]]:
    return [{"name": s} for s in spec.image_pull_secrets]


def executor_pod_template(app: Mapping[str, Any]) -> dict[str, Any]:
    """The partial executor Pod holding what flat properties cannot say; the driver merges it into
    every executor pod it creates."""
    spec = appspec.AppSpec.from_app(app)
    executor = spec.executor
    metadata: dict[str, Any] = {}
    if executor.labels:
        metadata["labels"] = dict(executor.labels)
    if executor.annotations:
        metadata["annotations"] = dict(executor.annotations)
    container: dict[str, Any] = {"name": names.ROLE_EXECUTOR}
    if executor.env:
        container["env"] = [dict(e) for e in executor.env]
    if executor.volume_mounts:
        container["volumeMounts"] = [dict(m) for m in executor.volume_mounts]
    pod_spec: dict[str, Any] = {"containers": [container]}
    optional = {
        "nodeSelector": dict(executor.node_selector),
        "tolerations": [dict(t) for t in executor.tolerations],
        "volumes": _volumes_for(spec, executor.volume_mounts),
        "imagePullSecrets": _pull_secrets(spec),
    }
    pod_spec.update({k: v for k, v in optional.items() if v})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


# -- the objects -----------------------------------------------------------------------------------


def _labels(spec: appspec.AppSpec, *, submission_id: str, role: str | None = None) -> dict[str, str]:
    labels = {
        names.LABEL_APP_NAME: names.label_value(spec.name),
        names.LABEL_APP_ID: names.label_value(names.app_id(spec.uid)),
        names.LABEL_SUBMISSION_ID: names.label_value(submission_id),
    }
    if role is not None:
        labels[names.LABEL_ROLE] = role
    return labels


def _metadata(spec: appspec.AppSpec, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": labels}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _driver_env(spec: appspec.AppSpec, *, submission_id: str) -> list[dict[str, Any]]:
    return [
        {"name": "EMBER_CONF_DIR", "value": names.CONF_MOUNT_PATH},
        {"name": "EMBER_SECRET", "valueFrom": {"secretKeyRef": {
            "name": names.secret_name(spec.name), "key": names.SECRET_TOKEN_KEY}}},
        {"name": "EMBER_APP_ID", "value": names.app_id(spec.uid)},
        {"name": "EMBER_APP_NAME", "value": spec.name},
        {"name": "EMBER_SUBMISSION_ID", "value": submission_id},
        {"name": "EMBER_LOCAL_DIR", "value": names.LOCAL_DIR_MOUNT_PATH},
        {"name": "EMBER_TERMINATION_LOG", "value": names.TERMINATION_LOG},
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("POD_IP", "status.podIP"),
        *(dict(e) for e in spec.driver.env),
    ]


def _driver_pod(spec: appspec.AppSpec, *, submission_id: str) -> dict[str, Any]:
    driver = spec.driver
    pod_resources = resources.pod_resources(
        role=names.ROLE_DRIVER, cores=driver.cores, memory=driver.memory,
        memory_overhead=driver.memory_overhead, core_limit=driver.core_limit,
        overhead_factor=appspec.overhead_factor(spec, role=names.ROLE_DRIVER),
        field="spec.driver.memory",
    )
    container = {
        "name": names.ROLE_DRIVER,
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["ember", "driver"],
        "args": [spec.main_application_file, *spec.arguments],
        "ports": [{"name": "driver-rpc", "containerPort": names.DRIVER_PORT, "protocol": "TCP"}],
        # The driver writes why the program failed there; a plain non-zero exit leaves the end
        # of its log as the reason the operator reports.
        "terminationMessagePath": names.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": _driver_env(spec, submission_id=submission_id),
        "resources": pod_resources.container_resources(),
        "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": names.CONF_VOLUME, "mountPath": names.CONF_MOUNT_PATH, "readOnly": True},
            {"name": names.LOCAL_DIR_VOLUME, "mountPath": names.LOCAL_DIR_MOUNT_PATH},
            {"name": names.TMP_VOLUME, "mountPath": "/tmp"},
            *(dict(m) for m in driver.volume_mounts),
        ],
    }
    labels = {**driver.labels,
              **_labels(spec, submission_id=submission_id, role=names.ROLE_DRIVER)}
    metadata = _metadata(spec, names.driver_pod_name(spec.name), labels)
    if driver.annotations:
        metadata["annotations"] = dict(driver.annotations)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": driver.service_account or DEFAULT_SERVICE_ACCOUNT,
        "securityContext": copy.deepcopy(_POD_SECURITY),
        "containers": [container],
        "volumes": [
            {"name": names.CONF_VOLUME, "configMap": {"name": names.conf_map_name(spec.name)}},
            {"name": names.LOCAL_DIR_VOLUME, "emptyDir": {}},
            {"name": names.TMP_VOLUME, "emptyDir": {}},
            *_volumes_for(spec, driver.volume_mounts),
        ],
    }
    optional = {
        "imagePullSecrets": _pull_secrets(spec),
        "nodeSelector": dict(driver.node_selector),
        "tolerations": [dict(t) for t in driver.tolerations],
    }
    pod_spec.update({k: v for k, v in optional.items() if v})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _driver_service(spec: appspec.AppSpec, *, submission_id: str) -> dict[str, Any]:
    selector = {names.LABEL_APP_NAME: names.label_value(spec.name),
                names.LABEL_ROLE: names.ROLE_DRIVER}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, names.driver_service_name(spec.name),
                              _labels(spec, submission_id=submission_id)),
        "spec": {
            "clusterIP": "None",
            "selector": selector,
            "ports": [
                {"name": "driver-rpc", "port": names.DRIVER_PORT,
                 "targetPort": names.DRIVER_PORT, "protocol": "TCP"},
                {"name": "ui", "port": names.UI_PORT, "targetPort": names.DRIVER_PORT,
                 "protocol": "TCP"},
            ],
        },
    }


def build_driver_objects(
    app: Mapping[str, Any], *, submission_id: str, token: str,
) -> DriverObjects:
    """The ConfigMap, Secret, Service and driver Pod of one submission of ``app``.

    Raises ``ember.k8s.spec.SpecError`` naming the field when the spec cannot be run.
    """
    appspec.validate(app)
    spec = appspec.AppSpec.from_app(app)
    labels = _labels(spec, submission_id=submission_id)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(spec, names.conf_map_name(spec.name), dict(labels)),
        "data": {
            names.CONF_FILE: format_properties(spark_conf(app, submission_id=submission_id)),
            EXECUTOR_TEMPLATE_FILE: json.dumps(executor_pod_template(app), indent=2,
                                               sort_keys=True),
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, names.secret_name(spec.name), dict(labels)),
        "type": "Opaque",
        "data": {names.SECRET_TOKEN_KEY: base64.b64encode(token.encode()).decode("ascii")},
    }
    return DriverObjects(
        config_map=config_map,
        secret=secret,
        service=_driver_service(spec, submission_id=submission_id),
        pod=_driver_pod(spec, submission_id=submission_id),
    )
