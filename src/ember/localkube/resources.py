"""The resource catalogue of the emulator: built-in kinds plus those that CRDs add at runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    # The CRD's schema and printer columns; None for built-ins.
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    builtin: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    def discovery_entries(self) -> list[dict[str, Any]]:
        entry = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": VERBS,
            "shortNames": list(self.short_names),
        }
        entries = [entry]
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if self.plural == "pods":
            entries.append(
                {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}
            )
        return entries


BUILTINS = [
    ResourceType(
        "", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",), status_subresource=True
    ),
    ResourceType("", "v1", "pods", "Pod", short_names=("po",), status_subresource=True),
    ResourceType("", "v1", "services", "Service", short_names=("svc",), status_subresource=True),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType("", "v1", "events", "Event", short_names=("ev",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        short_names=("pvc",),
        status_subresource=True,
    ),
    ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status_subresource=True),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        status_subresource=True,
    ),
]


class Catalogue:
    """All resource types the emulator serves, looked up by (group, version, plural)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {rt.key: rt for rt in BUILTINS}
        # Which CRD (by name) added which resource types, so deleting the CRD removes them.
        self._by_crd: dict[str, list[tuple[str, str, str]]] = {}

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Map each non-core group to its versions, the preferred (first registered) one first."""
        result: dict[str, list[str]] = {}
        for rt in self._types.values():
            if rt.group:
                versions = result.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        return result

    def add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        self.remove_crd(crd["metadata"]["name"])
        keys = []
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            rt = ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                builtin=False,
            )
            self._types[rt.key] = rt
            keys.append(rt.key)
        self._by_crd[crd["metadata"]["name"]] = keys

    def remove_crd(self, name: str) -> None:
        for key in self._by_crd.pop(name, []):
            self._types.pop(key, None)
