"""The executor Pod a driver creates: a pure function of the Spark conf, the driver's own pod and
the executor pod template (all plain dicts; the Kubernetes backend does the API calls).

What comes from where:

- name ``<spark.kubernetes.executor.podNamePrefix>-exec-<id>``; labels app-name, app-id,
  role=executor, executor-id, submission-id (``spark.kubernetes.submission.id``); an
  ownerReference to the driver pod (controller), so that deleting the driver deletes them;
- image, pull policy and pull secrets from ``spark.kubernetes.container.image*``;
- resources from `ember.k8s.resources.pod_resources` with ``spark.executor.cores``,
  ``spark.executor.memory``, ``spark.executor.memoryOverhead``,
  ``spark.executor.memoryOverheadFactor`` and ``spark.kubernetes.executor.limit.cores``;
- env: the driver URL, ids, cores, heap bytes, ``EMBER_SECRET`` (and any other variable) from
  ``spark.kubernetes.executor.secretKeyRef.<VAR>=<secret>:<key>``, ``spark.executorEnv.<VAR>``;
- the template (``spark.kubernetes.executor.podTemplateFile``, as the operator writes it):
  labels, annotations, nodeSelector, tolerations, volumes, imagePullSecrets, and the first
  container's env and volumeMounts, added to ember's own (ember's labels and env win).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ember.errors import IllegalArgumentException
from ember.k8s import names, resources

_POD_SECURITY = {
    "runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
_SECRET_REF = "spark.kubernetes.executor.secretKeyRef."
_EXECUTOR_ENV = "spark.executorEnv."


def pod_name_prefix(conf: Mapping[str, str]) -> str:
    """``spark.kubernetes.executor.podNamePrefix``, or one made from ``spark.app.name``."""
    prefix = conf.get("spark.kubernetes.executor.podNamePrefix")
    return prefix or names.executor_pod_prefix(conf.get("spark.app.name") or "ember")


def executor_labels(conf: Mapping[str, str], driver_pod: Mapping[str, Any]) -> dict[str, str]:
    """The labels every executor pod of this app carries (without its executor id)."""
    driver_labels = (driver_pod.get("metadata") or {}).get("labels") or {}
    app_name = driver_labels.get(names.LABEL_APP_NAME) or conf.get("spark.app.name") or "ember"
    app_id = conf.get("spark.app.id") or driver_labels.get(names.LABEL_APP_ID) or ""
    labels = {names.LABEL_APP_NAME: names.label_value(app_name),
              names.LABEL_APP_ID: names.label_value(app_id),
              names.LABEL_ROLE: names.ROLE_EXECUTOR}
    submission = conf.get("spark.kubernetes.submission.id") or \
        driver_labels.get(names.LABEL_SUBMISSION_ID)
    if submission:
        labels[names.LABEL_SUBMISSION_ID] = names.label_value(submission)
    return labels


def executor_resources(conf: Mapping[str, str]) -> resources.PodResources:
    try:
        factor = float(conf.get("spark.executor.memoryOverheadFactor") or
                       resources.DEFAULT_OVERHEAD_FACTOR)
        cores = float(conf.get("spark.executor.cores") or 1)
    except ValueError as exc:
        msg = f"spark.executor.cores and spark.executor.memoryOverheadFactor must be numbers: {exc}"
        raise IllegalArgumentException(msg) from None
    return resources.pod_resources(
        role=names.ROLE_EXECUTOR, cores=cores, memory=conf.get("spark.executor.memory") or "1g",
        memory_overhead=conf.get("spark.executor.memoryOverhead") or None,
        overhead_factor=factor, core_limit=conf.get("spark.kubernetes.executor.limit.cores"))


def build_executor_pod(
    conf: Mapping[str, str],
    *,
    executor_id: str,
    driver_url: str,
    driver_pod: Mapping[str, Any],
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The executor pod for ``executor_id``, owned by ``driver_pod`` (as read from the API)."""
    driver_meta = driver_pod.get("metadata") or {}
    namespace = conf.get("spark.kubernetes.namespace") or driver_meta.get("namespace") or "default"
    res = executor_resources(conf)
    labels = {**executor_labels(conf, driver_pod), names.LABEL_EXECUTOR_ID: executor_id}
    template = template or {}
    tmeta = template.get("metadata") or {}
    tspec = template.get("spec") or {}
    tcontainer = (tspec.get("containers") or [{}])[0]

    metadata: dict[str, Any] = {
        "name": names.executor_pod_name(pod_name_prefix(conf), executor_id),
        "namespace": namespace,
        "labels": {**(tmeta.get("labels") or {}), **labels},
        "ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": driver_meta.get("name", ""),
            "uid": driver_meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True,
        }],
    }
    if tmeta.get("annotations"):
        metadata["annotations"] = dict(tmeta["annotations"])
    container = {
        "name": names.ROLE_EXECUTOR,
        "image": _image(conf),
        "imagePullPolicy": conf.get("spark.kubernetes.container.image.pullPolicy") or
        "IfNotPresent",
        "command": ["ember", "executor"],
        "env": _env(conf, executor_id=executor_id, driver_url=driver_url, heap=res.heap,
                    cores=res.cores, extra=tcontainer.get("env") or []),
        "resources": res.container_resources(),
        "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": names.LOCAL_DIR_VOLUME, "mountPath": names.LOCAL_DIR_MOUNT_PATH},
            {"name": names.TMP_VOLUME, "mountPath": "/tmp"},
            *(copy.deepcopy(m) for m in tcontainer.get("volumeMounts") or []),
        ],
    }
    volumes = [{"name": names.LOCAL_DIR_VOLUME, "emptyDir": {}},
               {"name": names.TMP_VOLUME, "emptyDir": {}}]
    volumes += [copy.deepcopy(v) for v in tspec.get("volumes") or []
                if v.get("name") not in {names.LOCAL_DIR_VOLUME, names.TMP_VOLUME}]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": copy.deepcopy(_POD_SECURITY),
        "containers": [container],
        "volumes": volumes,
    }
    secrets = _pull_secrets(conf, tspec.get("imagePullSecrets") or [])
    optional = {
        "imagePullSecrets": secrets,
        "nodeSelector": dict(tspec.get("nodeSelector") or {}),
        "tolerations": copy.deepcopy(list(tspec.get("tolerations") or [])),
    }
    spec.update({k: v for k, v in optional.items() if v})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _image(conf: Mapping[str, str]) -> str:
    image = conf.get("spark.kubernetes.executor.container.image") or \
        conf.get("spark.kubernetes.container.image")
    if not image:
        msg = ("no executor image: spark.kubernetes.container.image is not set\n\n"
               "set spec.image on the SparkApplication (or the setting itself)")
        raise IllegalArgumentException(msg)
    return image


def _env(conf: Mapping[str, str], *, executor_id: str, driver_url: str, heap: int, cores: float,
         extra: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "EMBER_DRIVER_URL", "value": driver_url},
        {"name": "EMBER_APP_ID", "value": conf.get("spark.app.id") or ""},
        {"name": "EMBER_EXECUTOR_ID", "value": executor_id},
        {"name": "EMBER_EXECUTOR_CORES", "value": str(max(1, int(cores)))},
        {"name": "EMBER_EXECUTOR_MEMORY", "value": str(heap)},
        {"name": "EMBER_LOCAL_DIR", "value": names.LOCAL_DIR_MOUNT_PATH},
        {"name": "EMBER_BIND_HOST", "value": "0.0.0.0"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    for key, name in (("spark.memory.fraction", "EMBER_MEMORY_FRACTION"),
                      ("spark.memory.storageFraction", "EMBER_MEMORY_STORAGE_FRACTION")):
        if conf.get(key):
            env.append({"name": name, "value": str(conf[key])})
    if conf.get("spark.task.maxDirectResultSize"):
        env.append({"name": "EMBER_MAX_DIRECT_RESULT",
                    "value": str(conf["spark.task.maxDirectResultSize"])})
    for key in sorted(conf):
        if key.startswith(_SECRET_REF):
            secret, sep, item = str(conf[key]).partition(":")
            if not sep or not secret or not item:
                msg = (f"{key} must be <secret name>:<key>, got {conf[key]!r}\n\n"
                       f"e.g. {key}=my-app-token:token")
                raise IllegalArgumentException(msg)
            env.append({"name": key[len(_SECRET_REF):],
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": item}}})
        elif key.startswith(_EXECUTOR_ENV):
            env.append({"name": key[len(_EXECUTOR_ENV):], "value": str(conf[key])})
    taken = {e["name"] for e in env}
    env += [copy.deepcopy(dict(e)) for e in extra if e.get("name") not in taken]
    return env


def _pull_secrets(conf: Mapping[str, str],
                  template: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    given = [s.strip() for s in (conf.get("spark.kubernetes.container.image.pullSecrets") or
                                 "").split(",") if s.strip()]
    given += [s["name"] for s in template if s.get("name")]
    return [{"name": n} for n in dict.fromkeys(given)]
