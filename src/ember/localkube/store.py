"""The emulator's object store: the API server's write semantics, kept free of HTTP.

Everything here is synchronous and runs on the emulator's event loop, so each operation is atomic
with respect to the others; watchers get their events through ``asyncio.Queue`` objects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import datetime
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kmock import KubernetesError

from ember.localkube import patching, validation
from ember.localkube.resources import Catalogue, ResourceType

Obj = dict[str, Any]
ObjKey = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name
HISTORY_LIMIT = 20_000
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_error(code: int, reason: str, message: str, **details: Any) -> KubernetesError:
    """A Kubernetes ``Status`` failure; kmock renders it as the response body."""
    return KubernetesError(status=code, reason=reason, message=message, details=details or {"causes": []})


def not_found(rt: ResourceType, name: str) -> KubernetesError:
    return api_error(
        404,
        "NotFound",
        f'{rt.plural}{"." + rt.group if rt.group else ""} "{name}" not found',
        name=name,
        group=rt.group,
        kind=rt.plural,
    )


def invalid(rt: ResourceType, name: str, problems: list[validation.Problem]) -> KubernetesError:
    causes = [
        {"reason": "FieldValueInvalid", "message": message, "field": path} for path, message in problems
    ]
    text = ", ".join(f"{path}: {message}" for path, message in problems)
    return api_error(
        422,
        "Invalid",
        f'{rt.kind}{"." + rt.group if rt.group else ""} "{name}" is invalid: {text}',
        name=name,
        group=rt.group,
        kind=rt.kind,
        causes=causes,
    )


def _runs_on_a_kubelet(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return False
    return bool((pod.get("spec") or {}).get("nodeName")) or phase == "Running"


def _body_without_meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass
class Watcher:
    group: str
    plural: str
    namespace: str | None
    matches: Callable[[Mapping[str, Any]], bool]
    queue: asyncio.Queue[tuple[str, Obj]]


class Store:
    """Objects of every resource, with uid, resourceVersion, generation, finalizers and GC."""

    def __init__(self, catalogue: Catalogue, *, validate_builtins: bool = True) -> None:
        self.catalogue = catalogue
        self.validate_builtins = validate_builtins
        self._objects: dict[ObjKey, Obj] = {}
        self._counter = itertools.count(1)
        self._last_rv = 0
        self._history: collections.deque[tuple[int, str, str, str, Obj, Obj | None]] = collections.deque(
            maxlen=HISTORY_LIMIT
        )
        self._watchers: list[Watcher] = []
        self._dry_run = False
        for name in INITIAL_NAMESPACES:
            namespaces = catalogue.get("", "v1", "namespaces")
            assert namespaces is not None
            self.create(namespaces, None, {"metadata": {"name": name}})

    @contextlib.contextmanager
    def dry_run(self, enabled: bool = True) -> Iterator[None]:
        """Within this block, writes are checked and answered but not stored (``?dryRun=All``)."""
        self._dry_run = enabled
        try:
            yield
        finally:
            self._dry_run = False

    # -- reading ---------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._last_rv)

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> ObjKey:
        return (rt.group, rt.plural, (namespace or "") if rt.namespaced else "", name)

    def _present(self, rt: ResourceType, obj: Obj) -> Obj:
        result = copy.deepcopy(obj)
        result["apiVersion"] = rt.api_version
        result["kind"] = rt.kind
        return result

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get(self._key(rt, namespace, name))
        if obj is None:
            raise not_found(rt, name)
        return self._present(rt, obj)

    def list(
        self, rt: ResourceType, namespace: str | None, matches: Callable[[Mapping[str, Any]], bool]
    ) -> list[Obj]:
        items = []
        for (group, plural, ns, _), obj in sorted(self._objects.items()):
            if (
                (group, plural) == (rt.group, rt.plural)
                and (not namespace or ns == namespace)
                and matches(obj)
            ):
                items.append(self._present(rt, obj))
        return items

    def objects(self) -> list[Obj]:
        """Every stored object (copies), for assertions in tests."""
        return [copy.deepcopy(obj) for obj in self._objects.values()]

    # -- watching --------------------------------------------------------------------------------

    def subscribe(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Callable[[Mapping[str, Any]], bool],
        *,
        since: int | None,
    ) -> tuple[Watcher, list[tuple[str, Obj]]]:
        """Register a watcher; also return the events it must see first.

        ``since=None`` replays the current objects as ADDED; otherwise the recorded events after
        that resourceVersion are replayed (410 Gone if they are no longer recorded).
        """
        watcher = Watcher(rt.group, rt.plural, namespace, matches, asyncio.Queue())
        if since is None:
            backlog = [("ADDED", obj) for obj in self.list(rt, namespace, matches)]
        else:
            if self._history and since < self._history[0][0] - 1 and since < self._last_rv:
                raise api_error(410, "Expired", f"too old resource version: {since}")
            backlog = []
            for rv, group, plural, kind, obj, previous in self._history:
                seen = self._seen_as(watcher, group, plural, kind, obj, previous) if rv > since else None
                if seen is not None:
                    backlog.append((seen, self._present(rt, obj)))
        self._watchers.append(watcher)
        return watcher, backlog

    def unsubscribe(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _watched_by(self, watcher: Watcher, group: str, plural: str, obj: Obj) -> bool:
        if (group, plural) != (watcher.group, watcher.plural):
            return False
        if watcher.namespace and obj.get("metadata", {}).get("namespace") != watcher.namespace:
            return False
        return watcher.matches(obj)

    def _seen_as(
        self, watcher: Watcher, group: str, plural: str, kind: str, obj: Obj, previous: Obj | None
    ) -> str | None:
        """The event type a watcher gets: objects entering its selection are ADDED, leaving are DELETED."""
        now = self._watched_by(watcher, group, plural, obj)
        if kind != "MODIFIED" or previous is None:
            return kind if now else None
        before = self._watched_by(watcher, group, plural, previous)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def _emit(self, rt: ResourceType, kind: str, obj: Obj, previous: Obj | None = None) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        snapshot = copy.deepcopy(obj)
        self._history.append((rv, rt.group, rt.plural, kind, snapshot, previous))
        for watcher in self._watchers:
            seen = self._seen_as(watcher, rt.group, rt.plural, kind, snapshot, previous)
            if seen is not None:
                watcher.queue.put_nowait((seen, self._present(rt, snapshot)))
        if rt.key == ("apiextensions.k8s.io", "v1", "customresourcedefinitions"):
            if kind == "DELETED":
                self._drop_custom_objects(obj)
                self.catalogue.remove_crd(obj["metadata"]["name"])
            else:
                self.catalogue.add_crd(obj)

    def _drop_custom_objects(self, crd: Obj) -> None:
        """Deleting a CRD deletes all objects of its resource, as the API server does."""
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        for key in [key for key in self._objects if key[:2] == (group, plural)]:
            obj = self._objects.pop(key)
            rt = self._type_of(key, obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            if rt is not None:
                self._emit(rt, "DELETED", obj)

    def _next_rv(self) -> str:
        self._last_rv = next(self._counter)
        return str(self._last_rv)

    # -- writing ---------------------------------------------------------------------------------

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        name = obj.get("metadata", {}).get("name", "")
        if rt.builtin:
            if self.validate_builtins:
                problems = validation.validate_builtin(self._present(rt, obj))
            else:
                problems = []
        else:
            validation.prune_custom(obj, rt.schema)
            problems = validation.validate_custom(obj, rt.schema)
        if problems:
            raise invalid(rt, name, problems)

    def create(self, rt: ResourceType, namespace: str | None, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise api_error(400, "BadRequest", "the request body must be a JSON or YAML object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise api_error(400, "BadRequest", "metadata must be an object")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise invalid(rt, "", [("metadata.name", "Required value: name or generateName is required")])
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise api_error(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            namespace = namespace or body_ns or "default"
            namespaces = self.catalogue.get("", "v1", "namespaces")
            assert namespaces is not None
            if self._key(namespaces, None, namespace) not in self._objects:
                raise not_found(namespaces, namespace)
            if self._objects[self._key(namespaces, None, namespace)]["metadata"].get("deletionTimestamp"):
                raise api_error(
                    403,
                    "Forbidden",
                    f"unable to create new content in namespace {namespace} because it is being terminated",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        key = self._key(rt, namespace, name)
        if key in self._objects:
            raise api_error(
                409,
                "AlreadyExists",
                f'{rt.plural}{"." + rt.group if rt.group else ""} "{name}" already exists',
                name=name,
                group=rt.group,
                kind=rt.plural,
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        self._validate(rt, obj)
        if rt.status_subresource:
            obj.pop("status", None)
        if rt.plural == "pods" and rt.group == "":
            obj["status"] = {"phase": "Pending"}
        if rt.plural == "namespaces" and rt.group == "":
            obj["status"] = {"phase": "Active"}
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if self._dry_run:
            return self._present(rt, obj)
        meta["resourceVersion"] = self._next_rv()
        self._objects[key] = obj
        self._emit(rt, "ADDED", obj)
        return self._present(rt, obj)

    def replace(
        self, rt: ResourceType, namespace: str | None, name: str, body: Any, *, subresource: str | None = None
    ) -> Obj:
        if not isinstance(body, dict):
            raise api_error(400, "BadRequest", "the request body must be a JSON or YAML object")
        current = self._objects.get(self._key(rt, namespace, name))
        if current is None:
            raise not_found(rt, name)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise api_error(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.plural} "{name}": the object '
                "has been modified; please apply your changes to the latest version "
                "and try again",
                name=name,
                group=rt.group,
                kind=rt.plural,
            )
        return self._write(rt, current, copy.deepcopy(body), subresource=subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
    ) -> Obj:
        current = self._objects.get(self._key(rt, namespace, name))
        if current is None:
            raise not_found(rt, name)
        if "strategic-merge-patch" in content_type and not rt.builtin:
            raise api_error(
                415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
            )
        if "json-patch" not in content_type and not isinstance(patch, dict):
            raise api_error(400, "BadRequest", "a merge patch must be a JSON object")
        try:
            updated = patching.apply_patch(self._present(rt, current), patch, content_type)
        except patching.PatchError as error:
            raise api_error(422, "Invalid", str(error)) from None
        return self._write(rt, current, updated, subresource=subresource)

    def _write(self, rt: ResourceType, current: Obj, new: Obj, *, subresource: str | None) -> Obj:
        old_meta = current["metadata"]
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            new = merged
        elif subresource:
            raise api_error(
                404,
                "NotFound",
                f"the server could not find the requested resource ({rt.plural}/{subresource})",
            )
        elif rt.status_subresource:
            new["status"] = copy.deepcopy(current.get("status"))
            if new["status"] is None:
                new.pop("status")
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise api_error(400, "BadRequest", "the name of the object does not match the name on the URL")
        for field in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if subresource != "status":
            self._validate(rt, new)
        elif not rt.builtin:
            validation.prune_custom(new, rt.schema)
        if _body_without_meta(new) != _body_without_meta(current):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise api_error(
                    422, "Invalid", "no new finalizers can be added if the object is being deleted"
                )
        if new == current:
            return self._present(rt, current)
        if self._dry_run:
            return self._present(rt, new)
        meta["resourceVersion"] = self._next_rv()
        key = self._key(rt, meta.get("namespace"), meta["name"])
        self._objects[key] = new
        self._emit(rt, "MODIFIED", new, previous=current)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            self._remove(rt, key)
        return self._present(rt, new)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        grace_seconds: int | None = None,
    ) -> Obj:
        """Delete an object, or mark it for deletion while finalizers or a pod's grace period hold it.

        A pod that a kubelet runs (bound to a node or Running) is kept with ``deletionTimestamp`` and
        ``deletionGracePeriodSeconds`` until the kubelet confirms with a grace period of 0, as the
        real API server does; other pods go at once.
        """
        key = self._key(rt, namespace, name)
        obj = self._objects.get(key)
        if obj is None:
            raise not_found(rt, name)
        meta = obj["metadata"]
        if self._dry_run:
            return self._present(rt, obj)
        grace = 0
        if rt.key == ("", "v1", "pods") and _runs_on_a_kubelet(obj):
            spec_grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            grace = max(0, int(spec_grace if grace_seconds is None else grace_seconds))
        if meta.get("finalizers") or grace > 0:
            pending = meta.get("deletionGracePeriodSeconds")
            if not meta.get("deletionTimestamp") or (pending and grace < pending):
                meta.setdefault("deletionTimestamp", now_iso())
                meta["deletionGracePeriodSeconds"] = grace
                meta["resourceVersion"] = self._next_rv()
                self._emit(rt, "MODIFIED", obj)
                if grace == 0 and not meta.get("finalizers"):
                    return self._remove(rt, key, orphan=propagation == "Orphan")
            return self._present(rt, obj)
        return self._remove(rt, key, orphan=propagation == "Orphan")

    def _remove(self, rt: ResourceType, key: ObjKey, *, orphan: bool = False) -> Obj:
        obj = self._objects.pop(key)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(rt, "DELETED", obj)
        if not orphan:
            self._collect_dependents(obj)
        if rt.key == ("", "v1", "namespaces"):
            self._empty_namespace(obj["metadata"]["name"])
        return self._present(rt, obj)

    def _type_of(self, key: ObjKey, obj: Obj) -> ResourceType | None:
        group, plural = key[0], key[1]
        version = obj.get("apiVersion", "v1").rsplit("/", 1)[-1]
        rt = self.catalogue.get(group, version, plural)
        if rt is None:
            rt = next((t for t in self.catalogue.all() if (t.group, t.plural) == (group, plural)), None)
        return rt

    def _collect_dependents(self, owner: Obj) -> None:
        """Delete, transitively, every object whose ownerReferences name the deleted owner's uid."""
        uid = owner["metadata"]["uid"]
        for key, obj in list(self._objects.items()):
            references = obj["metadata"].get("ownerReferences") or []
            if key in self._objects and any(ref.get("uid") == uid for ref in references):
                rt = self._type_of(key, obj)
                if rt is not None:
                    self.delete(rt, key[2] or None, key[3])

    def _empty_namespace(self, namespace: str) -> None:
        for key, obj in list(self._objects.items()):
            if key[2] == namespace and key in self._objects:
                rt = self._type_of(key, obj)
                if rt is not None and rt.namespaced:
                    self.delete(rt, namespace, key[3])
