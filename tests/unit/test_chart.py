"""The Helm chart, rendered and linted by real Helm (helm-python-sdk), for its default values and a
non-default set; every object is checked against the Kubernetes schemas and its key values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from ember.k8s import crd
from ember.localkube.validation import SCHEMA_VERSION

CHART = Path(__file__).resolve().parents[2] / "charts" / "ember"
RELEASE, NAMESPACE = "ember", "ember-system"

CUSTOM = {
    "image": {"repository": "registry.example.com/data/ember", "tag": "1.2.3", "pullPolicy": "Always"},
    "logLevel": "DEBUG",
    "watchNamespaces": ["spark-jobs", "team-a"],
    "sparkJobNamespaces": ["spark-jobs", "analytics"],
    "resources": {"requests": {"cpu": "250m", "memory": "300Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux", "pool": "system"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
}
OPERATOR_RULES = [
    {"apiGroups": ["ember.dev"], "resources": ["sparkapplications"],
     "verbs": ["get", "list", "watch", "patch", "update", "delete"]},
    {"apiGroups": ["ember.dev"], "resources": ["sparkapplications/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods", "services", "configmaps", "secrets"],
     "verbs": ["get", "list", "watch", "create", "delete", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
]
DRIVER_RULES = [
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
]


class Rendered:
    def __init__(self, values: dict[str, Any] | None) -> None:
        with helm_python.Chart.load(CHART) as chart:
            self.files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            self.crds = chart.crds
        self.objects = [
            doc
            for path, text in self.files.items()
            if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text)
            if doc
        ]
        self.notes = self.files["ember/templates/NOTES.txt"]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        (only,) = self.all(kind)
        return only

    @property
    def container(self) -> dict[str, Any]:
        (only,) = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        return only


@pytest.fixture(scope="module")
def default() -> Rendered:
    return Rendered(None)


@pytest.fixture(scope="module")
def custom() -> Rendered:
    return Rendered(CUSTOM)


def test_chart_metadata():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (meta["apiVersion"], meta["name"], meta["version"], meta["appVersion"]) == (
        "v2", "ember", "0.1.0", "0.1.0")


@pytest.mark.parametrize("values", [None, CUSTOM], ids=["default", "custom"])
def test_chart_lints_clean(values):
    report = helm_python.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    # Only informational findings (severity 1, e.g. "icon is recommended").
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("which", ["default", "custom"])
def test_every_rendered_object_is_valid_kubernetes(which, request):
    rendered: Rendered = request.getfixturevalue(which)
    assert len(rendered.objects) >= 7
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)


def test_chart_ships_the_generated_crd(default):
    (only,) = default.crds
    assert only["filename"] == "ember/crds/sparkapplications.ember.dev.yaml"
    assert yaml.safe_load(only["data"]) == crd.crd()


def test_default_objects(default):
    kinds = sorted(
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in default.objects
    )
    assert kinds == [
        ("ClusterRole", "ember", None),
        ("ClusterRoleBinding", "ember", None),
        ("Deployment", "ember", NAMESPACE),
        ("Role", "ember-driver", "default"),
        ("RoleBinding", "ember-driver", "default"),
        ("ServiceAccount", "ember", NAMESPACE),
        ("ServiceAccount", "ember-driver", "default"),
    ]


def test_default_deployment_runs_kopf_on_all_namespaces_with_a_liveness_probe(default):
    deployment = default.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    container = default.container
    assert container["image"] == "ghcr.io/ember-dev/ember:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == [
        "kopf", "run", "--standalone", "-m", "ember.operator", "--all-namespaces",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    assert container["ports"] == [{"name": "healthz", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert {"name": "EMBER_LOG_LEVEL", "value": "INFO"} in container["env"]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                                      "limits": {"memory": "512Mi"}}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ember"
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_deployment_is_hardened(default):
    pod = default.one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert default.container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_operator_rbac_is_exactly_what_it_uses(default):
    assert default.one("ClusterRole")["rules"] == OPERATOR_RULES
    binding = default.one("ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ember"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ember", "namespace": NAMESPACE}]


def test_default_driver_rbac_is_in_default(default):
    (role,) = default.all("Role")
    assert (role["metadata"]["name"], role["metadata"]["namespace"]) == ("ember-driver", "default")
    assert role["rules"] == DRIVER_RULES


def test_notes_tell_how_to_run_the_example(default, custom):
    assert "kubectl apply -f manifests/examples/spark-pi.yaml" in default.notes
    assert "kubectl get sparkapp" in default.notes
    assert "kubectl logs spark-pi-driver" in default.notes
    assert "all namespaces" in default.notes
    assert "spark-jobs, team-a" in custom.notes


def test_custom_deployment_watches_the_listed_namespaces(custom):
    container = custom.container
    assert container["command"] == [
        "kopf", "run", "--standalone", "-m", "ember.operator",
        "--namespace", "spark-jobs", "--namespace", "team-a",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    assert container["image"] == "registry.example.com/data/ember:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert {"name": "EMBER_LOG_LEVEL", "value": "DEBUG"} in container["env"]
    assert container["resources"] == CUSTOM["resources"]
    pod = custom.one("Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == CUSTOM["nodeSelector"]
    assert pod["tolerations"] == CUSTOM["tolerations"]


def test_one_driver_role_per_job_namespace(custom):
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        driver_objects = [o for o in custom.all(kind) if o["metadata"]["name"] == "ember-driver"]
        assert [o["metadata"]["namespace"] for o in driver_objects] == ["spark-jobs", "analytics"]
    for role in custom.all("Role"):
        assert role["rules"] == DRIVER_RULES
    for binding in custom.all("RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": "ember-driver"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ember-driver",
                                        "namespace": namespace}]
