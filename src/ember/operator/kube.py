"""The operator's only door to the Kubernetes API: a thin layer over the ``kubernetes`` client.

Each method is one API call (or a list-then-delete) with the names and labels the operator uses;
the reconciler decides what to call. Client configuration is in-cluster inside a pod, else the
kubeconfig (``KUBECONFIG`` or ``~/.kube/config``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ember.k8s import names

log = logging.getLogger("ember.operator")

__all__ = ["Api", "ApiException", "api_client"]


def api_client() -> client.ApiClient:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return client.ApiClient()
    return config.new_client_from_config()


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class Api:
    """The calls the operator makes, on one ``kubernetes.client.ApiClient``."""

    def __init__(self, api: client.ApiClient | None = None) -> None:
        self.client = api or api_client()
        self.core = client.CoreV1Api(self.client)
        self.custom = client.CustomObjectsApi(self.client)

    # -- SparkApplications -----------------------------------------------------------------------

    def get_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_app_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            names.GROUP, names.VERSION, namespace, names.PLURAL, name, {"status": dict(status)})

    def delete_app(self, namespace: str, name: str) -> None:
        self._ignore_missing(lambda: self.custom.delete_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.PLURAL, name,
            body=client.V1DeleteOptions(propagation_policy="Background")))

    # -- pods and the driver's objects -----------------------------------------------------------

    def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        pods = self.core.list_namespaced_pod(namespace, label_selector=_selector(labels))
        return [self.client.sanitize_for_serialization(p) for p in pods.items]

    def create(self, obj: Mapping[str, Any]) -> None:
        """Create a namespaced core object (ConfigMap, Secret, Service or Pod)."""
        namespace = obj["metadata"]["namespace"]
        self._call("create", obj["kind"])(namespace, dict(obj))

    def read_labels(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """The labels of an existing object, or None when there is none."""
        try:
            return dict(self._call("read", kind)(name, namespace).metadata.labels or {})
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, kind: str, namespace: str, name: str) -> None:
        delete = self._call("delete", kind)
        self._ignore_missing(lambda: delete(
            name, namespace, body=client.V1DeleteOptions(propagation_policy="Background")))

    _KINDS = {"ConfigMap": "config_map", "Secret": "secret", "Service": "service", "Pod": "pod"}

    def _call(self, verb: str, kind: str) -> Any:
        """CoreV1Api's ``<verb>_namespaced_<kind>`` for one of the driver's object kinds."""
        return getattr(self.core, f"{verb}_namespaced_{self._KINDS[kind]}")

    def delete_pods(self, namespace: str, labels: Mapping[str, str]) -> int:
        pods = self.core.list_namespaced_pod(namespace, label_selector=_selector(labels)).items
        for pod in pods:
            self.delete("Pod", namespace, pod.metadata.name)
        return len(pods)

    # -- events ----------------------------------------------------------------------------------

    def post_event(self, app: Mapping[str, Any], *, type: str, reason: str, message: str) -> None:
        meta = app["metadata"]
        now = dt.datetime.now(dt.UTC)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}",
                         "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{names.GROUP}/{names.VERSION}", "kind": names.KIND,
                "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type,
            "source": {"component": "ember-operator"},
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
            "reportingComponent": "ember.dev/operator",
        }
        try:
            self.core.create_namespaced_event(meta["namespace"], event)
        except ApiException as exc:  # an event is worth a log line, never a failed reconcile
            log.warning("could not post event %s for %s: %s", reason, meta["name"], exc.reason)

    @staticmethod
    def _ignore_missing(call: Any) -> None:
        try:
            call()
        except ApiException as exc:
            if exc.status != 404:
                raise
