"""The process kubelet's pure parts: quantities, env resolution, path rewriting, pod status."""

from __future__ import annotations

from typing import Any

import pytest

from ember.localkube import podspec
from ember.localkube.cgroups import parse_quantity

POD: dict[str, Any] = {
    "metadata": {"name": "p1", "namespace": "ns1", "uid": "u-1", "labels": {"app": "demo"}},
    "spec": {"serviceAccountName": "spark", "containers": [{"name": "main", "image": "img:1"}]},
}


@pytest.mark.parametrize(("text", "expected"), [
    ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("500M", 500_000_000), ("1.5Gi", 3 * 2**29),
    ("128974848", 128974848), ("129e6", 129_000_000), ("100k", 100_000), ("1500m", 2), (64, 64),
])
def test_parse_quantity_reads_kubernetes_suffixes(text: str, expected: int) -> None:
    assert parse_quantity(text) == expected


def test_parse_quantity_rejects_garbage_with_a_hint() -> None:
    with pytest.raises(ValueError, match="invalid Kubernetes quantity 'lots'"):
        parse_quantity("lots")


def _lookup(values: dict[tuple[str, str, str], str]) -> podspec.KeyLookup:
    return lambda namespace, name, key: values.get((namespace, name, key))


def test_resolve_env_supports_literals_downward_api_and_key_refs() -> None:
    container = {"env": [
        {"name": "A", "value": "x"},
        {"name": "B", "value": "$(A)-y-$$(A)-$(MISSING)"},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "k"}}},
        {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
        {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope", "optional": True}}},
    ]}
    env = podspec.resolve_env(
        POD, container, pod_ip="127.0.0.1", host_ip="127.0.0.1", node_name="local",
        config_map_key=_lookup({("ns1", "conf", "k"): "cm-value"}),
        secret_key=_lookup({("ns1", "s", "password"): "hunter2"}),
    )
    assert env == {
        "A": "x", "B": "x-y-$(A)-$(MISSING)", "NAME": "p1", "NS": "ns1", "UID": "u-1", "APP": "demo",
        "IP": "127.0.0.1", "NODE": "local", "SA": "spark", "CM": "cm-value", "SEC": "hunter2",
    }


def test_resolve_env_refuses_a_missing_required_key() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "k"}}}]}
    with pytest.raises(podspec.ContainerConfigError, match="configMapKeyRef 'conf' has no key 'k'"):
        podspec.resolve_env(
            POD, container, pod_ip="", host_ip="", node_name="",
            config_map_key=_lookup({}), secret_key=_lookup({}),
        )


def test_command_line_expands_env_and_rewrites_mount_paths() -> None:
    mounts = [podspec.Mount(name="conf", mount_path="/etc/conf", local_path="/tmp/pod/conf")]
    container = {
        "command": ["run", "--file=/etc/conf/app.yaml"], "args": ["$(WHO)", "/etc/config", "/etc/conf"],
    }
    argv = podspec.command_line(container, {"WHO": "me"}, mounts)
    assert argv == ["run", "--file=/tmp/pod/conf/app.yaml", "me", "/etc/config", "/tmp/pod/conf"]
    assert mounts[0].env_name == "EMBER_MOUNT_CONF"


def test_command_line_requires_a_command() -> None:
    with pytest.raises(podspec.ContainerConfigError, match="no command"):
        podspec.command_line({"image": "x"}, {}, [])


@pytest.mark.parametrize(("returncode", "oom", "phase", "exit_code", "reason"), [
    (0, False, "Succeeded", 0, "Completed"),
    (3, False, "Failed", 3, "Error"),
    (-9, True, "Failed", 137, "OOMKilled"),
    (-15, False, "Failed", 143, "Error"),
])
def test_terminated_status_phase_exit_code_and_reason(
    returncode: int, oom: bool, phase: str, exit_code: int, reason: str,
) -> None:
    status = podspec.terminated_status(
        POD, exit_code=podspec.exit_code_of(returncode), oom_killed=oom, started_at="t0", finished_at="t1",
        pod_ip="127.0.0.1", host_ip="127.0.0.1",
    )
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (status["phase"], terminated["exitCode"], terminated["reason"]) == (phase, exit_code, reason)
    assert terminated["finishedAt"] == "t1"


def test_running_status_reports_ip_start_time_and_ready_conditions() -> None:
    status = podspec.running_status(POD, now="t1", started_at="t0", pod_ip="127.0.0.1", host_ip="127.0.0.1")
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.0.0.1" and status["startTime"] == "t0"
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": "t0"}}
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"


def test_cannot_run_status_is_failed_with_the_message() -> None:
    status = podspec.cannot_run_status(
        POD, now="t", host_ip="127.0.0.1", exit_code=127, reason="ContainerCannotRun", message="not found",
    )
    assert status["phase"] == "Failed" and status["message"] == "not found"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "ContainerCannotRun"


def test_rewritten_paths_are_not_rewritten_again() -> None:
    mounts = [podspec.Mount("tmp", "/tmp", "/tmp/sandbox/volumes/tmp"),
              podspec.Mount("conf", "/etc/ember/conf", "/tmp/sandbox/volumes/conf")]
    assert podspec.rewrite_paths("/etc/ember/conf/spark.properties", mounts) == \
        "/tmp/sandbox/volumes/conf/spark.properties"
    assert podspec.rewrite_paths("--dir=/tmp/out /srv/tmp/x /tmpfile", mounts) == \
        "--dir=/tmp/sandbox/volumes/tmp/out /srv/tmp/x /tmpfile"


@pytest.mark.parametrize(("container", "written", "exit_code", "expected"), [
    ({}, b"ValueError: bad\n", 1, "ValueError: bad"),
    ({}, b"", 1, ""),
    ({"terminationMessagePolicy": "FallbackToLogsOnError"}, b"", 3, "line 2\nline 3"),
    ({"terminationMessagePolicy": "FallbackToLogsOnError"}, b"", 0, ""),
    ({"terminationMessagePolicy": "FallbackToLogsOnError"}, b"written", 3, "written"),
])
def test_termination_message_follows_the_policy(container: dict[str, Any], written: bytes,
                                                exit_code: int, expected: str) -> None:
    message = podspec.termination_message(container, written=written, exit_code=exit_code,
                                          log_tail=b"line 1\nline 2\nline 3\n"[-14:])
    assert message == expected
