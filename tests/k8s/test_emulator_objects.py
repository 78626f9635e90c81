"""Object metadata, writes, patches and errors of the API emulator, through the kubernetes client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import kubernetes
import pytest
from kubernetes.client import ApiException, CoreV1Api

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p1", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "main", "image": "python:3.11", "command": ["sleep", "1"]}]},
}


def test_handle_serves_and_writes_a_kubeconfig(kube):
    assert kube.url.startswith("http://127.0.0.1:")
    assert kube.url in kube.kubeconfig.read_text()
    with urllib.request.urlopen(f"{kube.url}/version") as response:
        assert json.load(response)["major"] == "1"


def test_created_objects_get_uid_resource_version_timestamp_and_generation(api_client):
    core = CoreV1Api(api_client)
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    second = core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    assert first.metadata.uid and first.metadata.uid != second.metadata.uid
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert first.metadata.creation_timestamp is not None
    assert first.metadata.generation == 1
    listing = core.list_namespaced_config_map("default")
    assert [cm.metadata.name for cm in listing.items] == ["a", "b"]
    assert int(listing.metadata.resource_version) >= int(second.metadata.resource_version)


def test_list_response_carries_kind_and_api_version(kube):
    with urllib.request.urlopen(f"{kube.url}/api/v1/namespaces/default/pods") as response:
        body = json.load(response)
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert body["metadata"]["resourceVersion"]


def test_create_conflict_is_409_already_exists(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert error.value.status == 409
    assert json.loads(error.value.body)["reason"] == "AlreadyExists"


def test_replace_with_stale_resource_version_is_409(api_client):
    core = CoreV1Api(api_client)
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "1"}})
    created.data = {"k": "2"}
    replaced = core.replace_namespaced_config_map("a", "default", created)
    assert replaced.data == {"k": "2"}
    created.data = {"k": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("a", "default", created)
    assert error.value.status == 409


def test_generation_bumps_on_spec_changes_only(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_pod("default", POD)
    labelled = core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    changed = core.patch_namespaced_pod("p1", "default", {"spec": {"activeDeadlineSeconds": 30}})
    assert changed.metadata.generation == 2


def test_strategic_merge_patch_merges_containers_by_name(api_client):
    core = CoreV1Api(api_client)
    pod = dict(POD, spec={"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]})
    core.create_namespaced_pod("default", pod)
    patched = core.patch_namespaced_pod(
        "p1", "default", {"spec": {"containers": [{"name": "b", "image": "z"}]}}
    )
    assert [(c.name, c.image) for c in patched.spec.containers] == [("a", "x"), ("b", "z")]


def test_json_patch_and_merge_patch(kube, api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "1", "j": "2"}})
    request = urllib.request.Request(
        f"{kube.url}/api/v1/namespaces/default/configmaps/a",
        method="PATCH",
        data=json.dumps(
            [{"op": "replace", "path": "/data/k", "value": "9"}, {"op": "remove", "path": "/data/j"}]
        ).encode(),
        headers={"Content-Type": "application/json-patch+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["data"] == {"k": "9"}
    request = urllib.request.Request(
        f"{kube.url}/api/v1/namespaces/default/configmaps/a",
        method="PATCH",
        data=json.dumps({"data": {"k": None, "n": "1"}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["data"] == {"n": "1"}


def test_namespaces_must_exist_and_can_be_created(api_client):
    core = CoreV1Api(api_client)
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("team", {"metadata": {"name": "a"}})
    assert error.value.status == 404
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "a"}})
    assert [cm.metadata.namespace for cm in core.list_config_map_for_all_namespaces().items] == ["team"]
    assert "team" in [ns.metadata.name for ns in core.list_namespace().items]


def test_invalid_pod_spec_is_refused_with_422(kube):
    bad = dict(
        POD, spec={"containers": [{"name": "main", "image": "x", "ports": [{"containerPort": "http"}]}]}
    )
    request = urllib.request.Request(
        f"{kube.url}/api/v1/namespaces/default/pods",
        method="POST",
        data=json.dumps(bad).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 422
    status = json.load(error.value)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    assert "spec.containers.0.ports.0.containerPort" in status["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/api/v1/namespaces/default/configmaps", b"{not json", 400),
        ("GET", "/api/v1/namespaces/default/widgets", None, 404),
        ("GET", "/apis/nowhere.example.com/v1", None, 404),
        ("POST", "/api/v1/namespaces/default/configmaps/a", b"{}", 405),
        ("GET", "/api/v1/namespaces/default/configmaps?labelSelector=a+in+(", None, 400),
    ],
)
def test_bad_requests_get_kubernetes_status_errors(kube, method, path, body, code):
    request = urllib.request.Request(
        f"{kube.url}{path}", method=method, data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == code
    status = json.load(error.value)
    assert (status["kind"], status["code"]) == ("Status", code)
    with urllib.request.urlopen(f"{kube.url}/api/v1/namespaces") as response:  # still serving
        assert response.status == 200


def test_events_in_both_api_groups(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"},
            "reason": "Started",
            "message": "hello",
            "type": "Normal",
        },
    )
    events = kubernetes.client.EventsV1Api(api_client)
    events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e2"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "ember",
            "reportingInstance": "x",
            "action": "Run",
            "reason": "Started",
            "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p1", "namespace": "default"},
        },
    )
    assert [e.reason for e in core.list_namespaced_event("default").items] == ["Started"]
    assert [e.metadata.name for e in events.list_namespaced_event("default").items] == ["e2"]


def test_dry_run_writes_are_answered_but_not_stored(api_client):
    core = CoreV1Api(api_client)
    answer = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}, dry_run="All")
    assert answer.metadata.name == "a"
    assert core.list_namespaced_config_map("default").items == []
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"k": "1"}})
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "2"}}, dry_run="All")
    core.delete_namespaced_config_map("a", "default", dry_run="All")
    assert core.read_namespaced_config_map("a", "default").data == {"k": "1"}


def test_kmock_reactions_inject_failures_before_the_store_answers(kube, api_client):
    core = CoreV1Api(api_client)
    kube.emulator["post /api/v1/namespaces/default/configmaps"][:1] << 503
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert error.value.status == 503
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})  # the reaction is used up
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items] == ["a"]
