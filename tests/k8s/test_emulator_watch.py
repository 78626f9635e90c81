"""Selectors, watches, status isolation, garbage collection, finalizers and pod logs."""

from __future__ import annotations

import time
import urllib.request

import pytest
from kubernetes import watch
from kubernetes.client import CoreV1Api

from ember.localkube import selectors


def _pod(name: str, labels: dict[str, str] | None = None, **meta: object) -> dict[str, object]:
    return {
        "metadata": {"name": name, "labels": labels or {}, **meta},
        "spec": {"containers": [{"name": "main", "image": "python:3.11"}]},
    }


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web,tier=front", ["a"]),
        ("app!=web", ["c", "d"]),
        ("tier in (front,back)", ["a", "b", "c"]),
        ("tier notin (front)", ["b", "c", "d"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d"]),
    ],
)
def test_label_selectors_on_list(api_client, selector, expected):
    core = CoreV1Api(api_client)
    for name, labels in [
        ("a", {"app": "web", "tier": "front"}),
        ("b", {"app": "web", "tier": "back"}),
        ("c", {"app": "db", "tier": "back"}),
        ("d", {}),
    ]:
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})
    found = core.list_namespaced_config_map("default", label_selector=selector)
    assert [cm.metadata.name for cm in found.items] == expected


def test_field_selectors_on_name_namespace_and_phase(kube, api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_pod("default", _pod("p1"))
    core.create_namespaced_pod("default", _pod("p2"))
    core.patch_namespaced_pod_status("p2", "default", {"status": {"phase": "Running"}})
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod("default", field_selector="status.phase=Running").items
    ] == ["p2"]
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(
            field_selector="metadata.name=p1,metadata.namespace=default"
        ).items
    ] == ["p1"]
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod("default", field_selector="status.phase!=Running").items
    ] == ["p1"]


def test_selector_parser_rejects_garbage():
    with pytest.raises(selectors.SelectorError):
        selectors.parse_label_selector("a in (")
    with pytest.raises(selectors.SelectorError):
        selectors.parse_field_selector("spec.whatever=1")


def test_watch_from_resource_version_sends_only_later_events_and_times_out(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "old", "labels": {"w": "1"}}})
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "new", "labels": {"w": "1"}}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    core.patch_namespaced_config_map("new", "default", {"data": {"k": "v"}})
    started = time.monotonic()
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=since,
            label_selector="w=1",
            timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "new"), ("MODIFIED", "new")]
    assert time.monotonic() - started < 5


def test_watch_without_resource_version_starts_with_existing_objects(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    ]
    assert events == [("ADDED", "a")]


def test_status_subresource_is_isolated_for_pods(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_pod("default", _pod("p1"))
    patched = core.patch_namespaced_pod("p1", "default", {"status": {"phase": "Running"}})
    assert patched.status.phase == "Pending"
    status = core.patch_namespaced_pod_status(
        "p1", "default", {"status": {"phase": "Running"}, "metadata": {"labels": {"x": "y"}}}
    )
    assert status.status.phase == "Running"
    assert not status.metadata.labels.get("x")


def test_deleting_an_owner_cascades_transitively(api_client):
    core = CoreV1Api(api_client)
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})

    def ref(obj):
        return [{"apiVersion": "v1", "kind": "ConfigMap", "name": obj.metadata.name, "uid": obj.metadata.uid}]

    child = core.create_namespaced_pod("default", _pod("child", ownerReferences=ref(owner)))
    core.create_namespaced_secret(
        "default",
        {
            "metadata": {
                "name": "grandchild",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Pod", "name": "child", "uid": child.metadata.uid}
                ],
            }
        },
    )
    core.create_namespaced_config_map("default", {"metadata": {"name": "bystander"}})
    core.delete_namespaced_config_map("owner", "default")
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == []
    assert [s.metadata.name for s in core.list_namespaced_secret("default").items] == []
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["bystander"]


def test_finalizers_hold_deletion_until_removed(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "a", "finalizers": ["ember/x"]}})
    core.delete_namespaced_config_map("a", "default")
    held = core.read_namespaced_config_map("a", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("a", "default", {"metadata": {"finalizers": None}})
    assert core.list_namespaced_config_map("default").items == []


def test_pod_logs_come_from_the_log_source_with_tail_and_follow(kube, api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_pod("default", _pod("p1"))
    logs = {"text": "one\ntwo\nthree\n"}
    kube.set_log_source(lambda namespace, pod, container: logs["text"] if pod == "p1" else "")
    assert core.read_namespaced_pod_log("p1", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("p1", "default", tail_lines=1) == "three\n"

    def finish() -> None:
        logs["text"] += "four\n"
        core.patch_namespaced_pod_status("p1", "default", {"status": {"phase": "Succeeded"}})

    import threading

    threading.Timer(0.3, finish).start()
    url = f"{kube.url}/api/v1/namespaces/default/pods/p1/log?follow=true&tailLines=1"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().decode() == "three\nfour\n"


def test_a_running_pod_waits_for_the_kubelet_to_confirm_deletion(api_client):
    core = CoreV1Api(api_client)
    core.create_namespaced_pod("default", _pod("bound"))
    core.create_namespaced_pod("default", _pod("unbound"))
    core.patch_namespaced_pod_status("bound", "default", {"status": {"phase": "Running"}})
    core.delete_namespaced_pod("unbound", "default")
    core.delete_namespaced_pod("bound", "default", grace_period_seconds=5)
    held = core.read_namespaced_pod("bound", "default")
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 5
    core.patch_namespaced_pod_status("bound", "default", {"status": {"phase": "Succeeded"}})  # still held
    core.delete_namespaced_pod("bound", "default", grace_period_seconds=0)
    assert core.list_namespaced_pod("default").items == []


def test_a_labelled_watch_sees_objects_enter_and_leave_its_selection(api_client):
    core = CoreV1Api(api_client)
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"w": "1"}}})
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"w": None}}})
    events = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=since,
            label_selector="w=1",
            timeout_seconds=1,
        )
    ]
    assert events == ["ADDED", "MODIFIED", "DELETED"]


def test_orphan_propagation_keeps_dependents_and_namespace_deletion_empties_it(api_client):
    core = CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "team"}})
    owner = core.create_namespaced_config_map("team", {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_secret("team", {"metadata": {"name": "kept", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", "team", propagation_policy="Orphan")
    assert [s.metadata.name for s in core.list_namespaced_secret("team").items] == ["kept"]
    core.delete_namespace("team")
    assert core.list_secret_for_all_namespaces().items == []
    assert "team" not in [ns.metadata.name for ns in core.list_namespace().items]
