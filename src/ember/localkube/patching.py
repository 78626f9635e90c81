"""Patch algorithms: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

The strategic merge patch here covers what clients of the built-in resources rely on: lists of
named items (containers, env, ports, volumes, ...) are merged by their merge key instead of being
replaced, and ``$patch: delete`` / ``$patch: replace`` directives are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

# The merge key of the lists that the built-in resources merge item by item.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "ownerReferences": "uid",
    "tolerations": "key",
}
# Lists of scalars merged as sets.
SET_LISTS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied; the API server answers 422 (or 400 for malformed ones)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: dicts merge recursively, ``null`` deletes, others replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key_for(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if key == "containerPort" and items and isinstance(items[0], dict) and "containerPort" not in items[0]:
        key = "port"  # service ports merge by port
    return key


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Apply a strategic merge patch with the merge keys of the built-in resources."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            elif isinstance(value, list):
                result[key] = _strategic_list(result.get(key), value, key)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, key)
        return result
    return copy.deepcopy(patch)


def _strategic_list(target: Any, patch: list[Any], field: str) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in SET_LISTS:
        return current + [item for item in patch if item not in current]
    key = _merge_key_for(field, patch or current)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        directive = item.get("$patch")
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if directive == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item, field)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        msg = f"invalid JSON pointer: {path!r}"
        raise PatchError(msg)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            msg = f"path not found: /{'/'.join(parts)}"
            raise PatchError(msg) from None
    return node


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        msg = "a JSON patch must be a list of operations"
        raise PatchError(msg)
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            msg = f"invalid JSON patch operation: {op!r}"
            raise PatchError(msg)
        kind = op["op"]
        parts = _pointer(op["path"])
        if kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _get(doc, source)
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, copy.deepcopy(value))
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                msg = f"test failed at {op['path']}"
                raise PatchError(msg)
        else:
            msg = f"unknown JSON patch operation: {kind!r}"
            raise PatchError(msg)
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        msg = f"path not found: /{'/'.join(parts)}"
        raise PatchError(msg) from None


def _add(doc: Any, parts: list[str], value: Any, *, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        msg = f"cannot add at /{'/'.join(parts)}"
        raise PatchError(msg)
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    _get(doc, parts)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        parent.pop(int(parts[-1]))
    else:
        del parent[parts[-1]]
    return doc


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply ``patch`` to ``target`` by the algorithm named in the request's Content-Type."""
    if "json-patch" in content_type:
        result = json_patch(target, patch)
    elif "strategic-merge-patch" in content_type:
        result = strategic_merge_patch(target, patch)
    else:
        result = merge_patch(target, patch)
    if not isinstance(result, dict):
        msg = "the patched object is not an object"
        raise PatchError(msg)
    return result
