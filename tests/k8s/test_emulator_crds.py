"""CustomResourceDefinitions: discovery, schema validation, printer columns, kubectl and a kopf operator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import kubernetes
import pytest
from kubernetes.client import ApiException, CustomObjectsApi

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.ember.dev"},
    "spec": {
        "group": "example.ember.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                },
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "example.ember.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def crd(api_client):
    kubernetes.client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    return CustomObjectsApi(api_client)


def test_a_created_crd_is_discoverable(kube, api_client, crd):
    groups = kubernetes.client.ApisApi(api_client).get_api_versions()
    assert "example.ember.dev" in [group.name for group in groups.groups]
    resources = crd.get_api_resources("example.ember.dev", "v1")
    assert {r.name for r in resources.resources} == {"widgets", "widgets/status"}


def test_custom_objects_are_validated_against_the_schema(crd):
    crd.create_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", widget("ok", size=2))
    for spec, field in [
        ({"size": "big"}, "spec.size"),
        ({}, "spec.size"),
        ({"size": 0}, "spec.size"),
        ({"size": 1, "color": "green"}, "spec.color"),
    ]:
        with pytest.raises(ApiException) as error:
            crd.create_namespaced_custom_object(
                "example.ember.dev", "v1", "default", "widgets", widget("bad", **spec)
            )
        assert error.value.status == 422
        status = json.loads(error.value.body)
        assert status["reason"] == "Invalid"
        assert field in [cause["field"] for cause in status["details"]["causes"]]


def test_status_subresource_of_a_crd_is_isolated(crd):
    crd.create_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", widget("w", size=1))
    main = crd.patch_namespaced_custom_object(
        "example.ember.dev",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 3}, "status": {"phase": "Ignored"}},
    )
    assert "status" not in main and main["metadata"]["generation"] == 2
    status = crd.patch_namespaced_custom_object_status(
        "example.ember.dev",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 9}, "status": {"phase": "Ready"}},
    )
    assert status["status"] == {"phase": "Ready"} and status["spec"]["size"] == 3
    assert status["metadata"]["generation"] == 2


def test_server_side_table_uses_printer_columns(kube, crd):
    import urllib.request

    crd.create_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", widget("w", size=4))
    request = urllib.request.Request(
        f"{kube.url}/apis/example.ember.dev/v1/namespaces/default/widgets",
        headers={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"},
    )
    with urllib.request.urlopen(request) as response:
        table = json.load(response)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase", "Age"]
    assert table["rows"][0]["cells"][:3] == ["w", 4, None]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_applies_gets_patches_and_deletes_custom_objects(kube, tmp_path):
    env = dict(os.environ, KUBECONFIG=str(kube.kubeconfig))

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    kubectl("apply", "-f", "-", stdin=json.dumps(CRD))
    kubectl("apply", "-f", "-", stdin=json.dumps(widget("w1", size=5)))
    table = kubectl("get", "widgets")
    assert table.split("\n")[0].split() == ["NAME", "SIZE", "PHASE", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["w1", "5"]
    kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"spec": {"size": 6}}')
    assert json.loads(kubectl("get", "wd", "w1", "-o", "json"))["spec"]["size"] == 6
    kubectl("apply", "-f", "-", stdin=json.dumps(widget("w1", size=7)))
    assert kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.size}") == "7"
    kubectl("delete", "widget", "w1")
    assert "w1" not in kubectl("get", "widgets")


def test_a_kopf_operator_patches_status_through_the_subresource(kube, crd):
    from kopf.testing import KopfRunner

    operator = kube.kubeconfig.parent / "widget_operator.py"
    operator.write_text(
        "import kopf, kubernetes\n"
        "@kopf.on.login()\n"
        "def login(**_):\n"
        f"    client = kubernetes.config.new_client_from_config(config_file={str(kube.kubeconfig)!r})\n"
        "    config = client.configuration\n"
        "    token = config.api_key.get('BearerToken') or config.api_key.get('authorization')\n"
        "    return kopf.ConnectionInfo(server=config.host, scheme='Bearer', token=token.split()[-1])\n"
        "@kopf.on.startup()\n"
        "def configure(settings, **_):\n"
        "    settings.posting.enabled = False\n"
        "    settings.watching.server_timeout = 5\n"
        "@kopf.on.create('example.ember.dev', 'v1', 'widgets')\n"
        "def created(spec, patch, **_):\n"
        "    patch.status['phase'] = f\"Ready-{spec['size']}\"\n"
    )
    phase = None
    with KopfRunner(["run", "--standalone", "--namespace=default", str(operator)], timeout=30):
        crd.create_namespaced_custom_object(
            "example.ember.dev", "v1", "default", "widgets", widget("w", size=2)
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not phase:
            obj = crd.get_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", "w")
            phase = (obj.get("status") or {}).get("phase")
            time.sleep(0.1)
    assert phase == "Ready-2"


def test_deleting_a_crd_deletes_its_objects_and_resource(api_client, crd):
    crd.create_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", widget("w", size=1))
    kubernetes.client.ApiextensionsV1Api(api_client).delete_custom_resource_definition(
        CRD["metadata"]["name"]
    )
    with pytest.raises(ApiException) as error:
        crd.list_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets")
    assert error.value.status == 404


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_watch_prints_printer_columns_for_each_event(kube, crd):
    import threading

    crd.create_namespaced_custom_object("example.ember.dev", "v1", "default", "widgets", widget("w", size=1))

    def resize() -> None:
        crd.patch_namespaced_custom_object(
            "example.ember.dev", "v1", "default", "widgets", "w", {"spec": {"size": 8}}
        )

    threading.Timer(0.5, resize).start()
    env = dict(os.environ, KUBECONFIG=str(kube.kubeconfig))
    done = subprocess.run(
        ["kubectl", "get", "widgets", "--watch", "--request-timeout=2s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [line.split() for line in done.stdout.strip().split("\n")]
    assert lines[0] == ["NAME", "SIZE", "PHASE", "AGE"]
    assert [line[:2] for line in lines[1:]] == [["w", "1"], ["w", "8"]]


def test_fields_the_schema_does_not_declare_are_pruned(api_client):
    strict = json.loads(json.dumps(CRD))
    version = strict["spec"]["versions"][0]
    version["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "properties": {"phase": {"type": "string"}},
    }
    kubernetes.client.ApiextensionsV1Api(api_client).create_custom_resource_definition(strict)
    objects = CustomObjectsApi(api_client)
    created = objects.create_namespaced_custom_object(
        "example.ember.dev", "v1", "default", "widgets", dict(widget("w", size=1, extra=True), junk=1)
    )
    assert created["spec"] == {"size": 1} and "junk" not in created
    status = objects.patch_namespaced_custom_object_status(
        "example.ember.dev", "v1", "default", "widgets", "w", {"status": {"phase": "Ready", "kopf": {"x": 1}}}
    )
    assert status["status"] == {"phase": "Ready"}
